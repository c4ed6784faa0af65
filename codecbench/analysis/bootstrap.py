"""Bootstrap confidence intervals over images: how sure a dataset figure is, given the images it was measured on.

A figure of a report (a mean PSNR, a BD-rate) is one draw from the
images the dataset happens to hold. Resampling those images with
replacement (:data:`RESAMPLES` times, a fixed :data:`SEED`, so the same
results give the same interval) and taking the figure of each resample
gives its spread; the 2.5th and 97.5th percentiles are the 95 % interval
(the percentile method). Two codecs are resampled *paired*: one draw of
images serves both, so what the images have in common cancels.

Everything here is vectorised: one ``resamples × images`` index matrix,
then means along its rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

RESAMPLES = 1000
SEED = 0
CONFIDENCE = 0.95
#: At most this share of resamples may have no value (a BD-rate without overlap) for an interval to be given.
MAX_UNDEFINED = 0.05



def method_text(resamples: int = RESAMPLES) -> str:
    """How the intervals of a report were made, in one sentence."""
    return (f"{CONFIDENCE:.0%} bootstrap intervals over images: images resampled with replacement, {resamples} "
            f"resamples, seed {SEED}, percentile method; paired where two codecs are compared (one draw of images "
            "for both)")


@dataclass(frozen=True)
class Estimate:
    """A figure, its interval (``low``, ``high``; None when it has none), and how many images it is over."""

    value: float
    low: float | None
    high: float | None
    n: int

    def excludes(self, x: float = 0.0) -> bool:
        """Whether the interval lies wholly on one side of ``x``: the difference is larger than the image noise."""
        return self.low is not None and self.high is not None and (self.low > x or self.high < x)

    def judgement(self, better_below: bool) -> str:
        """What the interval of a difference says (``better_below``: a negative difference is better):
        ``"better"`` or ``"worse"`` when it excludes 0, ``"within"`` when it holds 0, ``"no interval"``."""
        if self.low is None or self.high is None:
            return "no interval"
        if not self.excludes(0.0):
            return "within"
        return "better" if (self.high < 0) == better_below else "worse"

    def format(self, digits: int = 2, unit: str = "", signed: bool = False) -> str:
        """``31.20 [30.51, 31.88]`` (``signed``: ``+1.20 [+0.51, +1.88]``), the interval omitted when absent."""
        spec = f"{'+' if signed else ''}.{digits}f"
        text = f"{self.value:{spec}}{unit}"
        if self.low is not None and self.high is not None:
            text += f" [{self.low:{spec}}, {self.high:{spec}}]"
        return text


def resample_indices(n: int, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """A ``resamples × n`` matrix of image indices drawn with replacement (the same for the same arguments)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of bootstrap ``values`` at ``confidence``."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def mean_estimate(values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate | None:
    """The mean of per-image ``values`` and its bootstrap interval (none for one image); None for no values."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    if x.size == 1 or resamples <= 0:
        return Estimate(float(x.mean()), None, None, int(x.size))
    low, high = percentile_interval(x[resample_indices(x.size, resamples=resamples, seed=seed)].mean(axis=1))
    return Estimate(float(x.mean()), low, high, int(x.size))


def statistic_estimate(n: int, value: float, statistic: Callable[[np.ndarray], float | None], *,
                       resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """``value`` with the interval of ``statistic(indices)`` over resamples of ``n`` images (a statistic that
    is not vectorisable, such as a BD-rate of mean curves). Resamples where it is None are left out; more than
    :data:`MAX_UNDEFINED` of them, or fewer than 2 images, give no interval."""
    if n < 2 or resamples <= 0:
        return Estimate(value, None, None, n)
    draws = [statistic(row) for row in resample_indices(n, resamples=resamples, seed=seed)]
    defined = np.array([d for d in draws if d is not None and math.isfinite(d)])
    if len(defined) < (1 - MAX_UNDEFINED) * resamples:
        return Estimate(value, None, None, n)
    return Estimate(value, *percentile_interval(defined), n)
