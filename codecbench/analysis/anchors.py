"""Which configuration an ``--anchor`` name picks: one rule for every part of a report.

The BD-rate tables, the summary lines, the plots, the "How sure" intervals and
the equal-rate tables all resolve a name with :func:`pick_anchor`, so they
compare against the same configuration:

1. the configuration whose label is the name (a measured curve before a
   reference curve of the same label);
2. else, of the measured configurations of the codec the name is, the first
   label in sort order, those on the CPU first: ``--anchor jpeg`` with
   ``jpeg[subsampling=4:2:0]`` and ``jpeg[subsampling=4:4:4]`` picks the
   4:2:0 one. Naming a label (``--anchor 'jpeg[subsampling=4:4:4]'``) picks
   another; every table names the configuration it is against.

The manual: ``docs/reports.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, TypeVar


class Candidate(Protocol):
    """What the rule reads of a configuration (a :class:`~codecbench.analysis.curves.Curve` has it)."""

    @property
    def label(self) -> str: ...

    @property
    def codec(self) -> str: ...

    @property
    def device(self) -> str: ...

    @property
    def reference(self) -> bool: ...


C = TypeVar("C", bound=Candidate)


@dataclass(frozen=True)
class Configuration:
    """A measured configuration that is not a curve (an equal-rate table's row), as a :class:`Candidate`."""

    label: str
    codec: str
    device: str
    reference: bool = False


def pick_anchor(candidates: Iterable[C], name: str) -> C | None:
    """The candidate ``name`` picks by the module's rule; None when it is no candidate's label or codec."""
    items = list(candidates)
    labelled = [c for c in items if c.label == name]
    if labelled:
        return min(labelled, key=lambda c: c.reference)  # a measured curve before a reference of the same label
    named = [c for c in items if c.codec == name and not c.reference]
    return min(named, key=lambda c: (c.device != "cpu", c.label), default=None)
