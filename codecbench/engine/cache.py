"""A content-addressed cache of per-image measurements (SQLite).

An entry holds what the runner measured for one codec configuration on one
image: bitstream size, bpp, quality metrics, and the timings with the thread
count and repeats they were taken with. Its key is the SHA-256 of:

- the codec's registry name, its ``version`` and its canonical spec (every
  setting, defaults filled in);
- the versions of the libraries that produce its bits
  (``codec.library_versions()``);
- the device;
- the image's pixel hash: SHA-256 of shape, dtype and pixel bytes, so a
  renamed or re-encoded-but-identical file hits, and any changed pixel misses;
- the cache schema, the codecbench version, the result record's fields and the
  metric library's version, so that a change in what is measured or how
  metrics are computed never serves stale numbers.

The store is one SQLite database in WAL mode; every write is its own
``BEGIN IMMEDIATE`` transaction and readers never block writers, so several
processes (parallel runs, pytest-xdist workers) can share it safely.

Location: ``cache.sqlite`` in codecbench's cache folder: ``$CODECBENCH_CACHE``
if set (the folder the datasets' verified markers use too), else
``$XDG_CACHE_HOME/codecbench`` (``~/.cache/codecbench``). The data folder is
not used: it may be a read-only shared copy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import codecbench
from codecbench.core.errors import CacheError, ResultsError

CACHE_SCHEMA = 1
ENV = "CODECBENCH_CACHE"
CACHE_FILE = "cache.sqlite"

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


def image_digest(image: np.ndarray) -> str:
    """SHA-256 of an image's shape, dtype and pixel bytes (C order)."""
    h = hashlib.sha256()
    h.update(f"{tuple(image.shape)}|{image.dtype.str}|".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def _metric_versions() -> dict[str, str]:
    from dataclasses import fields

    from codecbench.core.results import SCHEMA_VERSION, SOURCE_FIELDS, Record

    # a change in the record's fields (a metric added or renamed) must not serve entries without it;
    # the source-file fields are not measurements (the runner sets them from the dataset item), so not cached
    record_fields = ",".join(sorted(f.name for f in fields(Record) if f.name not in SOURCE_FIELDS))
    out = {
        "codecbench": codecbench.__version__,
        "cache-schema": str(CACHE_SCHEMA),
        "record-schema": f"{SCHEMA_VERSION}:{hashlib.sha256(record_fields.encode()).hexdigest()[:12]}",
    }
    import cv2  # the metrics' filters and sums (codecbench.core.metrics)

    out["opencv"] = cv2.__version__
    return out


_METRIC_VERSIONS: dict[str, str] | None = None


def identity(codec: Any, digest: str, device: str) -> dict[str, Any]:
    """Everything an entry's key is made of (stored with the entry for inspection)."""
    global _METRIC_VERSIONS
    if _METRIC_VERSIONS is None:
        _METRIC_VERSIONS = _metric_versions()
    return {
        "codec": codec.name,
        "codec_version": str(getattr(codec, "version", "")),
        "spec": codec.spec,
        "libraries": {str(k): str(v) for k, v in sorted(codec.library_versions().items())},
        "device": device,
        "image": digest,
        "measured_by": _METRIC_VERSIONS,
    }


def cache_key(ident: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ResultsCache:
    """Per-image measurements keyed by codec identity, image pixels and device.

    ``image`` arguments take an array or a precomputed :func:`image_digest`
    (hash each image once when it is run through many codecs).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1

    # -- connection ------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a file system without shared memory: still transactional
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(None, (x.strip() for x in _SCHEMA_SQL.split(";"))):
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except (sqlite3.DatabaseError, OSError) as exc:
            raise CacheError(
                f"results cache {self.path} is unusable ({exc}); run `codecbench cache clear` or remove the file"
            ) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

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
    def key(self, codec: Any, image: np.ndarray | str, device: str | None = None) -> str:
        digest = image if isinstance(image, str) else image_digest(image)
        return cache_key(identity(codec, digest, device or codec.device))

    def get(self, codec: Any, image: np.ndarray | str, device: str | None = None) -> dict[str, Any] | None:
        """The cached measurements of ``codec`` on ``image``, or None."""
        key = self.key(codec, image, device)
        with self._lock:
            try:
                row = self._connect().execute("SELECT measurements FROM entries WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"results cache {self.path}: read failed ({exc})") from None
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, codec: Any, image: np.ndarray | str, device: str | None, measurements: dict[str, Any]) -> None:
        """Store (or replace) the measurements of ``codec`` on ``image``; one transaction."""
        digest = image if isinstance(image, str) else image_digest(image)
        device = device or codec.device
        ident = identity(codec, digest, device)
        row = (
            cache_key(ident),
            codec.name,
            codec.spec,
            device,
            digest,
            json.dumps(ident, sort_keys=True),
            json.dumps(measurements, sort_keys=True, allow_nan=False),
            time.time(),
        )
        with self._lock:
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"results cache {self.path}: write failed ({exc})") from None

    def clear(self, codec: str | None = None) -> int:
        """Delete every entry (or those of one codec name); return how many were deleted."""
        with self._lock:
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if codec is None:
                        n = conn.execute("DELETE FROM entries").rowcount
                    else:
                        n = conn.execute("DELETE FROM entries WHERE codec = ?", (codec,)).rowcount
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                if codec is None:
                    conn.execute("VACUUM")
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"results cache {self.path}: clear failed ({exc})") from None
        return n

    def stats(self) -> dict[str, Any]:
        """Entry counts (total and per codec) and the file size."""
        with self._lock:
            try:
                rows = self._connect().execute("SELECT codec, COUNT(*) FROM entries GROUP BY codec").fetchall()
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"results cache {self.path}: read failed ({exc})") from None
        size = sum(p.stat().st_size for p in self._files() if p.exists())
        by_codec = dict(sorted((str(c), int(n)) for c, n in rows))
        return {"path": str(self.path), "entries": sum(by_codec.values()), "by_codec": by_codec, "bytes": size}

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


# -- use by the runner ---------------------------------------------------------
#: fields every cached measurement has (the rest is whatever the runner measured: quality metrics)
REQUIRED_FIELDS = ("bytes", "bpp", "enc_s", "dec_s")
#: the record fields a cached measurement may set; any other key (the record's identity: ``spec``, ``image``,
#: ``dataset``, ...) is ignored, so an edited entry can never rename or move a record
MEASURED_FIELDS = (*REQUIRED_FIELDS, "psnr", "psnr_y", "ssim", "ms_ssim", "lossless_ok")
#: bookkeeping stored with a measurement: the conditions its timings were taken under
_CONDITIONS = ("threads", "repeats", "machine")


@functools.lru_cache(maxsize=1)
def machine_id() -> str:
    """A fingerprint of this machine (host, CPU, core count): cached timings are reused only on it."""
    text = "|".join([platform.node(), platform.machine(), platform.processor(), str(os.cpu_count())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Hit:
    """A cache hit: the measurements to reuse, and whether the timings must be taken again."""

    measurements: dict[str, Any]
    needs_timing: bool


def _invalid(entry: dict[str, Any]) -> str | None:
    """Why ``entry`` cannot be reused (a required field missing, or a value the record schema refuses), or None.

    Values are checked with :func:`codecbench.core.results.check_field`, the check records read from a results
    file pass, so a reused entry never makes a results file unreadable.
    """
    from codecbench.core.results import check_field

    missing = [k for k in REQUIRED_FIELDS if k not in entry]
    if missing:
        return f"missing {', '.join(missing)}"
    for name in MEASURED_FIELDS:
        if name in entry:
            try:
                check_field(name, entry[name])
            except ResultsError as exc:
                return str(exc)
    return None


class RunCache:
    """The runner's view of a :class:`ResultsCache`.

    :meth:`lookup` before encoding, :meth:`store` after measuring. Bitstream
    size and quality metrics of a hit are reused; its timings are reused too
    unless ``retime`` is set or they were taken with another thread count,
    repeat count or on another machine, in which case the runner times the
    codec again (and checks that it still writes the cached number of bytes).
    A cache that fails mid-run is reported once and switched off: the run goes on.
    """

    def __init__(self, cache: ResultsCache, *, retime: bool = False, repeats: int = 1) -> None:
        self.cache = cache
        self.retime = retime
        self.repeats = repeats
        self.hits = self.misses = self.retimed = 0
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

    def lookup(self, codec: Any, image: np.ndarray) -> Hit | None:
        if self.disabled:
            return None
        try:
            found = self.cache.get(codec, self._digest(image))
        except CacheError as exc:
            self._failed(exc)
            return None
        if found is not None and (problem := _invalid(found)) is not None:
            print(f"codecbench: warning: results cache {self.cache.path}: ignoring a bad entry for "
                  f"{codec.spec} ({problem}); measuring again", file=sys.stderr)
            found = None
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        same_conditions = (
            found.get("threads") == codec.threads
            and found.get("repeats") == self.repeats
            and found.get("machine") == machine_id()
        )
        needs_timing = self.retime or not same_conditions
        self.retimed += needs_timing
        return Hit({k: v for k, v in found.items() if k in MEASURED_FIELDS}, needs_timing)

    def store(self, codec: Any, image: np.ndarray, measured: dict[str, Any]) -> None:
        if self.disabled:
            return
        entry = {**{k: v for k, v in measured.items() if k not in _CONDITIONS},
                 "threads": codec.threads, "repeats": self.repeats, "machine": machine_id()}
        try:
            self.cache.put(codec, self._digest(image), codec.device, entry)
        except CacheError as exc:
            self._failed(exc)

    def summary(self) -> str:
        text = f"cache {self.cache.path}: {self.hits} hits, {self.misses} misses"
        if self.hits:
            text += f" ({self.retimed} re-timed)" if self.retimed else " (timings reused; --retime to measure again)"
        return text + (" — disabled after an error" if self.disabled else "")
