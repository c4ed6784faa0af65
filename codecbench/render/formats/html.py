"""The HTML report (``--format html``): one self-contained page per dataset that works opened from disk, offline.

The page is the template files of ``codecbench/render/templates/`` with the
report's data (:mod:`codecbench.render.report_json`, viewer pictures embedded
as data URLs) and plotly.js, inlined from the installed ``plotly`` package,
filled in: no server, no CDN. Its own JavaScript draws nothing by hand but the
viewer's canvases; the charts are plotly's. The page states its size and what
takes it.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any, Mapping

import plotly
from plotly.offline import get_plotlyjs

import codecbench
from codecbench.render.formats import RENDERERS, Renderer
from codecbench.render.report_data import DatasetReport
from codecbench.render.report_json import report_dict

TEMPLATES = "templates"
_SLOT = re.compile(r"@@([A-Z_]+)@@")


class HtmlRenderer(Renderer):
    name = "html"
    suffix = ".html"
    description = "one self-contained page: interactive curves, sortable tables, image viewer (opens offline)"

    def render(self, report: DatasetReport) -> str:
        return html_page(report_dict(report, embed_pictures=True))


def html_page(data: Mapping[str, Any]) -> str:
    """The page of one report's data (``report_dict`` with embedded pictures), its size note filled in."""
    plotly_js = _script(get_plotlyjs())
    slots = {
        "TITLE": html.escape(data["dataset"]),
        "VERSION": html.escape(codecbench.__version__),
        "CSS": _template("report.css"),
        "DATA": json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c"),
        "PLOTLY": plotly_js,
        "APP": _script(_template("viewer.js") + "\n" + _template("report.js")),
        "SIZE_NOTE": "",
    }
    size = len(_fill(slots).encode())
    for _ in range(2):  # the note's own length counts in the size it states
        slots["SIZE_NOTE"] = html.escape(size_note(size, len(plotly_js.encode()), data["pictures"]))
        size = len(_fill(slots).encode())
    return _fill(slots)


def size_note(total: int, plotly_bytes: int, pictures: Mapping[str, Any]) -> str:
    """One sentence: the page's size in MB, and how much of it is plotly.js and the viewer pictures."""
    count = len(pictures["decodes"]) + len(pictures["originals"])
    embedded = 4 * ((pictures["bytes"] + 2) // 3) if count else 0  # base64
    return (f"This file: {total / 1e6:.1f} MB, of which plotly.js {plotly_bytes / 1e6:.1f} MB (inlined from the "
            f"plotly {plotly.__version__} Python package) and {count} viewer pictures {embedded / 1e6:.1f} MB "
            f"(lossless files of {pictures['bytes'] / 1e6:.1f} MB, base64-encoded); the rest is the report's data "
            "and this page's own script.")


def _fill(slots: Mapping[str, str]) -> str:
    """The template with each ``@@NAME@@`` replaced in one pass (inserted text is never scanned again)."""
    return _SLOT.sub(lambda m: slots[m.group(1)], _template("report.html"))


def _template(name: str) -> str:
    return (resources.files("codecbench.render") / TEMPLATES / name).read_text(encoding="utf-8")


def _script(code: str) -> str:
    """``code`` safe inside a ``<script>`` element: a ``</script`` or ``<!--`` in it would end or confuse it."""
    return re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE).replace("<!--", "<\\!--")


RENDERERS.register(HtmlRenderer())
