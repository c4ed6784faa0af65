"""Markdown summary tables from result records.

One section per (dataset, device): a lossy table (one row per codec spec,
ordered by codec then rate knob) and a lossless table. Every figure is the
arithmetic mean over the images that succeeded, and each row says how many
did (``ok/total``): failures are never averaged over silently.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from codecbench.results import Record

CONVENTIONS = (
    "Figures are arithmetic means over the images of a dataset (as CompressAI and most papers report). "
    "bpp = 8 × stored bytes / (H × W), headers included. PSNR in dB over all RGB channels (8-bit); "
    "PSNR-Y on BT.601 luma; SSIM: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, range 255; "
    "MS-SSIM: 5 scales, standard weights (— below 161 px). Times are the median of timed calls after warm-up, "
    "per image, of the codec call alone (no file or model loading)."
)


@dataclass
class Row:
    """Per-image means of one spec on one dataset and device."""

    dataset: str
    device: str
    codec: str
    spec: str
    setting: object
    lossless: bool
    ok: int
    total: int
    exact: int
    bpp: float | None
    psnr: float | None
    psnr_y: float | None
    ssim: float | None
    ms_ssim: float | None
    enc_s: float | None
    dec_s: float | None
    errors: list[str]


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _mean_all(values: Sequence[float | None]) -> float | None:
    """Mean only when every image has the value (an infinite PSNR makes the mean undefined)."""
    return statistics.fmean(values) if values and all(v is not None for v in values) else None


def summarize(records: Iterable[Record]) -> list[Row]:
    """Group records by (dataset, device, spec) and average the successful ones."""
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.dataset, record.device, record.spec)].append(record)
    rows = []
    for (dataset, device, spec), group in groups.items():
        ok = [r for r in group if r.ok]
        first = group[0]
        rows.append(
            Row(
                dataset=dataset,
                device=device,
                codec=first.codec,
                spec=spec,
                setting=first.setting,
                lossless=first.lossless,
                ok=len(ok),
                total=len(group),
                exact=sum(bool(r.exact) for r in ok),
                bpp=_mean(r.bpp for r in ok),
                psnr=_mean_all([r.psnr for r in ok]),
                psnr_y=_mean_all([r.psnr_y for r in ok]),
                ssim=_mean(r.ssim for r in ok),
                ms_ssim=_mean_all([r.ms_ssim for r in ok]),
                enc_s=_mean(r.enc_s for r in ok),
                dec_s=_mean(r.dec_s for r in ok),
                errors=sorted({f"{r.image}: {r.error}" for r in group if not r.ok}),
            )
        )
    return sorted(rows, key=lambda r: (r.dataset, r.device, r.codec, _sort_key(r.setting), r.spec))


def _sort_key(value: object) -> tuple:
    return (0, float(value)) if isinstance(value, (int, float)) else (1, str(value))


def _fmt(value: float | None, digits: int, scale: float = 1.0) -> str:
    return "—" if value is None else f"{value * scale:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render(records: Iterable[Record], *, title: str = "codecbench report") -> str:
    """The markdown report: conventions, then lossy and lossless tables per dataset and device."""
    records = list(records)
    rows = summarize(records)
    out = [f"# {title}", "", CONVENTIONS, ""]
    out += _environment(records)
    sections: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        sections[(row.dataset, row.device)].append(row)
    for (dataset, device), section in sections.items():
        threads = sorted({r.threads for r in records if r.dataset == dataset and r.device == device})
        out += ["", f"## {dataset} — {device}, threads {', '.join(map(str, threads))}", ""]
        lossy = [r for r in section if not r.lossless]
        lossless = [r for r in section if r.lossless]
        if lossy:
            out += _table(
                ["codec", "setting", "ok/total", "bpp", "PSNR dB", "PSNR-Y dB", "SSIM", "MS-SSIM", "enc ms", "dec ms"],
                (
                    [
                        r.spec,
                        str(r.setting),
                        f"{r.ok}/{r.total}",
                        _fmt(r.bpp, 3),
                        _fmt(r.psnr, 2),
                        _fmt(r.psnr_y, 2),
                        _fmt(r.ssim, 4),
                        _fmt(r.ms_ssim, 4),
                        _fmt(r.enc_s, 1, 1e3),
                        _fmt(r.dec_s, 1, 1e3),
                    ]
                    for r in lossy
                ),
            )
        if lossless:
            out += ["", "Lossless (bits per pixel, all channels together; exact = bit-exact round trips):", ""]
            out += _table(
                ["codec", "ok/total", "exact", "bpp", "enc ms", "dec ms"],
                (
                    [r.spec, f"{r.ok}/{r.total}", f"{r.exact}/{r.ok}", _fmt(r.bpp, 3), _fmt(r.enc_s, 1, 1e3),
                     _fmt(r.dec_s, 1, 1e3)]
                    for r in lossless
                ),
            )
        failures = [(r.spec, e) for r in section for e in r.errors]
        if failures:
            out += ["", "Failures:", ""] + [f"- `{spec}` {error}" for spec, error in failures]
    return "\n".join(out) + "\n"


def _environment(records: Sequence[Record]) -> list[str]:
    versions: dict[str, str] = {}
    for record in records:
        versions.update(record.versions)
    if not versions:
        return []
    listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    return [f"Versions (codecbench, codec formats, libraries): {listed}."]
