"""Searching a codec's rate knob to a target rate or quality: the one bisection of the project.

:func:`search_knob` finds the value of a declared rate knob at which
``evaluate(value)`` (a bpp or a PSNR) comes closest to a
:class:`~codecbench.core.targets.Target`, assuming it is monotone (either
way; both ends are tried first). An integer or ``choices`` knob is bisected
to its own resolution (at most 2 + ⌈log2(values)⌉ evaluations); a float knob
on a log scale when its lower bound is above 0, to at most
:data:`MAX_FLOAT_EVALUATIONS`, values rounded to 4 significant digits. It
stops once on target (:data:`~codecbench.core.targets.TOLERANCE`) or when the
target is out of reach, and returns the closest value tried. The manual:
``docs/running.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from codecbench.core.codec import Setting
from codecbench.core.errors import SpecError
from codecbench.core.targets import MAX_FLOAT_EVALUATIONS, Target


@dataclass(frozen=True)
class SearchResult:
    """The knob value chosen, the value ``evaluate`` gave there, and how many evaluations the search made."""

    value: Any
    reached: float
    evaluations: int


def search_knob(setting: Setting, evaluate: Callable[[Any], float], target: Target) -> SearchResult:
    """The value of knob ``setting`` whose ``evaluate(value)`` is closest to ``target`` (module docstring).

    ``evaluate`` may return ``math.inf`` (an exact decode's PSNR). Raises
    :class:`SpecError` for a knob without bounds or choices (nothing to search).
    """
    if setting.choices is not None:
        values = sorted(setting.choices)
        return _search_index(len(values), lambda i: values[i], evaluate, target)
    if setting.low is None or setting.high is None:
        raise SpecError("the rate knob has neither bounds nor choices: there is no range to search")
    if setting.kind is int:
        low = int(math.ceil(setting.low))
        return _search_index(int(setting.high) - low + 1, lambda i: low + i, evaluate, target)
    return _search_float(float(setting.low), float(setting.high), evaluate, target)


class _Tried(dict):
    """Evaluations made so far, knob position → value; each position is evaluated once."""

    def __init__(self, evaluate: Callable[[Any], float], value_at: Callable[[Any], Any]) -> None:
        super().__init__()
        self._evaluate, self._value_at = evaluate, value_at

    def at(self, position: Any) -> float:
        if position not in self:
            self[position] = self._evaluate(self._value_at(position))
        return self[position]

    def best(self, target: Target) -> SearchResult:
        position = min(self, key=lambda p: target.distance(self[p]))
        return SearchResult(self._value_at(position), self[position], len(self))

    def done(self, target: Target) -> bool:
        return any(target.reached(v) for v in self.values())


def _search_index(n: int, value_at: Callable[[int], Any], evaluate: Callable[[Any], float],
                  target: Target) -> SearchResult:
    """Bisection over positions 0..n−1 of an ordered list of knob values."""
    tried = _Tried(evaluate, value_at)
    lo, hi = 0, n - 1
    increasing = tried.at(hi) >= tried.at(lo)
    if _outside(tried.at(lo), tried.at(hi), target.value):
        return tried.best(target)
    while hi - lo > 1 and not tried.done(target):
        mid = (lo + hi) // 2
        if (tried.at(mid) < target.value) == increasing:
            lo = mid
        else:
            hi = mid
    return tried.best(target)


def _search_float(low: float, high: float, evaluate: Callable[[Any], float], target: Target) -> SearchResult:
    """Bisection over [low, high] (geometric midpoints when low > 0), at most :data:`MAX_FLOAT_EVALUATIONS`."""
    tried = _Tried(evaluate, lambda v: v)
    lo, hi = low, high
    increasing = tried.at(hi) >= tried.at(lo)
    if _outside(tried.at(lo), tried.at(hi), target.value):
        return tried.best(target)
    while len(tried) < MAX_FLOAT_EVALUATIONS and not tried.done(target):
        mid = float(f"{(math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2):.4g}")
        if mid in (lo, hi):  # the rounded midpoint is an end: the interval is as narrow as values are written
            break
        if (tried.at(mid) < target.value) == increasing:
            lo = mid
        else:
            hi = mid
    return tried.best(target)


def _outside(a: float, b: float, target: float) -> bool:
    """Whether ``target`` lies beyond both ends' values (the knob cannot reach it: the nearer end is the answer)."""
    return target <= min(a, b) or target >= max(a, b)
