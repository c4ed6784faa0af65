"""Markdown reports from result records: one file per dataset.

A report opens with a header (dataset, machine, versions, averaging rule,
timed region, cache reuse, what merged files disagree on), then a table per
lossy codec configuration (one row per setting, in bpp order), one for the
lossless codecs, and the failures. Every figure is the arithmetic mean over
the images that succeeded, and each row says how many (``ok/total``): a
failure is never averaged over silently and is listed with its reason.
Rounding: bpp 4 decimals, dB 2, SSIM 4, ms 2, MP/s 2.

``file_size=True`` (``--file-size``) adds the compression rate and ratio against
the original files. The manual: ``docs/reports.md``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

from codecbench.core.metrics import METRICS, Metric
from codecbench.analysis.curves import Curve, CurvePoint, curves
from codecbench.core.results import AVERAGING, TIMED_REGION, Record, library_versions, machine_meta, merged_values
from codecbench.render.fmt import number
from codecbench.render.timing import Origin, RowConditions, row_conditions, table_note, tables_note

METRIC_CONVENTIONS = (
    "bpp = 8 × stored bytes / (H × W), headers included, all channels together; PSNR (dB) over all RGB channels "
    "of the 8-bit images; PSNR-Y on BT.601 luma; SSIM: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, "
    "range 255; MS-SSIM: 5 scales, standard weights (— where the shorter side is ≤ 160 px)"
)

#: Extra sections appended to every dataset report: ``f(dataset, curves) -> markdown lines``.
SectionRenderer = Callable[[str, Sequence[Curve]], list[str]]

#: The columns ``file_size=True`` adds after bpp: the compression rate and ratio against the original files.
FILE_SIZE_COLUMNS = ("compression rate %", "compression ratio")


def report_filename(dataset: str, suffix: str = ".md") -> str:
    """A file name for a dataset's report: ``kodak.md``, ``kodak-gray.md``, ``folder-photos.md`` (``suffix``:
    another format's, ``kodak.html``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset).strip("-.") or "dataset"
    return f"{stem}{suffix}"


def render_reports(
    records: Iterable[Record],
    meta: Mapping[str, Any] | None = None,
    *,
    sections: Sequence[SectionRenderer] = (),
    file_size: bool = False,
    origins: Mapping[tuple, Origin] | None = None,
) -> dict[str, str]:
    """One markdown report per dataset in ``records``, keyed by dataset name.

    ``file_size`` adds the compression rate and ratio against the original image files. ``origins``: the results
    file of each record (by key) in a report merged from several (:func:`codecbench.render.timing.file_origins`),
    so that times from different runs are not presented as comparable.
    """
    records = list(records)
    meta = dict(meta) if meta else machine_meta()
    by_dataset: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_dataset[record.dataset].append(record)
    all_curves = curves(records)
    conditions = row_conditions(records, origins or {})
    return {
        dataset: render_dataset(
            dataset, group, [c for c in all_curves if c.dataset == dataset], meta, sections, file_size=file_size,
            conditions=conditions,
        )
        for dataset, group in sorted(by_dataset.items())
    }


