"""The curve points as CSV (``--format csv``): one row per codec configuration and setting, for spreadsheets.

Columns: curve label, codec, device, reference, lossless, setting, spec, ok and total images, bpp, each metric of
the report's tables, MS-SSIM in dB, and encode/decode ms per image; an empty cell where the markdown report prints
"—". Reference curves (from ``--reference``) are rows too, marked ``reference`` true.

The RD analysis goes into extra files beside it, one table each, written only when the report has it:
``<dataset>.bd-confidence.csv`` (the BD-rates against the first measured anchor with their intervals),
``<dataset>.equal-rate.csv`` (every equal-rate table, one row per target, device and codec) and
``<dataset>.references.csv`` (each reference curve's description and provenance). They flatten the report's
JSON data (:mod:`codecbench.render.analysis_json`): an interval ``x`` becomes columns ``x``, ``x_low``,
``x_high``, ``x_n``. The manual: ``docs/reports.md``.
"""

from __future__ import annotations

import csv
import io

from typing import Any, Iterable, Mapping, Sequence

from codecbench.analysis.compressai_json import PROVENANCE_KEYS
from codecbench.render.analysis_json import analysis_dict
from codecbench.render.formats import RENDERERS, Renderer
from codecbench.render.markdown import shown_metrics
from codecbench.render.report_data import DatasetReport
from codecbench.render.report_json import report_dict

FIXED_COLUMNS = ("label", "codec", "device", "reference", "lossless", "setting", "spec", "n_ok", "n_total", "bpp")
#: the table columns each equal-rate row starts with (``anchor``: the label the table compares with), by the
#: key of the table's JSON data they hold
EQUAL_RATE_TABLE = {"device": "device", "target": "target", "target_metric": "target_metric",
                    "target_value": "target_value", "outcome_metric": "outcome", "diff_unit": "diff_unit",
                    "anchor": "anchor"}
#: the parts of an interval (:func:`codecbench.render.analysis_json.estimate_dict`), each a column
INTERVAL = ("value", "low", "high", "n")
#: the keys of the analysis rows that hold an interval (or None)
INTERVAL_KEYS = ("of_means", "per_image", "outcome", "diff")


class CsvRenderer(Renderer):
    name = "csv"
    suffix = ".csv"
    description = "one row per codec configuration and setting (dataset means), for spreadsheets"

    def render(self, report: DatasetReport) -> str:
        data = report_dict(report)
        lossy = [c for c in report.curves if not c.lossless]
        metrics = [m.name for m in shown_metrics(lossy)] + ["ms_ssim_db", "enc_ms", "dec_ms"]
        rows = ({**curve, **point} for curve in data["curves"] for point in curve["points"])
        return _csv([*FIXED_COLUMNS, *metrics], rows)

    def extra_files(self, report: DatasetReport) -> dict[str, str]:
        """The RD analysis's tables (module docstring), each file only where the report has rows for it."""
        data = analysis_dict(report.analysis)
        files = {}
        if data["confidence"] is not None and data["confidence"]["rows"]:
            rows = [{"anchor": data["confidence"]["anchor"], **_flat(r)} for r in data["confidence"]["rows"]]
            files[".bd-confidence.csv"] = _csv(list(rows[0]), rows)
        rows = [{**{column: table[key] for column, key in EQUAL_RATE_TABLE.items()}, **_flat(r, drop=("anchor",))}
                for table in data["equal_rate"] for r in table["rows"]]
        if rows:
            files[".equal-rate.csv"] = _csv(list(rows[0]), rows)
        rows = [{"label": r["label"], "description": r["description"], "provenance": r["provenance"] is not None,
                 **(r["provenance"] or {})} for r in data["references"]]
        if rows:
            files[".references.csv"] = _csv(["label", "description", "provenance", *PROVENANCE_KEYS], rows)
        return files


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """``rows`` as CSV text under a header of ``columns`` (a missing value an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in columns])
    return out.getvalue()


def _flat(row: Mapping[str, Any], drop: Sequence[str] = ()) -> dict[str, Any]:
    """A row of the analysis data with each interval (a nested object, or None) spread over :data:`INTERVAL`
    columns: ``diff``, ``diff_low``, ``diff_high``, ``diff_n``; the keys of ``drop`` left out."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in drop:
            continue
        if isinstance(value, Mapping) or (value is None and key in INTERVAL_KEYS):
            out.update({key if part == "value" else f"{key}_{part}": (value or {}).get(part) for part in INTERVAL})
        else:
            out[key] = value
    return out


def _cell(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


RENDERERS.register(CsvRenderer())
