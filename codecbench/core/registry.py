"""One registry helper for every kind of named thing: codecs, metrics, datasets, trainable models, renderers.

A :class:`Registry` maps names to things of one kind. Code registers them explicitly with ``register`` (a class
decorator, as timm's ``register_model``, or a call for an instance); installed distributions add them through the
kind's entry-point group, each entry point naming one thing, a sequence of them or a module that registers them
when imported, all loaded through :mod:`codecbench.core.plugins` (a broken one is one warning and left out).

Why built-ins are imported lazily: the modules that define a kind's built-ins are declared with
:func:`declare_builtins` (by the registry's own layer, or, for modules of higher layers, by the package root
``codecbench/__init__.py``, the one module that may name every layer) and imported in the declared order, cheapest
first, only as far as a lookup needs, all of them only when every name is listed. The learned codecs and trainable
models import torch, seconds and hundreds of MB that a classical sweep or a report must not pay: that is the reason.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import sys
import threading
import types
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, Generic, ItemsView, Iterator, Sequence, TypeVar, ValuesView

from codecbench.core.errors import CodecbenchError
from codecbench.core.plugins import load_entry_points, warn_broken

T = TypeVar("T")

#: kind → the modules that define its built-ins, in lookup order (see the module docstring)
_BUILTINS: dict[str, tuple[str, ...]] = {}


def declare_builtins(kind: str, *modules: str) -> None:
    """Add ``modules`` (importable names, cheapest first) to those that define the built-ins of the registry of
    ``kind``; each is imported the first time a lookup needs it."""
    _BUILTINS[kind] = tuple(dict.fromkeys(_BUILTINS.get(kind, ()) + modules))


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered thing: its name, the thing, the module it came from and, for a plug-in, the distribution
    whose entry point added it (None for one registered by code)."""

    name: str
    obj: T
    module: str
    plugin: str | None = None