def render_dataset(
    dataset: str,
    records: Sequence[Record],
    dataset_curves: Sequence[Curve],
    meta: Mapping[str, Any],
    sections: Sequence[SectionRenderer] = (),
    *,
    file_size: bool = False,
    conditions: Mapping[tuple[str, str, str], RowConditions] | None = None,
) -> str:
    """The markdown report of one dataset (``file_size``: with the rate and ratio against the original files).

    ``conditions``: each row's timing conditions (:func:`codecbench.render.timing.row_conditions`; default: those of
    ``records`` as one run); a table whose rows differ says so under it, and so do the tables of a device.
    """
    if conditions is None:
        conditions = row_conditions(records, {})
    out = [f"# codecbench — {dataset}", ""]
    out += header_lines(dataset, records, meta)
    if file_size:
        out.append(_file_size_note(dataset, records))
    size_header = list(FILE_SIZE_COLUMNS) if file_size else []
    for device in sorted({c.device for c in dataset_curves}):
        on_device = [c for c in dataset_curves if c.device == device]
        threads = _threads(records, device)
        lossy = [c for c in on_device if not c.lossless]
        lossless = [c for c in on_device if c.lossless]
        if lossy:
            shown = shown_metrics(lossy)
            out += ["", f"## Lossy codecs — {device}, {threads}"]
            for curve in lossy:
                out += ["", f"### {curve.label}", "", _describe(curve), ""]
                out += _table(
                    ["setting", "ok/total", "bpp", *size_header, *(_metric_header(m) for m in shown),
                     "enc ms/img", "dec ms/img", "enc MP/s", "dec MP/s"],
                    ([curve.setting_text(p), _ok(p), number(p.bpp, 4), *_file_sizes(p, file_size),
                      *(number(p.get(m.name), m.digits) for m in shown), *_speeds(p)] for p in curve.points),
                )
                out += table_note(_timed_rows(curve, conditions))
        if lossless:
            out += ["", f"## Lossless codecs — {device}, {threads}", "",
                    "bpp counts all channels together; exact: every successful image round-tripped bit-exactly.", ""]
            out += _table(
                ["codec", "setting", "ok/total", "bpp", *size_header, "exact", "enc ms/img", "dec ms/img",
                 "enc MP/s", "dec MP/s"],
                ([c.label, c.setting_text(p), _ok(p), number(p.bpp, 4), *_file_sizes(p, file_size),
                  "yes" if p.exact else "NO", *_speeds(p)] for c in lossless for p in c.points),
            )
            out += table_note([row for c in lossless for row in _timed_rows(c, conditions, named=True)])
        if len(lossy) + bool(lossless) > 1:
            out += tables_note([(c.label, _timed_rows(c, conditions)) for c in on_device])
    for section in sections:
        out += section(dataset, dataset_curves)
    failures = sorted({(r.spec, r.device, r.image, r.error or "") for r in records if not r.ok})
    if failures:
        out += ["", "## Failures", ""]
        out += [f"- `{spec}` ({device}) {image}: {error}" for spec, device, image, error in failures]
    return "\n".join(out) + "\n"


def _concurrency_note(meta: Mapping[str, Any], records: Sequence[Record]) -> str:
    """How many codec processes ran at once while timing (``meta.jobs`` of ``codecbench run --jobs``), said of the
    records timed by the run that wrote the file when others kept the timings of an earlier run (the cache's)."""
    jobs = meta.get("jobs")
    if not isinstance(jobs, int) or jobs <= 1:
        return ""
    who = "records timed in this run were " if any(r.cached and not r.retimed for r in records) else ""
    return (f"; {who}measured with {jobs} codec processes at once, each pinned to its own core (they share memory "
            "bandwidth and cache: rerun with --jobs 1 for timings without concurrent work)")


def _reuse_note(records: Sequence[Record]) -> list[str]:
    """The header line counting the records reused from the results cache (none when every record was measured)."""
    cached = [r for r in records if r.cached]
    if not cached:
        return []
    retimed = sum(bool(r.retimed) for r in cached)
    return [f"- **Reused from the results cache**: {len(cached)} of {len(records)} records (sizes and quality "
            f"measured by an earlier run; timings measured again for {retimed} of them, the others' as that run "
            "took them)"]


def _threads(records: Sequence[Record], device: str) -> str:
    """The thread counts of ``device``'s records in words: "1 thread", "1, 2 threads"."""
    counts = sorted({r.threads for r in records if r.device == device})
    return f"{', '.join(map(str, counts))} thread{'' if counts == [1] else 's'}"


def header_lines(dataset: str, records: Sequence[Record], meta: Mapping[str, Any]) -> list[str]:
    """The report header's markdown list items: dataset, results files, machine, devices, versions, conventions."""
    images = len({r.image for r in records})
    devices = ", ".join(f"{device} ({_threads(records, device)})" for device in sorted({r.device for r in records}))
    versions = ", ".join(f"{k} {v}" for k, v in library_versions(records).items())
    return [
        f"- **Dataset**: `{dataset}`, {images} images",
        *_differing_note(meta),
        f"- **Machine**: {meta.get('machine', '?')}, {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores; "
        f"Python {meta.get('python', '?')}; codecbench {meta.get('codecbench', '?')}",
        f"- **Device and threads**: {devices}",
        f"- **Versions** (codecbench, codec formats, libraries): {versions}",
        f"- **Averaging**: {meta.get('averaging', AVERAGING)}",
        f"- **Timed region**: {meta.get('timed_region', TIMED_REGION)}{_concurrency_note(meta, records)}",
        *_reuse_note(records),
        f"- **Metrics**: {METRIC_CONVENTIONS}",
        *_opt_in_note(records),
    ]


def _opt_in_note(records: Sequence[Record]) -> list[str]:
    """The header line naming each opt-in metric the records hold, who computed it and how it was validated."""
    used = [m for m in METRICS.values() if not m.default and any(r.metric(m.name) is not None for r in records)]
    if not used:
        return []
    return ["- **Opt-in metrics**: " + "; ".join(f"{m.label} ({m.source or 'plug-in'}, {m.validation})" for m in used)]


