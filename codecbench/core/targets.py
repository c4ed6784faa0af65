"""Equal-rate and equal-quality targets: what ``codecbench run --target-bpp 0.25`` searches a rate knob to.

A target names the metric the search controls and its value, written
``bpp=0.25`` or ``psnr=35`` (PSNR in dB over the RGB channels). A record
measured at a target carries that text in ``Record.target``; the value it
reached is the record's own ``bpp`` or ``psnr``.

The search (:mod:`codecbench.engine.rate_search`) stops early once the
reached value is within :data:`TOLERANCE` of the target: within 1 % of the
target rate, or 0.05 dB of the target PSNR.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

from codecbench.core.codec import Spec
from codecbench.core.errors import OptionError, SpecError

#: The metrics a target can name.
METRICS = ("bpp", "psnr")
#: How close a reached value counts as on target: relative for bpp, dB for PSNR.
TOLERANCE = {"bpp": 0.01, "psnr": 0.05}
#: The most evaluations (encodes) a float knob's search makes, the two ends included.
MAX_FLOAT_EVALUATIONS = 12
_TEXT = re.compile(r"(bpp|psnr)=(\S+)")


@dataclass(frozen=True)
class Target:
    """One target: ``metric`` (``"bpp"`` or ``"psnr"``) and its positive, finite ``value``."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise OptionError(f"a target names one of {', '.join(METRICS)}, not {self.metric!r}")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise OptionError(f"a {self.metric} target must be a positive number, not {self.value!r}")

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g}"

    @classmethod
    def parse(cls, text: str) -> Target:
        """The target written ``bpp=0.25`` or ``psnr=35``; :class:`OptionError` for anything else."""
        match = _TEXT.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise OptionError(f"a target is written bpp=NUMBER or psnr=NUMBER, not {text!r}")
        return cls(match.group(1), _number(match.group(2), match.group(1)))

    def distance(self, reached: float) -> float:
        """How far ``reached`` is from the target: |log(reached / value)| for bpp, |reached − value| dB for PSNR."""
        if self.metric == "bpp":
            return abs(math.log(reached / self.value)) if reached > 0 else math.inf
        return abs(reached - self.value)

    def reached(self, value: float) -> bool:
        """Whether ``value`` is on target, within :data:`TOLERANCE`."""
        if self.metric == "bpp":
            return abs(value - self.value) <= TOLERANCE["bpp"] * self.value
        return abs(value - self.value) <= TOLERANCE["psnr"]


def _number(text: str, metric: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise OptionError(f"a {metric} target must be a positive number, not {text!r}") from None


def parse_targets(values: str, metric: str) -> list[Target]:
    """``"0.25,0.5,1"`` for ``metric`` → its targets in the order given, without repeats; :class:`OptionError`
    for an empty list or a value that is not a positive number (``--target-bpp 0``, ``--target-psnr nan``)."""
    texts = [v.strip() for v in values.split(",") if v.strip()]
    if not texts:
        raise OptionError(f"--target-{metric}: no value given (e.g. --target-{metric} "
                          f"{'0.25,0.5,1' if metric == 'bpp' else '30,35'})")
    return list(dict.fromkeys(Target(metric, _number(t, metric)) for t in texts))


def targets_of(values: Mapping[str, str | None]) -> list[Target]:
    """The targets of ``--target-bpp`` and ``--target-psnr`` (``values``: metric → the option's text, None where it
    is not given), bpp first; none: a sweep. :class:`OptionError` as :func:`parse_targets`."""
    return [t for metric in METRICS if values.get(metric) is not None for t in parse_targets(values[metric], metric)]


def configuration(spec: str, knob: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The codec configuration a target run searches: the spec's codec name and every setting but the rate knob
    ``knob``, sorted (a spec this version cannot parse: its text before ``:``, no settings)."""
    try:
        parsed = Spec.parse(spec)
    except SpecError:
        return spec.partition(":")[0], ()
    return parsed.name, tuple(sorted((k, v) for k, v in parsed.raw.items() if k != knob))