class Registry(Generic[T]):
    """The named things of one ``kind`` (a singular noun: ``"codec"``).

    ``base``: what may be registered, its subclasses (or, with ``instances=True``, its instances). ``group``: the
    entry-point group of plug-ins (None: no plug-ins). ``key``: a thing's name. ``check``: the kind's own
    validation, raising CodecbenchError. ``error``: the CodecbenchError subclass raised for an unknown name.
    ``sort``: list names alphabetically (else in registration order: built-ins first, then plug-ins).
    """

    def __init__(self, kind: str, base: type, *, instances: bool = False, group: str | None = None,
                 key: Callable[[Any], str] = attrgetter("name"), check: Callable[[Any], None] | None = None,
                 error: type[CodecbenchError] = CodecbenchError, sort: bool = False) -> None:
        self.kind, self.plural, self.base, self.group = kind, kind + "s", base, group
        self.expects = f"a {base.__name__}" if instances else f"a {base.__name__} class"
        self._instances, self._key, self._check, self._error, self._sort = instances, key, check, error, sort
        self._entries: dict[str, Entry[T]] = {}
        self._imported: set[str] = set()
        self._plugins_loaded = group is None
        self._loading = 0  # > 0 while built-ins or plug-ins load: what registers then is no test's scratch
        self._lasting: set[str] = set()
        self._lock = threading.RLock()
        self._snapshot: tuple[tuple[Entry[T], ...], dict[str, T]] | None = None  # see _snapshots

    # -- registering ----------------------------------------------------------------
    def register(self, obj: T, *, module: str | None = None) -> T:
        """Add ``obj`` under its name; return it, so that ``@registry.register`` decorates a class.

        ``module``: where it came from; by default the module that defines a class or function, or the one that
        registers an instance. Registering the same class (or an instance from the same module) again replaces
        it (a reloaded module). TypeError for a thing of another kind; CodecbenchError for a name another thing
        already has, or a thing the kind's check refuses.
        """
        if module is None:
            function = isinstance(obj, (type, types.FunctionType))
            module = obj.__module__ if function else sys._getframe(1).f_globals.get("__name__", "?")
        self._add(obj, module, None)
        return obj

    def _add(self, obj: T, module: str, plugin: str | None) -> None:
        if not self._accepts(obj):
            raise TypeError(f"a {self.kind} is {self.expects}, not an object of type {type(obj).__name__}")
        try:
            name = self._key(obj)
        except AttributeError:
            name = None
        if not isinstance(name, str) or not name:
            raise CodecbenchError(f"{self.kind} {obj!r} has no name (a non-empty string)")
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None and (existing.module, _qualname(existing.obj)) != (module, _qualname(obj)):
                raise CodecbenchError(f"two {self.plural} are named {name!r}: {existing.module} and {module}")
            if self._check is not None:
                self._check(obj)
            self._entries[name] = Entry(name, obj, module, plugin)
            self._snapshot = None
            if self._loading:
                self._lasting.add(name)

    def _accepts(self, obj: Any) -> bool:
        if self._instances:
            return isinstance(obj, self.base)
        return isinstance(obj, type) and issubclass(obj, self.base)

    # -- looking up -----------------------------------------------------------------
    def get(self, name: str) -> T:
        """The thing registered as ``name``. Built-in modules are imported only until it is registered, the
        plug-ins loaded only if it is none of them; ``error`` naming the close and the known names otherwise."""
        entry = self._find(name)
        if entry is None:
            raise self.unknown(name)
        return entry.obj

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def _find(self, name: str) -> Entry[T] | None:
        entry = self._entries.get(name)
        if entry is not None:  # the common case, lock-free: records and reports look names up per value
            return entry
        with self._lock:
            self._import_builtins(until=name)
            if name not in self._entries:
                self._load_plugins()
            return self._entries.get(name)

    def unknown(self, name: str, *, also: Sequence[str] = (), note: str = "") -> CodecbenchError:
        """The error for an unknown ``name``: the close names, then every known one (and ``also``, then ``note``)."""
        known = [*self.names(), *also]
        close = [repr(c) for c in difflib.get_close_matches(name, known, n=3, cutoff=0.6)]
        either = ", ".join(close[:-1]) + " or " + close[-1] if len(close) > 1 else "".join(close)
        hint = f" (did you mean {either}?)" if close else ""
        return self._error(f"unknown {self.kind} {name!r}{hint}; known {self.plural}: {', '.join(known) or 'none'}"
                           + note)

    # -- listing --------------------------------------------------------------------
    def entries(self, pattern: str = "*") -> list[Entry[T]]:
        """Every registered thing whose name matches the shell-style ``pattern`` (``"jpeg*"``), with the module
        (and plug-in distribution) it came from; imports every built-in module and loads the plug-ins."""
        return [e for e in self._snapshots()[0] if pattern == "*" or fnmatch.fnmatchcase(e.name, pattern)]

    def names(self, pattern: str = "*") -> list[str]:
        """The names of :meth:`entries`."""
        return [e.name for e in self.entries(pattern)]

    def items(self) -> ItemsView[str, T]:
        """(name, thing) of every registered thing, in listing order."""
        return self._snapshots()[1].items()

    def values(self) -> ValuesView[T]:
        """Every registered thing, in listing order."""
        return self._snapshots()[1].values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshots()[1])

    def _snapshots(self) -> tuple[tuple[Entry[T], ...], dict[str, T]]:
        """Every entry in listing order and the name → thing table, everything loaded; kept until the next
        registration (records check their values against the metrics, one listing per record)."""
        snapshot = self._snapshot
        if snapshot is None or not (self._plugins_loaded and self._imported.issuperset(_BUILTINS.get(self.kind, ()))):
            with self._lock:
                self._import_builtins(until=None)
                self._load_plugins()
                entries = self._entries.values()
                listing = tuple(sorted(entries, key=attrgetter("name")) if self._sort else entries)
                snapshot = self._snapshot = (listing, {e.name: e.obj for e in listing})
        return snapshot

    # -- loading --------------------------------------------------------------------
    def _import_builtins(self, until: str | None) -> None:
        for module in _BUILTINS.get(self.kind, ()):
            if until is not None and until in self._entries:
                return
            if module not in self._imported:
                self._imported.add(module)
                with self._loading_scope():
                    try:
                        importlib.import_module(module)
                    except BaseException:
                        self._imported.discard(module)  # the next lookup meets the same error, not a missing name
                        raise

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        with self._loading_scope():
            for ep, loaded in load_entry_points(self.group, self.kind):
                self._add_plugin(ep, loaded)

    def _add_plugin(self, ep: importlib.metadata.EntryPoint, loaded: Any) -> None:
        """Register what one entry point names; anything unusable is one warning naming the entry point."""
        if isinstance(loaded, types.ModuleType):
            prefix = loaded.__name__ + "."
            if not any(e.module == loaded.__name__ or e.module.startswith(prefix) for e in self._entries.values()):
                warn_broken(ep, self.kind, f"its module registers no {self.kind}")
            return
        dist = ep.dist.name if getattr(ep, "dist", None) is not None else None
        for thing in list(loaded) if isinstance(loaded, (list, tuple)) and loaded else [loaded]:
            if not self._accepts(thing):
                warn_broken(ep, self.kind, f"it names an object of type {type(thing).__name__}, not {self.expects} "
                                           "or a module")
                continue
            try:
                self._add(thing, ep.module, dist)
            except CodecbenchError as exc:
                warn_broken(ep, self.kind, str(exc))

    @contextmanager
    def _loading_scope(self) -> Iterator[None]:
        self._loading += 1
        try:
            yield
        finally:
            self._loading -= 1

    @contextmanager
    def restoring(self) -> Iterator[Registry[T]]:
        """A block in which tests may register freely: on leaving it, what the block registered is gone again
        (built-ins and plug-ins that loaded meanwhile stay, and a name it replaced has its old thing back)."""
        with self._lock:
            saved = dict(self._entries)
        try:
            yield self
        finally:
            with self._lock:
                self._entries = {name: saved.get(name, entry) for name, entry in self._entries.items()
                                 if name in saved or name in self._lasting}
                self._snapshot = None


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__