def _differing_note(meta: Mapping[str, Any]) -> list[str]:
    """The header line naming what merged results files disagree on (none for one file or a single run)."""
    differing = meta.get("differing") or []
    if not differing:
        return []
    values = ", ".join(f"{key} (`{_differing_value(meta, key)}`)" for key in differing)
    line = f"- **Results files**: merged from files that differ in {values}"
    if {"machine", "cpu", "cores"} & set(differing):
        line += "; timings taken on different machines are not comparable"
    return [line]


def _differing_value(meta: Mapping[str, Any], key: str) -> Any:
    """The merged values of ``key``; for ``date``, how many and their span (a re-time pass writes many files)."""
    value = _meta_value(meta, key)
    if key != "date":
        return value
    dates = sorted(set(merged_values(value)))
    return f"{len(dates)} dates from {dates[0]} to {dates[-1]}" if len(dates) > 1 else value


def _meta_value(meta: Mapping[str, Any], key: str) -> Any:
    """``meta[key]``, following dots: ``"versions.pillow"`` is ``meta["versions"]["pillow"]``."""
    value: Any = meta
    for part in key.split("."):
        value = value.get(part, "?") if isinstance(value, Mapping) else "?"
    return value


def _file_size_note(dataset: str, records: Sequence[Record]) -> str:
    """The header line saying what the compression rate and ratio are relative to."""
    ok = [r for r in records if r.ok]
    sized = [r for r in ok if r.source_bytes]
    if not sized:
        return ("- **Compression rate and ratio**: — (these results hold no original file sizes: written before "
                "codecbench recorded them, or read from a file of many images such as the CIFAR-10 pickle)")
    formats = ", ".join(sorted({r.source_format or "format not recorded" for r in sized}))
    view = "; this grayscale view is computed from them" if dataset.endswith(":gray") else ""
    line = (f"- **Compression rate and ratio**: relative to the original files ({formats}, as stored in the "
            f"dataset{view}): compression rate % = 100 × (1 − stored bytes / original file bytes), "
            "compression ratio = original file bytes / stored bytes, each a mean over images")
    if len(sized) < len(ok):
        line += "; `value (n/ok)`: only n of the row's ok images have an original file size, the mean is over those"
    return line


def _file_sizes(point: CurvePoint, shown: bool) -> list[str]:
    """The compression rate and ratio cells of a row (none unless ``shown``)."""
    if not shown:
        return []
    cells = [number(point.vs_source_pct, 2), number(point.source_ratio, 2)]
    if 0 < point.n_source < point.n_ok:
        cells = [f"{cell} ({point.n_source}/{point.n_ok})" for cell in cells]
    return cells


def _timed_rows(curve: Curve, conditions: Mapping[tuple[str, str, str], RowConditions], *,
                named: bool = False) -> list[tuple[str, RowConditions]]:
    """Each row of ``curve`` as (its setting, or ``named``: codec and setting; its timing conditions)."""
    def name(point: CurvePoint) -> str:
        setting = curve.setting_text(point)
        return setting if not named else curve.label if point.setting is None else f"{curve.label} {setting}"

    return [(name(p), conditions.get((curve.dataset, curve.device, p.spec), frozenset())) for p in curve.points]


def _describe(curve: Curve) -> str:
    fixed = ", ".join(f"{k}={v}" for k, v in sorted(curve.fixed.items())) or "none"
    return f"Rate knob `{curve.knob or '—'}`; other settings: {fixed}."


def _ok(point: CurvePoint) -> str:
    return f"{point.n_ok}/{point.n_total}"


def _speeds(point: CurvePoint) -> list[str]:
    return [number(point.enc_s, 2, 1e3), number(point.dec_s, 2, 1e3), number(point.enc_mps, 2), number(point.dec_mps, 2)]


def shown_metrics(lossy: Sequence[Curve]) -> list[Metric]:
    """The metric columns of a lossy table: every default metric, and an opt-in one wherever it was computed."""
    return [m for m in METRICS.values()
            if m.default or any(p.get(m.name) is not None for c in lossy for p in c.points)]


def _metric_header(metric: Metric) -> str:
    return f"{metric.label} {metric.unit}".strip()


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    """``text`` as one table cell: a ``|`` escaped and line breaks as spaces (a name from a results file)."""
    return " ".join(text.split()).replace("|", "\\|")
