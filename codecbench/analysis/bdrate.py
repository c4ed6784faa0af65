"""Bjøntegaard deltas and fixed-rate/fixed-quality interpolation of RD curves.

BD values come from the ``bjontegaard`` package (PCHIP, as the JCT-VC CTC
sheet; ``method="akima"`` the alternative), on log10(bpp). The promises:

- **Envelope.** A curve is first reduced to its upper envelope (quality
  strictly increasing with bpp); dropped points are reported.
- **No extrapolation.** A BD value is averaged over the two curves' overlap;
  an empty overlap or one under ``min_overlap`` of the shorter curve's range
  is "n/a (no overlap)". Interpolated values stay inside a curve's range.
- **Complete points only.** A setting where some images failed is left out;
  reference curves are taken as published.

The manual: ``docs/reports.md``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from codecbench.core.errors import CodecbenchError
from codecbench.core.metrics import METRICS
from codecbench.analysis.anchors import pick_anchor
from codecbench.analysis.curves import Curve

METHODS = ("pchip", "akima")
DEFAULT_METHOD = "pchip"
DEFAULT_ANCHOR = "jpeg"
#: minimum overlap, as a fraction of the shorter curve's range on the integration axis
MIN_OVERLAP = 0.5
FIXED_RATES = (0.25, 0.5, 1.0)
FIXED_QUALITIES = (30.0, 35.0)

#: BD-rate metrics: curve metric -> column title
BD_RATE_METRICS = {"psnr": "PSNR", "psnr_y": "PSNR-Y", "ms_ssim_db": "MS-SSIM (dB)"}
#: the BD-rates averaged into the multi-metric mean, as JPEG AI's evaluation averages its metrics' BD-rates
MEAN_BD_RATE_OVER = ("psnr_y", "ms_ssim_db", "ms_ssim_y", "vif", "fsim", "fsimc", "iw_ssim", "vmaf", "psnr_hvs_m",
                     "ciede2000", "nlpd")

METHOD_TEXT = {
    "pchip": "piecewise cubic Hermite interpolation (PCHIP, as the JCT-VC CTC reference sheet)",
    "akima": "Akima interpolation",
}


@dataclass(frozen=True)
class BD:
    """A Bjøntegaard delta, or why there is none (``value`` None, ``reason`` set)."""

    value: float | None
    reason: str | None = None
    interval: tuple[float, float] | None = None  # integration interval (quality, or bpp for BD-PSNR)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise CodecbenchError(f"unknown interpolation method {method!r}; use one of {', '.join(METHODS)}")


def envelope(bpp: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray, int]:
    """The upper envelope of a curve: bpp and quality strictly increasing.

    Returns (bpp, quality, number of points dropped).
    """
    pts = sorted(
        ((float(x), float(y)) for x, y in zip(bpp, quality) if x > 0 and math.isfinite(x) and math.isfinite(y)),
        key=lambda p: (p[0], -p[1]),
    )
    xs: list[float] = []
    ys: list[float] = []
    for x, y in pts:
        if (not xs or x > xs[-1]) and (not ys or y > ys[-1]):
            xs.append(x)
            ys.append(y)
    return np.array(xs), np.array(ys), len(bpp) - len(xs)


def curve_arrays(curve: Curve, metric: str, *, rising: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Envelope arrays of ``curve`` for ``metric`` (complete points only); ``rising``: a metric where lower is
    better (NLPD, Butteraugli) negated, so that quality rises with rate as a BD-rate needs (the BD-rate, an
    average of log-rate differences over the quality interval, is the same on the negated axis)."""
    xs, ys = curve.series(metric, complete_only=True)
    if rising and metric in METRICS and not METRICS[metric].higher_is_better:
        ys = [-y for y in ys]
    return envelope(xs, ys)


def _overlap(a: np.ndarray, b: np.ndarray, min_overlap: float) -> tuple[float, float] | None:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if hi <= lo:
        return None
    shorter = min(a.max() - a.min(), b.max() - b.min())
    if shorter <= 0 or (hi - lo) / shorter < min_overlap:
        return None
    return float(lo), float(hi)


def _prepare(anchor: Curve, test: Curve, metric: str, method: str):
    _check_method(method)
    ra, qa, _ = curve_arrays(anchor, metric, rising=True)
    rt, qt, _ = curve_arrays(test, metric, rising=True)
    if len(ra) == 0 or len(rt) == 0:
        return None, BD(None, "no data")
    if len(ra) < 2 or len(rt) < 2:
        return None, BD(None, "too few points")
    return (ra, qa, rt, qt), None


def bd_rate(
    anchor: Curve, test: Curve, metric: str = "psnr", *, method: str = DEFAULT_METHOD, min_overlap: float = MIN_OVERLAP
) -> BD:
    """BD-rate (%) of ``test`` against ``anchor`` on ``metric``: negative = fewer bits for the same quality."""
    arrays, problem = _prepare(anchor, test, metric, method)
    if problem:
        return problem
    return bd_rate_points(*arrays, method=method, min_overlap=min_overlap)


