"""The regression gate's report: a :class:`~codecbench.analysis.gate.Comparison` as markdown.

Per dataset and device, a summary table (one row per codec configuration)
and a per-setting table in a ``<details>`` block, then the failures and
the notes. Nothing is decided here: every status comes from the comparison.
"""

from __future__ import annotations

from itertools import groupby
from typing import Sequence

from codecbench.analysis.gate import CodecResult, Comparison, SettingResult
from codecbench.analysis.latency import CONFIDENCE, RESAMPLES, LatencyComparison
from codecbench.render.fmt import bd_value, formatted

_SUMMARY_HEAD = [
    "| Codec | BD-rate (PSNR) NEW vs BASE | Settings | largest Δ bpp | worst Δ PSNR | encode × | decode × "
    "| Status |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
]
_DETAIL_HEAD = [
    "| Codec | Setting | bpp BASE | bpp NEW | Δ bpp | PSNR BASE | PSNR NEW | Δ PSNR | encode × | decode × "
    "| Status |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
]
FOOTNOTE = (
    "BD-rate: NEW's curve against BASE's on the settings both hold over the same images (positive = NEW needs "
    "more bits for the same PSNR), interpolated on log10(bpp) over the overlap only. Δ bpp in percent of BASE, "
    "Δ PSNR in dB; speed ratios are NEW time / BASE time (geometric mean over settings in the codec row). "
    "A setting whose images (or failed images) differ between BASE and NEW shows no NEW mean: it fails."
)


def comparison_markdown(comparison: Comparison, sections: Sequence[str] = ()) -> str:
    """The markdown report of ``comparison``: tables per dataset and device, ``sections`` (markdown, e.g.
    :func:`latency_markdown`), then failures and notes."""
    c = comparison
    out = [f"## codecbench compare: `{c.base_name}` → `{c.new_name}`", "", f"Thresholds: {c.thresholds.describe()}.",
           "", *[f"**Warning:** {w}.\n" for w in c.warnings]]
    for (dataset, device), group in groupby(c.codecs, key=lambda r: (r.dataset, r.device)):
        rows = list(group)
        detail = [_detail_row(r.label, s) for r in rows for s in r.settings]
        out += [f"### {dataset} ({device})", "", *_SUMMARY_HEAD, *map(_summary_row, rows), "",
                "<details><summary>Per setting</summary>", "", *_DETAIL_HEAD, *detail, "", "</details>", ""]
    out += [FOOTNOTE, "", *sections]
    if c.violations:
        out += [f"**{len(c.violations)} regression(s):**", "", *[f"- {v}" for v in c.violations], ""]
    else:
        out += ["**No regression beyond the thresholds.**", ""]
    if c.notes:
        out += ["Notes:", "", *[f"- {n}" for n in c.notes], ""]
    return "\n".join(out)


def _summary_row(r: CodecResult) -> str:
    if r.status == "missing":
        return f"| {r.label} | — | {r.n_settings} | — | — | — | — | **FAIL: missing from NEW** |"
    if r.status == "new":
        return f"| {r.label} | — | {r.n_settings} | — | — | — | — | new (information) |"
    bd = "— (lossless)" if r.lossless else bd_value(r.bd, "%", 3) if r.bd else "—"
    return (f"| {r.label} | {bd} | {r.n_settings} | {formatted(r.worst_bpp_change, '+.2f')}% | "
            f"{formatted(r.worst_psnr_change, '+.3f')} dB | {formatted(r.enc_ratio, '.2f')} | {formatted(r.dec_ratio, '.2f')} | "
            f"{'**FAIL**' if r.failed else 'ok'} |")


def _detail_row(label: str, s: SettingResult) -> str:
    p, q = s.base, s.new
    return (f"| {label} | {s.setting} | {formatted(p.bpp, '.4f')} | {formatted(q and q.bpp, '.4f')} | "
            f"{formatted(s.bpp_change, '+.2f')}{'%' if s.bpp_change is not None else ''} | {formatted(p.psnr, '.2f')} | "
            f"{formatted(q and q.psnr, '.2f')} | {formatted(s.psnr_change, '+.3f')} | {formatted(s.enc_ratio, '.2f')} | "
            f"{formatted(s.dec_ratio, '.2f')} | {'**FAIL**' if s.problems else 'ok'} |")


def latency_markdown(latency: LatencyComparison) -> str:
    """The latency check's section (``compare --latency-ci``): a row per case and phase, then how it decides."""
    out = [f"### Latency (ratio of median round times, {CONFIDENCE:.0%} bootstrap interval)", "",
           "| Case | Phase | Rounds BASE/NEW | NEW / BASE | 95 % interval | p (NEW slower) | Status |",
           "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for c in latency.checks:
        interval = "—" if c.low is None else f"×{c.low:.3f}–×{c.high:.3f}"
        status = f"**FAIL: {c.problem}**" if c.problem else "ok"
        out.append(f"| {c.spec} {c.dataset} {c.device} | {c.phase} | {c.base_rounds}/{c.new_rounds} | "
                   f"{formatted(c.ratio, '.3f')} | {interval} | {formatted(c.p_slower, '.3f')} | {status} |")
    out += ["", f"A case fails only when its whole interval lies above ×{latency.max_slowdown:g}: NEW is slower "
            f"than that by more than the noise of its rounds ({RESAMPLES} bootstrap resamples of each side's rounds; "
            "p: one-sided Mann–Whitney rank test, shown, not gated). The interval holds the noise within the two "
            "runs, not between them: see docs/ci.md for the false-alarm rate measured on repeated unchanged runs.", ""]
    return "\n".join(out)
