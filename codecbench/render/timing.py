"""Timing conditions: which rows of a report have times that may be compared.

A record's *condition* is how many codec calls ran at once (``jobs``), the
codec's threads, whether its times were reused from the cache, and, in a
report merged from several files (:class:`Origin`), where it was timed: a
record of unknown ``jobs`` is comparable only within its own file.

:func:`table_note` notes a table whose rows were timed under different
conditions, :func:`tables_note` the tables of one device that were; a report
whose rows share one condition gets neither. The manual: ``docs/reports.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from codecbench.core.results import Record, merged_values


@dataclass(frozen=True)
class Origin:
    """The results file a record was read from: its name, the day(s) of its run(s) and the machine its meta names
    ("" and None: no meta)."""

    file: str
    days: str = ""
    machine: str | None = None


@dataclass(frozen=True)
class Condition:
    """What one record's times were taken under (see the module docstring)."""

    jobs: int | None
    threads: int
    reused: bool
    where: str | None  # the machine (jobs known) or the results file (jobs unknown); None: a report of one run


#: The conditions of one table row: those of its timed images (several when its images were timed differently).
RowConditions = frozenset[Condition]

_ALWAYS_SHOWN = ("jobs", "threads")


def file_origins(files: Sequence[tuple[str | os.PathLike, Mapping[str, Any], Sequence[Record]]]) -> dict[tuple, Origin]:
    """Each record's :class:`Origin` (by :attr:`Record.key`, the last file winning as the readers do) for a report
    over several results files ``(path, meta, records)``; empty for one file (its records share one origin)."""
    if len(files) < 2:
        return {}
    names = [os.path.basename(os.fspath(path)) for path, _, _ in files]
    origins: dict[tuple, Origin] = {}
    for (path, meta, records), name in zip(files, names):
        label = name if names.count(name) == 1 else os.fspath(path)
        days = sorted({d[:10] for d in merged_values(meta.get("date", ""))})
        origin = Origin(_plain(label), _plain(", ".join(days)), _machine(meta))
        for record in records:
            origins[record.key] = origin
    return origins


def _machine(meta: Mapping[str, Any]) -> str | None:
    if not meta.get("cpu"):
        return None
    return _plain(f"{meta.get('machine', '?')}, {meta['cpu']}, {meta.get('cores', '?')} cores")


def _plain(text: str) -> str:
    """``text`` safe inside one markdown line and a code span: no control characters, backticks or pipes."""
    return re.sub(r"[\x00-\x1f\x7f`|]", "?", text)


def condition(record: Record, origin: Origin | None) -> Condition:
    """The condition ``record``'s times were taken under; ``origin``: the file it came from (None: one run)."""
    where = None
    if origin is not None:
        if record.jobs is not None and origin.machine:
            where = f"on {origin.machine}"
        else:
            where = f"from `{origin.file}`" + (f" ({origin.days})" if origin.days else "")
    return Condition(record.jobs, record.threads, bool(record.cached and not record.retimed), where)


def row_conditions(records: Iterable[Record],
                   origins: Mapping[tuple, Origin]) -> dict[tuple[str, str, str], RowConditions]:
    """The conditions of each (dataset, device, spec) row: of its successful records that hold a time (the last
    record per key counts, and equal-rate records are left out, as in :func:`codecbench.analysis.curves.curves`)."""
    latest = {r.key: r for r in records if r.target is None}
    rows: dict[tuple[str, str, str], set[Condition]] = {}
    for r in latest.values():
        if r.ok and (r.enc_s is not None or r.dec_s is not None):
            rows.setdefault((r.dataset, r.device, r.spec), set()).add(condition(r, origins.get(r.key)))
    return {key: frozenset(conds) for key, conds in rows.items()}


def table_note(rows: Sequence[tuple[str, RowConditions]]) -> list[str]:
    """The line under a table whose rows (``(row name, conditions)``, untimed rows with empty conditions) were
    timed under different conditions, after a blank line; ``[]`` when they share one."""
    groups = _groups(rows)
    if len(groups) < 2 and not any(len(conds) > 1 for conds in groups):
        return []
    shown = _shown_fields(groups)
    parts = [f"{_names(names)} with {_describe(conds, shown)}" for conds, names in groups.items()]
    return ["", "Timed under different conditions: " + "; ".join(parts)
            + " — compare these times only within a condition."]


def tables_note(tables: Sequence[tuple[str, Sequence[tuple[str, RowConditions]]]]) -> list[str]:
    """The list after one device's tables when their rows were timed under different conditions, after a blank
    line; ``[]`` when they share one. ``tables``: each codec configuration's name and its rows (as
    :func:`table_note` takes them); a configuration whose rows differ is named once per condition, with its rows."""
    items: list[tuple[str, RowConditions]] = []
    for table, rows in tables:
        groups = _groups(rows)
        if len(groups) == 1:
            items += [(table, conds) for conds in groups]
        else:
            items += [(f"{table} ({_names(names)})", conds) for conds, names in groups.items()]
    groups = _groups(items)
    if len(groups) < 2:
        return []
    shown = _shown_fields(groups)
    out = ["", "**Timing conditions differ between these tables** (and between the curves of the time plots); "
           "compare times only within one condition:", ""]
    out += [f"- {_describe(conds, shown)}: {', '.join(names)}" for conds, names in groups.items()]
    return out


def _groups(rows: Sequence[tuple[str, RowConditions]]) -> dict[RowConditions, list[str]]:
    """Row names by their conditions, in the order of first appearance (untimed rows left out)."""
    groups: dict[RowConditions, list[str]] = {}
    for name, conds in rows:
        if conds:
            groups.setdefault(conds, []).append(name)
    return groups


def _shown_fields(groups: Mapping[RowConditions, list[str]]) -> list[str]:
    """``jobs`` and ``threads``, then each other condition field whose value differs between ``groups``."""
    values = {name: {getattr(c, name) for conds in groups for c in conds} for name in ("reused", "where")}
    return [*_ALWAYS_SHOWN, *(name for name, seen in values.items() if len(seen) > 1)]


def _describe(conds: RowConditions, shown: Sequence[str]) -> str:
    """``conds`` in words, field by field (``jobs 1 and 2`` where a row mixes them)."""
    parts = []
    for name in shown:
        values = sorted({getattr(c, name) for c in conds}, key=lambda v: (v is None, str(v)))
        if name in _ALWAYS_SHOWN:
            parts.append(f"{name} " + " and ".join("unknown" if v is None else str(v) for v in values))
        elif name == "reused":
            parts.append(" and ".join("timings reused from the results cache" if v else "timed in the run"
                                      for v in values))
        else:
            parts.append(" and ".join(v or "in this run" for v in values))
    return ", ".join(parts)


def _names(names: Sequence[str]) -> str:
    """Row names joined: ``quality=1, 2, 3`` when every name sets the same knob, else ``a, b``."""
    knobs = {name.split("=", 1)[0] for name in names}
    if len(knobs) == 1 and all("=" in name for name in names):
        return f"{knobs.pop()}=" + ", ".join(name.split("=", 1)[1] for name in names)
    return ", ".join(names)
