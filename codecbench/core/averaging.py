"""The one averaging rule of codecbench: dataset figures are arithmetic means over images of per-image values."""

from __future__ import annotations

import math
import statistics
from typing import Iterable


def mean_over_images(values: Iterable[float | None]) -> float | None:
    """The arithmetic mean of ``values`` (one per image), or None unless there is at least one value and every
    value is present and finite: a mean is never taken over a different subset of the images."""
    values = list(values)
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return statistics.fmean(values)  # type: ignore[arg-type]
