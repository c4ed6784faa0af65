"""The results file of a run that can be killed and resumed: :class:`ResultsStore`, its only writer while open.

The file format, the record schema and the one reader are :mod:`codecbench.core.results`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from codecbench.core.errors import ResultsError
from codecbench.core.results import (
    Record,
    journal_path,
    library_versions,
    machine_meta,
    output_errors,
    read_results,
    validate_record,
    write_results,
)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.<name>.<pid>.tmp`` files that a writer killed mid-write left beside ``path``."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # its writer is still running
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            continue


#: Journal lines written between two fsyncs at most, and the most seconds a written line waits for its fsync
#: (checked when the next record comes): what an OS crash or power loss may cost, never a killed process.
SYNC_EVERY = 64
SYNC_S = 1.0


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of results file ``path``: ``<path>.lock``, beside it (left in place after a run; removed when
    the store refuses the file, e.g. one that is not a results file)."""
    return Path(str(path) + ".lock")


def _lock(path: Path) -> IO[str]:
    """The open :func:`lock_path` of ``path``, holding an exclusive ``flock`` (released when it is closed).

    Raises :class:`ResultsError` at once if another store (in this process or another) holds it: two writers
    of one results file would lose each other's records. The lock goes with the process, even if it is killed.
    A lock file removed by a refusing store after it was opened here is not held: the one now at the path is.
    """
    lock = lock_path(path)
    while True:
        with output_errors(lock, "results lock"):
            handle = open(lock, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ResultsError(f"{path} is being written by another codecbench run (lock {lock} is held)") from None
        if _is_at(handle, lock):
            return handle
        handle.close()


def _is_at(handle: IO[str], path: Path) -> bool:
    """Whether the open file ``handle`` is the file at ``path`` (not one unlinked since it was opened)."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)


class ResultsStore:
    """The results file of a run that can be killed and resumed; its only writer while open.

    Opening takes the exclusive lock :func:`lock_path` (:class:`ResultsError`
    if another store holds it), discards the file and its journal if
    ``fresh``, else loads their records (:meth:`get` looks one up in O(1)) and
    folds a killed run's journal into the file (:meth:`compact`).
    :meth:`append` adds one JSON line to the journal, handed to the OS before
    it returns (a killed process loses at most the record being written) and
    fsynced every :data:`SYNC_EVERY` records or :data:`SYNC_S` seconds: O(1)
    per record, and the JSON file is not touched while the run goes.
    :meth:`close` compacts (O(n) in the records; not when nothing was
    appended, so a run that measured nothing leaves the file as it was) and
    releases the lock.
    """

    def __init__(self, path: str | os.PathLike, *, meta: dict[str, Any] | None = None, fresh: bool = False) -> None:
        self.path = Path(path)
        self.journal = journal_path(self.path)
        with output_errors(self.path, "results file"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock: IO[str] | None = _lock(self.path)
        self._journal_file: IO[str] | None = None
        self._unsynced, self._synced_at = 0, time.monotonic()
        self._appended = False  # since the last compaction
        try:
            with output_errors(self.path, "results file"):
                if fresh:
                    self.path.unlink(missing_ok=True)
                    self.journal.unlink(missing_ok=True)
                _remove_stale_temporaries(self.path)
            old_meta, records = read_results(self.path) if self.path.exists() or self.journal.exists() else ({}, [])
            self.meta = {**old_meta, **(meta or machine_meta())}
            self._records: dict[tuple, Record] = {r.key: r for r in records}
            if self.journal.exists():
                self.compact()  # fold a killed run's journal into the JSON file
        except BaseException:  # refused (not a results file, unreadable): leave no lock file behind
            with contextlib.suppress(OSError):
                lock_path(self.path).unlink()  # while still held, so no other store can hold the removed file
            self._release()
            raise

    @property
    def records(self) -> list[Record]:
        return list(self._records.values())

    def get(self, key: tuple) -> Record | None:
        """The stored record of ``key`` (spec, dataset, image, device), if any."""
        return self._records.get(key)

    def append(self, record: Record) -> None:
        """Journal ``record`` (it replaces a stored record of the same key); a write error is an
        :class:`~codecbench.core.errors.OutputError`, a record the reader would refuse (NaN, out of range:
        :func:`~codecbench.core.results.validate_record`) a :class:`ResultsError`, and nothing is written."""
        validate_record(record)
        line = json.dumps(record.to_json(), allow_nan=False) + "\n"
        with output_errors(self.journal, "results journal"):
            if self._journal_file is None:
                self._journal_file = open(self.journal, "a", encoding="utf-8")
            self._journal_file.write(line)
            self._journal_file.flush()
            self._unsynced += 1
            if self._unsynced >= SYNC_EVERY or time.monotonic() - self._synced_at >= SYNC_S:
                self._sync()
        self._records[record.key] = record
        self._appended = True

    def _sync(self) -> None:
        assert self._journal_file is not None
        os.fsync(self._journal_file.fileno())
        self._unsynced, self._synced_at = 0, time.monotonic()

    def compact(self) -> None:
        """Replace the JSON file atomically with every record so far (O(n)), then remove the journal.

        On a write error (:class:`~codecbench.core.errors.OutputError`) the file is left as it was and the journal
        keeps the records.
        """
        write_results(self.path, self.records, {**self.meta, "versions": library_versions(self._records.values())})
        with output_errors(self.journal, "results journal"):
            self._close_journal()
            self.journal.unlink(missing_ok=True)
        self._appended = False

    def _close_journal(self) -> None:
        if self._journal_file is not None:
            try:
                self._sync()
            finally:
                self._journal_file.close()
                self._journal_file = None

    def close(self) -> None:
        """Compact if a record was appended since the last compaction, and release the lock (also when
        compaction fails); a second call does nothing."""
        if self._lock is None:
            return
        try:
            if self._appended:
                self.compact()
        finally:
            self._release()

    def _release(self) -> None:
        with output_errors(self.journal, "results journal"):
            try:
                self._close_journal()
            finally:
                if self._lock is not None:
                    self._lock.close()
                    self._lock = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
