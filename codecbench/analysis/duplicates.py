"""Records that one input holds more than once: found and described, never resolved silently.

The regression gate reads each input with :func:`collapse_duplicates`:
copies of a record identity (spec, dataset, image, device) that agree in
every field are one record (and said so); copies that disagree are a
conflict, which the gate reports as a failure naming the fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from codecbench.core.results import Record


@dataclass(frozen=True)
class Duplicate:
    """A record identity that one input holds ``copies`` times; ``differing``: the fields on which the copies
    disagree (empty for identical copies)."""

    key: tuple[str, str, str, str]  # (spec, dataset, image, device), as Record.key
    copies: int
    differing: tuple[str, ...] = ()

    @property
    def conflicting(self) -> bool:
        return bool(self.differing)


def differing_fields(copies: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The keys, sorted, whose values are not the same in every one of ``copies`` (a missing key counts as None)."""
    keys = {k for c in copies for k in c}
    return tuple(sorted(k for k in keys if any(c.get(k) != copies[0].get(k) for c in copies[1:])))


def collapse_duplicates(records: Sequence[Record], *, keep_last: bool = False) -> tuple[list[Record], list[Duplicate]]:
    """One record per key, in first-seen order, and a :class:`Duplicate` for each key held more than once.

    Identical copies collapse into one; of conflicting copies the first is
    kept, so that a caller that fails on the conflict can still show it
    (``keep_last``: the last, as the readers of results files keep a later
    measurement, e.g. ``codecbench report`` of several files).
    """
    groups: dict[tuple, list[Record]] = {}
    for record in records:
        groups.setdefault(record.key, []).append(record)
    duplicates = [Duplicate(key, len(group), differing_fields([r.to_json() for r in group]))
                  for key, group in groups.items() if len(group) > 1]
    return [group[-1 if keep_last else 0] for group in groups.values()], duplicates


#: how many conflicting duplicates :func:`describe_duplicates` names before it only counts the rest
NAMED_CONFLICTS = 3


def describe_duplicates(duplicates: Sequence[Duplicate], kept: str) -> str:
    """One line: how many records were held more than once and collapsed (``kept``: which copy stayed, e.g.
    "the later copy kept"), naming the first :data:`NAMED_CONFLICTS` conflicting ones and the fields they differ in."""
    conflicts = [d for d in duplicates if d.conflicting]
    text = f"{len(duplicates)} record(s) held more than once were collapsed, {kept}"
    if not conflicts:
        return text + " (the copies were identical)"
    named = "; ".join(f"{d.key[0]} {d.key[1]}/{d.key[2]} ({d.copies} copies differ in {', '.join(d.differing)})"
                      for d in conflicts[:NAMED_CONFLICTS])
    more = len(conflicts) - NAMED_CONFLICTS
    return f"{text}; {len(conflicts)} conflicting: {named}" + (f" and {more} more" if more > 0 else "")
