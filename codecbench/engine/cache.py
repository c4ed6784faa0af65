"""A content-addressed cache of per-image measurements (SQLite).

An entry holds what the runner measured for one codec configuration on one
image (size, bpp, metrics, timings with their threads and repeats). Its key
(:mod:`codecbench.engine.cache_entry`) hashes the codec's identity, versions
and code, the device, the image's pixels and the measuring code, so any change
in what is measured or how is a miss, never stale numbers. An entry that is
damaged, edited or impossible is never reused; an unreadable database is a
:class:`CacheError`.

One SQLite database in WAL mode, each write its own transaction, so parallel
processes share it safely. Location: ``cache.sqlite`` under
``$CODECBENCH_CACHE``, else ``$XDG_CACHE_HOME/codecbench`` (``~/.cache/codecbench``).
The manual: ``docs/results.md``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import sqlite3
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from codecbench.core.errors import CacheError, ResultsError
from codecbench.engine.cache_entry import (
    MEASURED_FIELDS,
    cache_key,
    check_entry,
    codec_identity,
    entry_text,
    identity,
    image_digest,
    read_entry,
)

ENV = "CODECBENCH_CACHE"
CACHE_FILE = "cache.sqlite"
#: what every error about a damaged cache file tells the user to do
REMEDY = "`codecbench cache clear` removes a damaged cache"
_REUSABLE = frozenset(MEASURED_FIELDS)
T = TypeVar("T")

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    codec TEXT NOT NULL,
    spec TEXT NOT NULL,
    device TEXT NOT NULL,
    image TEXT NOT NULL,
    identity TEXT NOT NULL,
    measurements TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_codec ON entries (codec);
"""
_INSERT = "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def default_cache_path() -> Path:
    """``$CODECBENCH_CACHE/cache.sqlite``, else ``$XDG_CACHE_HOME/codecbench/cache.sqlite`` (``~/.cache/...``).

    ``$CODECBENCH_CACHE`` names codecbench's cache *folder*, shared with the
    datasets' verified markers (``verified/``).
    """
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser() / CACHE_FILE
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "codecbench" / CACHE_FILE


