"""Plug-ins: the entry points of installed distributions, loaded so that a broken one is a warning, not a crash.

Only installed distributions are searched: the working directory that Python
puts first on ``sys.path`` for ``python -c``, ``python -m`` and the REPL is
not, so a ``*.dist-info`` folder lying in the current directory cannot make
codecbench import (and so run) a module from there. Directories put on
``sys.path`` on purpose (e.g. through PYTHONPATH) are searched.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import warnings
from typing import Any


def installed_entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The entry points of ``group`` of the distributions on ``sys.path`` (the working directory left out);
    where two copies of a distribution are on the path, the first one's, as for imports."""
    paths = list(sys.path)
    if paths and not getattr(sys.flags, "safe_path", False) and _is_working_dir(paths[0]):
        paths = paths[1:]
    seen: set[str] = set()
    found = []
    for dist in importlib.metadata.distributions(path=paths):
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        found += [ep for ep in dist.entry_points if ep.group == group]
    return found


def _is_working_dir(entry: str) -> bool:
    try:
        return entry == "" or os.path.realpath(entry) == os.path.realpath(os.getcwd())
    except OSError:
        return False


def warn_broken(ep: importlib.metadata.EntryPoint, kind: str, problem: str) -> None:
    """One warning line: the ``kind`` plug-in ``ep`` (its name, target and distribution) is left out, and why."""
    dist = f", {ep.dist.name}" if getattr(ep, "dist", None) is not None else ""
    first = problem.strip().splitlines()[0] if problem.strip() else "no reason given"
    warnings.warn(f"{kind} plug-in {ep.name!r} ({ep.value}{dist}) is left out: {first}", stacklevel=3)


def load_entry_points(group: str, kind: str) -> list[tuple[importlib.metadata.EntryPoint, Any]]:
    """Each installed entry point of ``group`` and the object it names; one that fails to load (its module
    missing or raising on import, its attribute absent) is left out with :func:`warn_broken`."""
    loaded = []
    for ep in installed_entry_points(group):
        try:
            loaded.append((ep, ep.load()))
        except Exception as exc:  # a plug-in's own error must not stop codecbench
            warn_broken(ep, kind, f"{type(exc).__name__}: {exc}")
    return loaded
