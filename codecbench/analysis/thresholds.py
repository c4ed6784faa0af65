"""The regression gate's limits, and how the CLI spells them (``0.5%``, ``0.05dB``, ``1.15`` or ``15%``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from codecbench.core.errors import ResultsError


@dataclass(frozen=True)
class Thresholds:
    """Gate limits: BD-rate (%), PSNR drop (dB), bpp rise (%), optional slowdown ratio."""

    max_bd_rate: float = 0.5
    max_psnr_drop: float = 0.05
    max_bpp_rise: float = 0.5
    max_slowdown: float | None = None  # e.g. 1.15: fail when NEW is > 15% slower (per codec, geometric mean)

    def describe(self) -> str:
        text = (
            f"BD-rate (PSNR) ≤ +{self.max_bd_rate:g}%, PSNR drop ≤ {self.max_psnr_drop:g} dB, "
            f"bpp rise ≤ {self.max_bpp_rise:g}% per setting"
        )
        if self.max_slowdown is not None:
            text += f", encode/decode time ≤ ×{self.max_slowdown:g} of BASE"
        return text


def _threshold(text: str | float, unit: str, what: str) -> float:
    """A non-negative number, optionally followed by ``unit`` (case-insensitive)."""
    s = str(text).strip()
    if s.lower().endswith(unit.lower()):
        s = s[: -len(unit)].strip()
    try:
        value = float(s)
    except ValueError:
        raise ResultsError(f"not {what}: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ResultsError(f"threshold must be a non-negative number: {text!r}")
    return value


def parse_percent(text: str | float) -> float:
    """``0.5``, ``0.5%`` → 0.5 (percent)."""
    return _threshold(text, "%", "a percentage")


def parse_db(text: str | float) -> float:
    """``0.05``, ``0.05dB`` → 0.05 (dB)."""
    return _threshold(text, "dB", "a dB value")


def parse_ratio(text: str | float) -> float:
    """``15%`` → 1.15; ``1.15`` or ``x1.15`` → 1.15."""
    s = str(text).strip().lower().lstrip("x×")
    if s.endswith("%"):
        return 1.0 + parse_percent(s) / 100.0
    try:
        value = float(s)
    except ValueError:
        raise ResultsError(f"not a ratio: {text!r}") from None
    if not math.isfinite(value) or value < 1:
        raise ResultsError(f"slowdown ratio must be ≥ 1 (e.g. 1.15 or 15%): {text!r}")
    return value