class ResultsCache:
    """Per-image measurements keyed by codec identity and code, image pixels and device.

    ``image`` arguments take an array or a precomputed :func:`image_digest`
    (hash each image once when it is run through many codecs). Any SQLite
    failure (a file that is not a database, a malformed page) is a
    :class:`CacheError` naming the file and the remedy.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        #: id(codec) -> its part of every key (library versions, code digest), computed once per living codec
        self._codec_parts: dict[int, dict[str, Any]] = {}

    # -- connection ------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.text_factory = bytes  # text a damaged page turned into invalid UTF-8 is read, then refused
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = self._enter_wal(conn)
            if _text(mode).lower() != "wal":  # e.g. a file system without shared memory: still transactional
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            statements = filter(None, map(str.strip, _SCHEMA_SQL.split(";")))
            self._transaction(conn, lambda c: [c.execute(statement) for statement in statements])
        except (sqlite3.Error, UnicodeDecodeError, OSError) as exc:  # the error text may quote damaged bytes
            raise CacheError(f"results cache {self.path} is unusable ({_one_line(exc)}); {REMEDY}") from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _enter_wal(self, conn: sqlite3.Connection) -> bytes | str:
        """Switch to WAL mode and return the mode SQLite reports.

        The switch takes an exclusive lock and SQLite does not call the busy handler for it, so processes
        opening a new cache at once would get "database is locked" at once: retry until ``timeout``.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (a damaged page)
                conn.execute("ROLLBACK")
            raise
        return result

    @contextlib.contextmanager
    def _db(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; an SQLite error in the block is a :class:`CacheError` naming ``what``."""
        with self._lock:
            try:
                yield self._connect()
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise CacheError(f"results cache {self.path}: {what} failed ({_one_line(exc)}); {REMEDY}") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> ResultsCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- entries ---------------------------------------------------------
    def identity(self, codec: Any, image: np.ndarray | str, device: str | None = None) -> dict[str, Any] | None:
        """What the key of ``codec`` on ``image`` is made of; None for a codec whose code has no source file
        (never cached)."""
        part = self._codec_parts.get(id(codec))
        if part is None:
            part = codec_identity(codec)
            with contextlib.suppress(TypeError):  # an object without weak references: computed each time
                weakref.finalize(codec, self._codec_parts.pop, id(codec), None)  # before its id can be reused
                self._codec_parts[id(codec)] = part
        if part["code"] is None:
            return None
        return identity(part, image if isinstance(image, str) else image_digest(image), device or codec.device)

    def key(self, codec: Any, image: np.ndarray | str, device: str | None = None) -> str | None:
        ident = self.identity(codec, image, device)
        return None if ident is None else cache_key(ident)

    def get(self, codec: Any, image: np.ndarray | str, device: str | None = None) -> dict[str, Any] | None:
        """The cached measurements of ``codec`` on ``image``, or None.

        :class:`ResultsError` when the entry is damaged (:func:`read_entry`), :class:`CacheError` when the
        database cannot be read.
        """
        key = self.key(codec, image, device)
        if key is None:
            return None
        with self._db("read") as conn:
            row = conn.execute("SELECT measurements FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else read_entry(row[0], key)

    def put(self, codec: Any, image: np.ndarray | str, device: str | None, measurements: dict[str, Any]) -> None:
        """Store (or replace) the measurements of ``codec`` on ``image``; one transaction.

        :class:`ResultsError` for a value JSON cannot hold (NaN, ±Infinity); nothing is stored for a codec
        without source (see :meth:`identity`).
        """
        device = device or codec.device
        ident = self.identity(codec, image, device)
        if ident is None:
            return
        key = cache_key(ident)
        try:
            text = entry_text(measurements, key)
        except ValueError as exc:
            raise ResultsError(f"cannot cache {codec.spec}: {exc}") from None
        row = (key, codec.name, codec.spec, device, ident["image"], json.dumps(ident, sort_keys=True),
               text, time.time())
        with self._db("write") as conn:
            self._transaction(conn, lambda c: c.execute(_INSERT, row))

    def clear(self, codec: str | None = None) -> int:
        """Delete every entry (or those of one codec name); return how many were deleted."""
        sql, args = ("DELETE FROM entries", ()) if codec is None else ("DELETE FROM entries WHERE codec = ?", (codec,))
        with self._db("clear") as conn:
            n = self._transaction(conn, lambda c: c.execute(sql, args).rowcount)
            if codec is None:
                conn.execute("VACUUM")
        return n

    def stats(self) -> dict[str, Any]:
        """Entry counts (total and per codec) and the file size."""
        with self._db("read") as conn:
            rows = conn.execute("SELECT codec, COUNT(*) FROM entries GROUP BY codec").fetchall()
        size = sum(p.stat().st_size for p in self._files() if p.exists())
        by_codec = dict(sorted((_text(c), int(n)) for c, n in rows))
        return {"path": str(self.path), "entries": sum(by_codec.values()), "by_codec": by_codec, "bytes": size}

    def check(self) -> str | None:
        """What SQLite's ``quick_check`` finds wrong with the file (O(file size)), or None when it is sound."""
        with self._db("check") as conn:
            found = [_text(row[0]) for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
        return None if found == ["ok"] else "; ".join(found)

    def __len__(self) -> int:
        return int(self.stats()["entries"])

    def _files(self) -> list[Path]:
        return [self.path, self.path.with_name(self.path.name + "-wal"), self.path.with_name(self.path.name + "-shm")]

    def remove(self) -> bool:
        """Delete the database files (for a cache too damaged to open); True if something was removed."""
        self.close()
        removed = False
        for p in self._files():
            try:
                p.unlink()
                removed = True
            except FileNotFoundError:
                pass
        return removed


def _one_line(exc: BaseException) -> str:
    """An SQLite error message on one line (it may quote a damaged schema's text, newlines included)."""
    return " ".join(str(exc).split())[:200]


def _text(value: Any) -> str:
    """A text column read as bytes (see ``text_factory``), decoded for display."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- use by the runner ---------------------------------------------------------
#: bookkeeping stored with a measurement: the conditions its timings were taken under
_CONDITIONS = ("threads", "repeats", "machine", "jobs")


@functools.lru_cache(maxsize=1)
def machine_id() -> str:
    """A fingerprint of this machine (host, CPU, core count): cached timings are reused only on it."""
    text = "|".join([platform.node(), platform.machine(), platform.processor(), str(os.cpu_count())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Hit:
    """A cache hit: the measurements to reuse, whether the timings must be taken again, and the concurrency
    (``jobs``) its timings were taken with."""

    measurements: dict[str, Any]
    needs_timing: bool
    jobs: int | None = None

    def fields(self, times: dict[str, Any] | None = None) -> dict[str, Any]:
        """The record fields of this hit: its measurements, ``cached``, and either the reused timings' ``jobs``
        or ``times`` (``enc_s``, ``dec_s``) measured again (``retimed``)."""
        if times is None:
            return {**self.measurements, "cached": True, "retimed": False, "jobs": self.jobs}
        return {**self.measurements, **times, "cached": True, "retimed": True}


class RunCache:
    """The runner's view of a :class:`ResultsCache`.

    :meth:`lookup` before encoding, :meth:`store` after measuring. Bitstream
    size and quality metrics of a hit are reused; its timings are reused too
    unless ``retime`` is set or they were taken with another thread count,
    repeat count, number of concurrent ``jobs`` or on another machine, in which
    case the runner times the codec again (and checks that it still writes the
    cached number of bytes). An entry that is damaged or impossible
    (:func:`check_entry`) is a miss; the first is reported, the rest counted
    (:attr:`bad`). A cache that fails (unreadable, not a database) is reported
    once and switched off: the run goes on.
    """

    def __init__(self, cache: ResultsCache, *, retime: bool = False, repeats: int = 1, jobs: int = 1) -> None:
        self.cache = cache
        self.retime = retime
        self.repeats = repeats
        self.jobs = jobs
        self.hits = self.misses = self.retimed = self.bad = 0
        #: misses on an entry that lacks, or may not lend, a metric asked for now: an opt-in metric is
        #: never reused (:data:`MEASURED_FIELDS`), so a run asking for one measures every image again
        self.incomplete = 0
        self.disabled = False
        self._last: tuple[np.ndarray, str] | None = None

    def _digest(self, image: np.ndarray) -> str:
        if self._last is not None and self._last[0] is image:
            return self._last[1]
        digest = image_digest(image)
        self._last = (image, digest)  # keeps the array alive, so identity cannot be reused
        return digest

    def _failed(self, exc: CacheError) -> None:
        self.disabled = True
        print(f"codecbench: warning: {exc}; continuing without the cache", file=sys.stderr)

    def _bad_entry(self, codec: Any, problem: ResultsError) -> None:
        self.bad += 1
        if self.bad == 1:
            print(f"codecbench: warning: results cache {self.cache.path}: ignoring a bad entry for {codec.spec} "
                  f"({problem}); measuring again (further bad entries are counted in the summary)", file=sys.stderr)

    def lookup(self, codec: Any, image: np.ndarray, metrics: Iterable[str] = ()) -> Hit | None:
        """The entry of ``codec`` on ``image`` to reuse, or None (a miss): none is stored, it is damaged or
        impossible, or one of ``metrics`` (the metric names this run computes) is not among its reusable
        fields."""
        if self.disabled:
            return None
        found = None
        try:
            found = self.cache.get(codec, self._digest(image))
            if found is not None:
                check_entry(found, codec, image.shape)
        except CacheError as exc:
            self._failed(exc)
            return None
        except ResultsError as exc:
            self._bad_entry(codec, exc)
            found = None
        if found is not None and not set(metrics) <= found.keys() & _REUSABLE:
            self.incomplete += 1
            found = None
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        conditions = {"threads": codec.threads, "repeats": self.repeats, "machine": machine_id(), "jobs": self.jobs}
        needs_timing = self.retime or any(found.get(k) != v for k, v in conditions.items())
        self.retimed += needs_timing
        return Hit({k: v for k, v in found.items() if k in MEASURED_FIELDS}, needs_timing, found.get("jobs"))

    def store(self, codec: Any, image: np.ndarray, measured: dict[str, Any]) -> None:
        """Cache ``measured`` (with the conditions of its timings) unless it is not a valid measurement."""
        if self.disabled:
            return
        entry = {**{k: v for k, v in measured.items() if k not in _CONDITIONS},
                 "threads": codec.threads, "repeats": self.repeats, "machine": machine_id(), "jobs": self.jobs}
        try:
            check_entry(entry, codec, image.shape)
            self.cache.put(codec, self._digest(image), codec.device, entry)
        except ResultsError:
            return  # the runner's record says what is wrong with it; the cache keeps real measurements only
        except CacheError as exc:
            self._failed(exc)

    def summary(self) -> str:
        text = f"cache {self.cache.path}: {self.hits} hits, {self.misses} misses"
        if self.hits:
            text += f" ({self.retimed} re-timed)" if self.retimed else " (timings reused; --retime to measure again)"
        if self.incomplete:
            text += (f"; {self.incomplete} of the misses were entries without a reusable value of a metric asked for "
                     "(opt-in metrics are always measured again)")
        if self.bad:
            text += f"; {self.bad} bad entr{'y' if self.bad == 1 else 'ies'} ignored and measured again"
        return text + (" — disabled after an error" if self.disabled else "")