def bd_rate_points(ra: np.ndarray, qa: np.ndarray, rt: np.ndarray, qt: np.ndarray, *, method: str = DEFAULT_METHOD,
                   min_overlap: float = MIN_OVERLAP) -> BD:
    """BD-rate (%) of the test points (``rt`` bpp, ``qt`` quality) against the anchor's, each an upper envelope
    (:func:`envelope`), over their overlap only: the computation of :func:`bd_rate`, for callers that hold points
    rather than curves (per-image curves, bootstrap resamples)."""
    import bjontegaard

    if len(ra) < 2 or len(rt) < 2:
        return BD(None, "too few points" if len(ra) and len(rt) else "no data")
    interval = _overlap(qa, qt, min_overlap)
    if interval is None:
        return BD(None, "no overlap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = bjontegaard.bd_rate(ra, qa, rt, qt, method=method, require_matching_points=False, min_overlap=0)
    return BD(float(value), interval=interval) if math.isfinite(value) else BD(None, "no overlap")


def bd_quality(
    anchor: Curve, test: Curve, metric: str = "psnr", *, method: str = DEFAULT_METHOD, min_overlap: float = MIN_OVERLAP
) -> BD:
    """BD-quality (BD-PSNR for ``psnr``) of ``test`` against ``anchor``, in the metric's unit."""
    import bjontegaard

    arrays, problem = _prepare(anchor, test, metric, method)
    if problem:
        return problem
    ra, qa, rt, qt = arrays
    interval = _overlap(np.log10(ra), np.log10(rt), min_overlap)
    if interval is None:
        return BD(None, "no overlap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = bjontegaard.bd_psnr(ra, qa, rt, qt, method=method, require_matching_points=False, min_overlap=0)
    bounds = (10 ** interval[0], 10 ** interval[1])
    return BD(float(value), interval=bounds) if math.isfinite(value) else BD(None, "no overlap")


def _interpolator(x: np.ndarray, y: np.ndarray, method: str):
    from bjontegaard.interpolation import interpolate

    return interpolate(x, y, method)


def quality_at(curve: Curve, bpp: float, metric: str = "psnr", *, method: str = DEFAULT_METHOD) -> float | None:
    """``metric`` at ``bpp`` interpolated on log10(bpp); None outside the measured range."""
    _check_method(method)
    r, q, _ = curve_arrays(curve, metric)
    if len(r) == 0 or not (r[0] <= bpp <= r[-1]):
        return None
    if len(r) == 1:
        return float(q[0])
    return float(_interpolator(np.log10(r), q, method)(math.log10(bpp)))


def rate_at(curve: Curve, quality: float, metric: str = "psnr", *, method: str = DEFAULT_METHOD) -> float | None:
    """bpp needed for ``quality`` (log-rate interpolated); None outside the measured range."""
    _check_method(method)
    r, q, _ = curve_arrays(curve, metric)
    if len(r) == 0 or not (q[0] <= quality <= q[-1]):
        return None
    if len(r) == 1:
        return float(r[0])
    return float(10 ** _interpolator(q, np.log10(r), method)(quality))


# -- tables --------------------------------------------------------------
def find_anchor(curves: Sequence[Curve], anchor: str) -> Curve | None:
    """The lossy curve ``anchor`` picks (:func:`~codecbench.analysis.anchors.pick_anchor`: the one labelled
    ``anchor``, else the first label of codec ``anchor``, CPU first). A reference curve can be the anchor (e.g. a
    published BPG curve) by its label."""
    return pick_anchor((c for c in curves if not c.lossless), anchor)


def display_name(curve: Curve) -> str:
    return f"{curve.label} (reference, not measured here)" if curve.reference else curve.label


@dataclass(frozen=True)
class BDRow:
    """One curve's Bjøntegaard deltas against the anchor: BD-rate (%) per metric of its table's ``metrics``,
    BD-PSNR (dB), and the mean of the BD-rates of its table's ``mean_over`` (None where the table has no mean)."""

    curve: Curve
    bd_rate: dict[str, BD]
    bd_psnr: BD
    mean: BD | None = None


@dataclass(frozen=True)
class BDTable:
    """Every lossy curve of one dataset against one anchor; ``base`` None when ``anchor`` names no lossy curve
    (``rows`` then empty). ``notes``: settings and points left out, one sentence each."""

    anchor: str
    base: Curve | None
    rows: list[BDRow]
    notes: list[str]
    method: str
    min_overlap: float
    labels: list[str]  # the lossy curves' labels, sorted (for saying what an absent anchor could have been)
    metrics: dict[str, str] = dataclasses.field(default_factory=lambda: dict(BD_RATE_METRICS))  # metric -> title
    mean_over: tuple[str, ...] = ()  # the metrics each row's mean averages (none: the table has no mean)


def bd_metrics(curves: Sequence[Curve]) -> dict[str, str]:
    """The BD-rate columns for ``curves``: :data:`BD_RATE_METRICS`, then each opt-in metric with a BD-rate axis
    that every measured lossy curve has values of (SSIMULACRA 2, VIF, …), titled by its label."""
    measured = [c for c in curves if not c.lossless and not c.reference]
    extra = {m.bd_axis: m.label for m in METRICS.values()
             if not m.default and m.bd_axis and measured
             and all(c.series(m.bd_axis, complete_only=True)[0] for c in measured)}
    return {**BD_RATE_METRICS, **extra}


def mean_over(base: Curve, metrics: Iterable[str]) -> tuple[str, ...]:
    """The metrics of :data:`MEAN_BD_RATE_OVER` among ``metrics`` that the anchor ``base`` has values of (a metric
    undefined for the images, or absent from a reference curve, cannot be averaged); none unless at least two:
    a mean of one metric would pass that metric's BD-rate off as the multi-metric one."""
    members = tuple(m for m in metrics if m in MEAN_BD_RATE_OVER and base.series(m, complete_only=True)[0])
    return members if len(members) >= 2 else ()


def mean_bd_rate(values: dict[str, BD], members: Iterable[str]) -> BD:
    """The mean of the BD-rates ``values`` of ``members`` (:func:`mean_over`); n/a, with the first member's
    reason, if any of them is (a curve with no data on one of them included)."""
    missing = [values[m].reason for m in members if values[m].value is None]
    if missing:
        return BD(None, missing[0])
    return BD(float(np.mean([values[m].value for m in members])))


def bd_rows(
    curves: Sequence[Curve],
    anchor: str = DEFAULT_ANCHOR,
    *,
    method: str = DEFAULT_METHOD,
    min_overlap: float = MIN_OVERLAP,
) -> BDTable:
    """BD-rate and BD-PSNR of every lossy curve of one dataset against ``anchor`` (the anchor's own row left out).

    Raises :class:`~codecbench.core.errors.CodecbenchError` for an unknown ``method``.
    """
    _check_method(method)
    base = find_anchor(curves, anchor)
    lossy = [c for c in curves if not c.lossless]
    labels = sorted({c.label for c in lossy})
    metrics = bd_metrics(curves)
    if base is None:
        return BDTable(anchor, None, [], [], method, min_overlap, labels, metrics)
    averaged = mean_over(base, metrics) if len(metrics) > len(BD_RATE_METRICS) else ()
    rows = []
    for c in lossy:
        if c is base:
            continue
        rates = {metric: bd_rate(base, c, metric, method=method, min_overlap=min_overlap) for metric in metrics}
        rows.append(BDRow(c, rates, bd_quality(base, c, "psnr", method=method, min_overlap=min_overlap),
                          mean_bd_rate(rates, averaged) if averaged else None))
    notes = [n for c in [base] + [c for c in lossy if c is not base] for n in _curve_notes(c)]
    return BDTable(anchor, base, rows, notes, method, min_overlap, labels, metrics, averaged)


def _curve_notes(c: Curve) -> list[str]:
    notes = []
    incomplete = [p for p in c.points if not c.reference and not p.complete]
    if incomplete:
        specs = ", ".join(f"{p.setting} ({p.n_ok}/{p.n_total} ok)" for p in incomplete)
        notes.append(f"{c.label}: settings left out because images failed: {specs}")
    _, _, dropped = curve_arrays(c, "psnr")
    xs, _ = c.series("psnr", complete_only=True)
    if dropped and xs:
        notes.append(f"{c.label}: {dropped} of {len(xs)} points not on the PSNR upper envelope, left out")
    return notes


@dataclass(frozen=True)
class FixedRow:
    """One curve's PSNR (dB) at each fixed rate and bpp at each fixed PSNR; None outside its measured range."""

    curve: Curve
    quality_at: dict[float, float | None]  # bpp -> PSNR
    rate_at: dict[float, float | None]  # PSNR -> bpp


def fixed_rows(
    curves: Sequence[Curve],
    *,
    rates: Sequence[float] = FIXED_RATES,
    qualities: Sequence[float] = FIXED_QUALITIES,
    method: str = DEFAULT_METHOD,
) -> list[FixedRow]:
    """PSNR at fixed bpp and bpp at fixed PSNR of every lossy curve, interpolated inside its range only."""
    _check_method(method)
    return [FixedRow(c, {r: quality_at(c, r, "psnr", method=method) for r in rates},
                     {q: rate_at(c, q, "psnr", method=method) for q in qualities})
            for c in curves if not c.lossless]
