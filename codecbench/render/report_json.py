"""One dataset's report as plain JSON data: what the JSON format writes and the HTML report embeds.

Numbers are raw (times in ms), None where the markdown report prints "—";
every curve carries its codec's colour (:func:`codecbench.render.plots.codec_colour`),
marker and line style, so every format draws a codec alike.
"""

from __future__ import annotations

import base64
from typing import Any, Sequence

from matplotlib.colors import to_hex

from codecbench.analysis import bdrate
from codecbench.analysis.curves import Curve, CurvePoint
from codecbench.core.metrics import METRICS
from codecbench.core.pictures import picture_data
from codecbench.core.results import Record
from codecbench.render.markdown import METRIC_CONVENTIONS, header_lines, shown_metrics
from codecbench.render.plots import codec_colour, curve_styles
from codecbench.render.analysis_json import analysis_dict, json_number as _num
from codecbench.render.rd import RDOptions
from codecbench.render.report_data import DatasetReport

FORMAT = "codecbench-report"
#: the schema version of the data (docs/reports.md): 2 added ``confidence``, ``equal_rate`` and ``references``
VERSION = 2
#: matplotlib marker (the PNG plots') -> plotly marker symbol
MARKERS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond", "v": "triangle-down", "P": "cross",
           "X": "x", "<": "triangle-left", ">": "triangle-right", "*": "star", "h": "hexagon", "p": "pentagon"}
TIMES = (("enc_ms", "encode time per image", "ms"), ("dec_ms", "decode time per image", "ms"))


def report_dict(report: DatasetReport, *, embed_pictures: bool = False) -> dict[str, Any]:
    """The data of ``report``: header, chart metrics, curves, summary, BD-rate and fixed-rate tables, BD-rates
    with their intervals, equal-rate tables, reference provenance (:mod:`codecbench.render.analysis_json`),
    per-image rows and viewer pictures (their files' paths, or with ``embed_pictures`` their bytes as data URLs)."""
    rd, analysis = report.rd, report.analysis
    section, anchors = (analysis.section, analysis.anchors) if analysis and analysis.section else (report.curves, [])
    labels = [label for _, label in anchors if label]
    base = bdrate.find_anchor(section, labels[0] if labels else bdrate.DEFAULT_ANCHOR)
    method = rd.method if rd is not None else bdrate.DEFAULT_METHOD
    return {
        "format": FORMAT, "version": VERSION, "dataset": report.dataset,
        "header": header_lines(report.dataset, report.records, report.meta),
        "conventions": METRIC_CONVENTIONS,
        "metrics": chart_metrics([c for c in section if not c.lossless]),
        "curves": [_curve(c, base, style) for c, style in zip(section, _styles(section))],
        "summary": [_summary(c, section, labels, rd or RDOptions()) for c in section if not c.lossless],
        "bd": [_bd_table(section, name, label, rd) for name, label in anchors] if rd is not None else [],
        "fixed": _fixed(section, method),
        **analysis_dict(analysis),
        "images": _image_rows(report.records, section),
        "pictures": _pictures(report, section, embed_pictures),
    }


def chart_metrics(lossy: Sequence[Curve]) -> list[dict[str, Any]]:
    """The y axes of the RD charts: every metric shown in the tables (MS-SSIM in dB), then the two times."""
    out = []
    for m in shown_metrics(lossy):
        if m.name == "ms_ssim":
            out.append({"key": "ms_ssim_db", "label": "MS-SSIM (dB)", "unit": "dB", "digits": 2, "log": False,
                        "note": "−10·log10(1 − MS-SSIM)"})
        else:
            out.append({"key": m.name, "label": m.label, "unit": m.unit, "digits": m.digits, "log": False})
    return out + [{"key": key, "label": label, "unit": unit, "digits": 2, "log": True, "timing": True}
                  for key, label, unit in TIMES]


def _styles(section: Sequence[Curve]) -> list[tuple[str, str]]:
    styles = curve_styles(section)
    return [(to_hex(codec_colour(c.codec)), MARKERS.get(styles[c.label][1], "circle")) for c in section]


def _curve(c: Curve, base: Curve | None, style: tuple[str, str]) -> dict[str, Any]:
    return {
        "label": c.label, "codec": c.codec, "device": c.device, "lossless": c.lossless, "reference": c.reference,
        "anchor": c is base, "description": c.description, "knob": c.knob, "fixed": dict(c.fixed),
        "colour": style[0], "marker": style[1], "dash": "dot" if c.reference else "dash" if c is base else "solid",
        "points": [_point(c, p) for p in c.points],
    }


def _point(c: Curve, p: CurvePoint) -> dict[str, Any]:
    values = {name: _num(p.get(name)) for name in METRICS}
    return {"setting": c.setting_text(p), "spec": p.spec, "n_ok": p.n_ok, "n_total": p.n_total, "bpp": _num(p.bpp),
            **values, "ms_ssim_db": _num(p.ms_ssim_db), "enc_ms": _ms(p.enc_s), "dec_ms": _ms(p.dec_s),
            "exact": p.exact}


