"""The noise-aware latency gate: a bootstrap confidence interval of the ratio of medians of benchmark rounds.

For each case (spec, dataset, device) and phase of BASE, from pytest-benchmark's
per-round times (``--benchmark-save-data``, seconds per round over the dataset):

- ``ratio`` = median of NEW's rounds / median of BASE's, with its 95 %
  percentile-bootstrap interval (:data:`RESAMPLES` resamples, seed :data:`SEED`);
- a **slowdown** (failure) only when the whole interval lies above
  ``max_slowdown``; the one-sided Mann–Whitney p-value is information only.

It fails closed: fewer than :data:`MIN_ROUNDS` rounds on a side, or a case of
BASE missing from NEW, is a failure; files without per-round times are a
:class:`~codecbench.core.errors.ResultsError`. The manual, with the measured
false-alarm rate: ``docs/ci.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codecbench.analysis.conditions import pytest_benchmark_meta, timing_warning
from codecbench.analysis.gate import Violation
from codecbench.analysis.pytest_benchmark import round_times
from codecbench.core.errors import ResultsError
from codecbench.core.results import load_json

RESAMPLES = 2000
#: The fewest rounds per side the interval is taken from: fewer is a failure (the noise cannot be told).
MIN_ROUNDS = 5
SEED = 0
CONFIDENCE = 0.95
PHASES = {"enc_s": "encode", "dec_s": "decode"}


@dataclass(frozen=True)
class LatencyCheck:
    """One case and phase: rounds on each side, the ratio of medians NEW/BASE with its interval, the rank test's
    one-sided p-value, and ``problem`` (a failure: a slowdown beyond the threshold, or missing from NEW)."""

    dataset: str
    device: str
    spec: str
    phase: str  # "encode" or "decode"
    base_rounds: int
    new_rounds: int = 0
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    p_slower: float | None = None
    problem: str | None = None


@dataclass
class LatencyComparison:
    """Every check of two pytest-benchmark files, the threshold, and the machine warning (None: same machine)."""

    max_slowdown: float
    checks: list[LatencyCheck] = field(default_factory=list)
    warning: str | None = None

    def violations(self) -> list[Violation]:
        return [Violation(c.dataset, c.device, c.spec, c.phase, c.problem) for c in self.checks if c.problem]


def ratio_interval(base: np.ndarray, new: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED,
                   confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(median(new) / median(base), and the bootstrap percentile interval of that ratio at ``confidence``).

    Each side's rounds are resampled with replacement independently, ``resamples`` times, all at once
    (vectorised); the same ``seed`` gives the same interval.
    """
    rng = np.random.default_rng(seed)
    base_medians = np.median(base[rng.integers(0, len(base), (resamples, len(base)))], axis=1)
    new_medians = np.median(new[rng.integers(0, len(new), (resamples, len(new)))], axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(new_medians / base_medians, [tail, 100 - tail])
    return float(np.median(new) / np.median(base)), float(low), float(high)


def check_case(key: tuple[str, str, str, str], base: list[float], new: list[float] | None,
               max_slowdown: float) -> LatencyCheck:
    """The check of one case and phase (``key``: spec, dataset, device, phase) against ``max_slowdown``."""
    from scipy.stats import mannwhitneyu  # scipy.stats takes ~0.5 s to import: only when rounds are compared

    spec, dataset, device, phase = key
    head = (dataset, device, spec, PHASES[phase], len(base))
    if new is None:
        return LatencyCheck(*head, problem="missing from NEW")
    b, n = np.asarray(base), np.asarray(new)
    if min(len(b), len(n)) < MIN_ROUNDS:
        return LatencyCheck(*head, len(n), problem=f"{len(b)} BASE and {len(n)} NEW rounds: at least {MIN_ROUNDS} "
                            "each are needed to tell a slowdown from noise (raise --rounds, --benchmark-max-time)")
    if np.median(b) <= 0:
        return LatencyCheck(*head, len(n), problem="BASE's median round time is 0: no ratio")
    ratio, low, high = ratio_interval(b, n)
    p = float(mannwhitneyu(n, b, alternative="greater").pvalue)
    problem = None
    if low > max_slowdown:
        problem = (f"{PHASES[phase]} time ×{ratio:.2f} of BASE, 95 % interval ×{low:.2f}–×{high:.2f} "
                   f"lies above ×{max_slowdown:g}")
    return LatencyCheck(*head, len(n), ratio, low, high, p, problem)


def compare_latency(base: str | os.PathLike, new: str | os.PathLike, max_slowdown: float) -> LatencyComparison:
    """Check every case and phase of pytest-benchmark file ``base`` against ``new`` (module docstring).

    Raises :class:`ResultsError` (one line naming the file) for a file that is not pytest-benchmark JSON or
    has no per-round times.
    """
    sides = []
    for path in (Path(base), Path(new)):
        doc = load_json(path)[1]
        if not (isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list)):
            raise ResultsError(f"{path}: the latency check needs pytest-benchmark JSON with per-round times "
                               "(pytest bench --benchmark-only --benchmark-json FILE --benchmark-save-data)")
        sides.append((round_times(path, doc), pytest_benchmark_meta(doc.get("machine_info"))))
    (base_times, base_meta), (new_times, new_meta) = sides
    checks = [check_case(key, times, new_times.get(key), max_slowdown) for key, times in sorted(base_times.items())]
    return LatencyComparison(max_slowdown, checks, timing_warning(base_meta, new_meta, speed_gated=True))
