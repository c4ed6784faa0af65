"""Speed goals of the harness's own benchmarks: figures in the report, never assertions.

A benchmark that has a goal (report generation under 10 s, an MLP round trip
under 10 s per image, result storage under 5 % of a run) records it with the
``speed_goal`` fixture of the codecbench pytest plugin: the goal, the
measured figure and whether it was met go into the benchmark's
``extra_info["goals"]`` and onto one line each in the session's "speed goals"
section. A busy machine can miss a goal; it never fails a benchmark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SpeedGoal:
    """A measured figure against its goal: ``measured`` must stay below ``goal`` (above it if
    ``higher_is_better``); ``unit`` as printed (``s``, ``%``)."""

    what: str
    measured: float
    goal: float
    unit: str = "s"
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.measured >= self.goal if self.higher_is_better else self.measured < self.goal

    def line(self) -> str:
        """One line: what, the measured figure, the goal, met or not."""
        sign = "≥" if self.higher_is_better else "<"
        return (f"{self.what}: {self.measured:.3g} {self.unit} (goal {sign} {self.goal:g} {self.unit}): "
                f"{'met' if self.met else 'NOT met'}")

    def as_dict(self) -> dict:
        return {**asdict(self), "met": self.met}
