"""How sure a BD-rate is: per-image BD-rates, and bootstrap intervals over images (PSNR).

For a measured curve against a measured anchor, over the images both hold at
every compared setting:

- the **BD-rate of the mean curves** (the BD-rate table's figure) with its
  95 % interval: images resampled in pairs, the BD-rate recomputed exactly as
  the table computes it on each resample;
- the **mean per-image BD-rate** (each image's curve against the anchor's,
  averaged where they overlap; n of N said), with its interval;
- **better on k of n images**: images whose own BD-rate is negative.

Reference curves and curves over different images get no interval (the reason
says so). The manual: ``docs/reports.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from codecbench.analysis import bootstrap
from codecbench.analysis.bdrate import DEFAULT_METHOD, MIN_OVERLAP, bd_rate, bd_rate_points, envelope
from codecbench.analysis.bootstrap import Estimate
from codecbench.analysis.curves import Curve
from codecbench.core.results import Record


@dataclass(frozen=True)
class CurveSamples:
    """A curve's per-image values: ``images`` (sorted) × settings (its complete points, in bpp order)."""

    images: tuple[str, ...]
    bpp: np.ndarray
    quality: np.ndarray


@dataclass(frozen=True)
class BDConfidence:
    """One curve against the anchor: the mean curves' BD-rate (%) with its interval, the mean per-image BD-rate
    with its interval, the images where the per-image curves overlap, how many of those favour the curve
    (negative BD-rate), and why a figure is missing (``reason``)."""

    curve: Curve
    of_means: Estimate | None
    per_image: Estimate | None = None
    better: int = 0
    images: int = 0
    reason: str | None = None


def curve_samples(curve: Curve, records: Sequence[Record], metric: str = "psnr") -> CurveSamples | None:
    """The per-image bpp and ``metric`` of ``curve``'s complete points, over the images that have both at every
    one of them (None for a reference curve, or no such image)."""
    if curve.reference:
        return None
    specs = [p.spec for p in curve.points if p.complete]
    values: dict[tuple[str, str], tuple[float, float]] = {}
    for r in records:
        if r.ok and r.target is None and r.dataset == curve.dataset and r.device == curve.device \
                and r.bpp is not None and r.metric(metric) is not None:
            values[(r.image, r.spec)] = (r.bpp, r.metric(metric))
    images = sorted({image for image, _ in values})
    images = [i for i in images if all((i, s) in values for s in specs)]
    if not images or not specs:
        return None
    table = np.array([[values[(i, s)] for s in specs] for i in images])
    return CurveSamples(tuple(images), table[..., 0], table[..., 1])


def _bd(anchor: CurveSamples, test: CurveSamples, rows: np.ndarray | int, method: str,
        min_overlap: float) -> float | None:
    """The BD-rate of ``test`` against ``anchor`` on the mean (an index array) or single image (an int) ``rows``."""
    def points(s: CurveSamples) -> tuple[np.ndarray, np.ndarray]:
        bpp, quality = s.bpp[rows], s.quality[rows]
        if bpp.ndim == 2:
            bpp, quality = bpp.mean(axis=0), quality.mean(axis=0)
        xs, ys, _ = envelope(bpp, quality)
        return xs, ys

    return bd_rate_points(*points(anchor), *points(test), method=method, min_overlap=min_overlap).value


def bd_confidence(anchor: Curve, test: Curve, records: Sequence[Record], *, method: str = DEFAULT_METHOD,
                  min_overlap: float = MIN_OVERLAP, resamples: int = bootstrap.RESAMPLES) -> BDConfidence:
    """``test`` against ``anchor`` on PSNR, as the module docstring says."""
    of_means = bd_rate(anchor, test, "psnr", method=method, min_overlap=min_overlap)
    point = None if of_means.value is None else Estimate(of_means.value, None, None, 0)
    if anchor.reference or test.reference:
        return BDConfidence(test, point, reason="a reference curve holds published means only")
    a, t = curve_samples(anchor, records), curve_samples(test, records)
    if a is None or t is None:
        return BDConfidence(test, point, reason="no image has values at every setting")
    if a.images != t.images:
        return BDConfidence(test, point, reason="the two curves are means over different images")
    n = len(a.images)
    if point is not None:
        point = bootstrap.statistic_estimate(n, point.value, lambda rows: _bd(a, t, rows, method, min_overlap),
                                             resamples=resamples)
    per_image = [v for i in range(n) if (v := _bd(a, t, i, method, min_overlap)) is not None]
    return BDConfidence(test, point, bootstrap.mean_estimate(per_image, resamples=resamples),
                        sum(v < 0 for v in per_image), len(per_image))


def bd_confidence_rows(curves: Sequence[Curve], anchor: Curve, records: Sequence[Record], *,
                       method: str = DEFAULT_METHOD, min_overlap: float = MIN_OVERLAP,
                       resamples: int = bootstrap.RESAMPLES) -> list[BDConfidence]:
    """:func:`bd_confidence` of every lossy curve but the anchor."""
    return [bd_confidence(anchor, c, records, method=method, min_overlap=min_overlap, resamples=resamples)
            for c in curves if not c.lossless and c is not anchor]
