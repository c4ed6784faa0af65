"""The report as JSON data (``--format json``, ``<dataset>.report.json``): :mod:`codecbench.render.report_json`.

Named ``.report.json`` so that it never takes the place of a results file (the pytest plugin writes
``<dataset>.json`` results beside its reports).
"""

from __future__ import annotations

import json

from codecbench.render.formats import RENDERERS, Renderer
from codecbench.render.report_data import DatasetReport
from codecbench.render.report_json import report_dict


class JsonRenderer(Renderer):
    name = "json"
    suffix = ".report.json"
    description = "every table, curve and per-image row as JSON data (viewer pictures by file path)"

    def render(self, report: DatasetReport) -> str:
        return json.dumps(report_dict(report), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


RENDERERS.register(JsonRenderer())
