"""Markdown summary tables from result records.

One section per (dataset, device): a lossy table (one row per codec setting,
curves from :mod:`codecbench.reports.curves`, points in bpp order) and a
lossless table. Every figure is the arithmetic mean over the images that
succeeded, and each row says how many did (``ok/total``): failures are never
averaged over silently, and each is listed with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from codecbench.reports.curves import Curve, curves
from codecbench.results import Record

CONVENTIONS = (
    "Figures are arithmetic means over the images of a dataset (as CompressAI and most papers report). "
    "bpp = 8 × stored bytes / (H × W), headers included. PSNR in dB over all RGB channels (8-bit); "
    "PSNR-Y on BT.601 luma; SSIM: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, range 255; "
    "MS-SSIM: 5 scales, standard weights (— below 161 px). Times are the median of timed calls after warm-up, "
    "per image, of the codec call alone (no file or model loading)."
)


def _fmt(value: float | None, digits: int, scale: float = 1.0) -> str:
    return "—" if value is None else f"{value * scale:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render(records: Iterable[Record], *, title: str = "codecbench report") -> str:
    """The markdown report: conventions, then lossy and lossless tables per dataset and device."""
    records = list(records)
    out = [f"# {title}", "", CONVENTIONS, ""]
    out += _environment(records)
    sections: dict[tuple[str, str], list[Curve]] = defaultdict(list)
    for curve in curves(records):
        sections[(curve.dataset, curve.device)].append(curve)
    for (dataset, device), section in sections.items():
        threads = sorted({r.threads for r in records if r.dataset == dataset and r.device == device})
        out += ["", f"## {dataset} — {device}, threads {', '.join(map(str, threads))}", ""]
        lossy = [(c, p) for c in section if not c.lossless for p in c.points]
        lossless = [(c, p) for c in section if c.lossless for p in c.points]
        if lossy:
            out += _table(
                ["codec", "setting", "ok/total", "bpp", "PSNR dB", "PSNR-Y dB", "SSIM", "MS-SSIM", "enc ms", "dec ms"],
                (
                    [c.label, c.setting_text(p), f"{p.n_ok}/{p.n_total}", _fmt(p.bpp, 3), _fmt(p.psnr, 2),
                     _fmt(p.psnr_y, 2), _fmt(p.ssim, 4), _fmt(p.ms_ssim, 4), _fmt(p.enc_s, 1, 1e3),
                     _fmt(p.dec_s, 1, 1e3)]
                    for c, p in lossy
                ),
            )
        if lossless:
            out += ["", "Lossless (bits per pixel, all channels together; exact = every image round-tripped "
                    "bit-exactly):", ""]
            out += _table(
                ["codec", "setting", "ok/total", "exact", "bpp", "enc ms", "dec ms"],
                (
                    [c.label, c.setting_text(p), f"{p.n_ok}/{p.n_total}", "yes" if p.exact else "NO",
                     _fmt(p.bpp, 3), _fmt(p.enc_s, 1, 1e3), _fmt(p.dec_s, 1, 1e3)]
                    for c, p in lossless
                ),
            )
        failures = sorted({(r.spec, r.image, r.error) for r in records
                           if not r.ok and r.dataset == dataset and r.device == device})
        if failures:
            out += ["", "Failures:", ""] + [f"- `{spec}` {image}: {error}" for spec, image, error in failures]
    return "\n".join(out) + "\n"


def _environment(records: Sequence[Record]) -> list[str]:
    versions: dict[str, str] = {}
    for record in records:
        versions.update(record.versions)
    if not versions:
        return []
    listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    return [f"Versions (codecbench, codec formats, libraries): {listed}."]