def _summary(c: Curve, section: Sequence[Curve], anchors: Sequence[str], rd: RDOptions) -> dict[str, Any]:
    """One summary row: BD-rate (PSNR, MS-SSIM dB) against each anchor, PSNR at 0.5 bpp, the measured range."""
    xs = [p.bpp for p in c.points if p.bpp is not None]
    row: dict[str, Any] = {"label": bdrate.display_name(c), "points": len(c.points),
                           "bpp_min": _num(min(xs, default=None)), "bpp_max": _num(max(xs, default=None)),
                           "psnr_at_0.5": _num(bdrate.quality_at(c, 0.5, "psnr", method=rd.method)), "bd": {}}
    for label in anchors:
        base = bdrate.find_anchor(section, label)
        if base is None:
            continue
        row["bd"][label] = None if c is base else {
            metric: _bd(bdrate.bd_rate(base, c, metric, method=rd.method, min_overlap=rd.min_overlap))
            for metric in ("psnr", "ms_ssim_db")}
    return row


def _bd_table(section: Sequence[Curve], name: str, label: str | None, rd: RDOptions) -> dict[str, Any]:
    if label is None:
        return {"anchor": name, "label": None, "rows": [], "notes": [],
                "note": f"the shipped {name} curve was measured on another dataset"}
    table = bdrate.bd_rows(section, label, method=rd.method, min_overlap=rd.min_overlap)
    return {
        "anchor": name, "label": label, "method": bdrate.METHOD_TEXT[table.method],
        "base": bdrate.display_name(table.base) if table.base else None,
        "columns": {**{f"bd_rate_{m}": f"BD-rate {t} %" for m, t in table.metrics.items()},
                    **({"mean_bd_rate": "Mean BD-rate %"} if table.mean_over else {})},
        "mean_over": list(table.mean_over),
        "rows": [{"label": bdrate.display_name(r.curve), "points": len(r.curve.points),
                  **{f"bd_rate_{m}": _bd(bd) for m, bd in r.bd_rate.items()}, "bd_psnr": _bd(r.bd_psnr),
                  **({"mean_bd_rate": _bd(r.mean)} if r.mean is not None else {})}
                 for r in table.rows],
        "notes": table.notes,
    }


def _fixed(section: Sequence[Curve], method: str) -> dict[str, Any]:
    rows = bdrate.fixed_rows(section, method=method)
    return {"rates": list(bdrate.FIXED_RATES), "qualities": list(bdrate.FIXED_QUALITIES),
            "rows": [{"label": bdrate.display_name(r.curve), "psnr_at": [_num(v) for v in r.quality_at.values()],
                      "bpp_at": [_num(v) for v in r.rate_at.values()]} for r in rows]}


def _image_rows(records: Sequence[Record], section: Sequence[Curve]) -> dict[str, Any]:
    """Per-image rows as columns + row lists (compact: thousands of rows)."""
    labels = _labels(section)
    metrics = [name for name in METRICS if any(r.metric(name) is not None for r in records)]
    columns = ["label", "setting", "image", "device", "bpp", "bytes", *metrics, "enc_ms", "dec_ms", "error"]
    rows = [[labels.get((r.spec, r.device), (r.codec, ''))[0], r.spec, r.image, r.device, _num(r.bpp), r.bytes,
             *(_num(r.metric(name)) for name in metrics), _ms(r.enc_s), _ms(r.dec_s), r.error]
            for r in records]
    return {"columns": columns, "rows": rows}


def _labels(section: Sequence[Curve]) -> dict[tuple[str, str], tuple[str, str]]:
    """(spec, device) -> the label of the curve holding it and the setting's text (``quality=20``)."""
    return {(p.spec, c.device): (c.label, c.setting_text(p)) for c in section if not c.reference for p in c.points}


def _pictures(report: DatasetReport, section: Sequence[Curve], embed: bool) -> dict[str, Any]:
    """The viewer's originals and decodes (a decode only with its record and its original, cropped alike), and
    the total size of their files in bytes."""
    by_key = {r.key: r for r in report.records if r.ok}
    labels = _labels(section)
    originals, decodes = {}, []
    for folder, pic in report.pictures:
        if pic.spec is None:
            originals[pic.image] = {"image": pic.image, "width": pic.width, "height": pic.height, "crop": pic.crop,
                                    "folder": folder, "picture": pic}
            continue
        record = by_key.get((pic.spec, pic.dataset, pic.image, pic.device))
        if record is None:
            continue
        label, setting = labels.get((pic.spec, pic.device), (record.codec, pic.spec))
        decodes.append({"image": pic.image, "label": label, "setting": setting, "spec": pic.spec, "device": pic.device,
                        "bpp": _num(record.bpp), "bytes": record.bytes, "stream_bytes": pic.stream_bytes,
                        **{name: _num(record.metric(name)) for name in METRICS}, "folder": folder,
                        "picture": pic})
    decodes = [d for d in decodes if d["image"] in originals and originals[d["image"]]["crop"] == d["picture"].crop]
    shown = [originals[image] for image in sorted({d["image"] for d in decodes})]
    size = 0
    for entry in [*shown, *decodes]:
        folder, pic = entry.pop("folder"), entry.pop("picture")
        if embed:
            mime, data = picture_data(folder, pic)
            size += len(data)
            entry["src"] = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        else:
            entry["src"] = (folder / pic.file).as_posix()
    return {"originals": shown, "decodes": sorted(decodes, key=lambda d: (d["image"], d["label"], d["bpp"] or 0)),
            "bytes": size}


def _bd(bd: bdrate.BD) -> dict[str, Any]:
    return {"value": _num(bd.value), "reason": bd.reason}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else _num(seconds * 1e3)
