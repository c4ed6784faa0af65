"""The curve points as CSV (``--format csv``): one row per codec configuration and setting, for spreadsheets.

Columns: curve label, codec, device, reference, lossless, setting, spec, ok and total images, bpp, each metric of
the report's tables, MS-SSIM in dB, and encode/decode ms per image; an empty cell where the markdown report prints
"—". Reference curves (from ``--reference``) are rows too, marked ``reference`` true.
"""

from __future__ import annotations

import csv
import io

from codecbench.render.formats import RENDERERS, Renderer
from codecbench.render.markdown import shown_metrics
from codecbench.render.report_data import DatasetReport
from codecbench.render.report_json import report_dict

FIXED_COLUMNS = ("label", "codec", "device", "reference", "lossless", "setting", "spec", "n_ok", "n_total", "bpp")


class CsvRenderer(Renderer):
    name = "csv"
    suffix = ".csv"
    description = "one row per codec configuration and setting (dataset means), for spreadsheets"

    def render(self, report: DatasetReport) -> str:
        data = report_dict(report)
        lossy = [c for c in report.curves if not c.lossless]
        metrics = [m.name for m in shown_metrics(lossy)] + ["ms_ssim_db", "enc_ms", "dec_ms"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*FIXED_COLUMNS, *metrics])
        for curve in data["curves"]:
            for point in curve["points"]:
                row = {**curve, **point}
                writer.writerow([_cell(row.get(key)) for key in (*FIXED_COLUMNS, *metrics)])
        return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


RENDERERS.register(CsvRenderer())
