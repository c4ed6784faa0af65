"""The results file: its meta block, reading and writing (the record schema is :mod:`codecbench.core.records`).

A results file is JSON, ``{"meta": {...}, "records": [...]}``, always replaced
atomically (temp file, fsync, rename). During a run
:class:`codecbench.engine.store.ResultsStore` only appends records to a fsynced
journal beside it (``results.json.journal``), so a kill loses at most the record
being written; the JSON file is written when the run ends or is restarted.
:func:`read_results` is the one reader: the JSON file plus any journal, and
plain JSON Lines files. The manual: ``docs/results.md``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import codecbench
from codecbench.core.errors import OutputError, ResultsError
from codecbench.core.records import (  # noqa: F401  (re-exported: the record schema is importable from here)
    BPP_RTOL,
    MAX_MAGNITUDE,
    METRIC_FIELDS,
    RANGE_SLACK,
    SOURCE_FIELDS,
    Record,
    check_field,
    json_excerpt,
    record_keys,
    validate_record,
)

SCHEMA_VERSION = 1
AVERAGING = "arithmetic mean over images of per-image values (successful images only; n ok / n total reported)"
TIMED_REGION = (
    "the codec's encode or decode call alone, median of the timed repeats after warm-up; image decoding, "
    "model loading and metric computation are outside"
)


def machine_meta(**extra: Any) -> dict[str, Any]:
    """The ``meta`` block of a results file: machine, versions, conventions, date (UTC)."""
    return {
        "schema": SCHEMA_VERSION,
        "codecbench": codecbench.__version__,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "averaging": AVERAGING,
        "timed_region": TIMED_REGION,
        **extra,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions(records: Iterable[Record]) -> dict[str, str]:
    """Union of the version maps of ``records`` (library → version)."""
    versions: dict[str, str] = {}
    for record in records:
        versions.update(record.versions)
    return dict(sorted(versions.items()))


#: what joins the distinct values of a field of merged meta blocks (:func:`merge_meta`)
MERGED_SEPARATOR = " / "


def merge_meta(metas: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``meta`` block for the records of several results files (a report over many files).

    ``versions`` is the union of the files' version maps. Any key on which
    the files disagree (``date``, whenever they come from different runs;
    ``machine``, ``cpu``, ``cores`` when from different machines) holds their
    distinct values joined with ``" / "`` in file order, and ``differing``
    lists those keys (``versions.<library>`` for a library whose version differs).
    Files without a meta block (JSON Lines) are left out; one file's meta
    is returned as it is.
    """
    metas = [m for m in metas if m]
    versions, version_conflicts = _merge_maps([m["versions"] for m in metas if isinstance(m.get("versions"), Mapping)])
    merged, differing = _merge_maps([{k: v for k, v in m.items() if k != "versions"} for m in metas])
    if versions:
        merged["versions"] = versions
    differing += [f"versions.{library}" for library in version_conflicts]
    if differing:
        merged["differing"] = differing
    return merged


def merged_values(value: Any) -> list[str]:
    """The distinct values a field of :func:`merge_meta` holds, in file order (one value: a list of one)."""
    return [part.strip() for part in str(value).split(MERGED_SEPARATOR) if part.strip()]


def _merge_maps(maps: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The union of ``maps``, and the keys whose values differ (their distinct values joined with " / ")."""
    merged: dict[str, Any] = {}
    differing: list[str] = []
    for key in dict.fromkeys(k for m in maps for k in m):
        distinct: list[Any] = []
        for m in maps:
            if key in m and m[key] not in distinct:
                distinct.append(m[key])
        if len(distinct) == 1:
            merged[key] = distinct[0]
        else:
            merged[key] = MERGED_SEPARATOR.join(v if isinstance(v, str) else json.dumps(v) for v in distinct)
            differing.append(key)
    return merged, differing


# -- reading -----------------------------------------------------------
def parse_json(text: str, where: str) -> Any:
    """``json.loads(text)``, with hostile input turned into a :class:`ResultsError` naming ``where``.

    Nesting deeper than Python's recursion limit and integers longer than
    Python's digit limit (4300) raise :class:`ResultsError`; text that is
    not JSON raises :class:`json.JSONDecodeError` as ``json.loads`` does,
    so that a caller can try another format (JSON Lines).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ResultsError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise ResultsError(f"{where}: unreadable JSON ({str(exc).split(';')[0]})") from None


def journal_path(path: str | os.PathLike) -> Path:
    """The journal of results file ``path``: ``<path>.journal``, beside it."""
    return Path(str(path) + ".journal")


def load_json(path: str | os.PathLike) -> tuple[str, Any]:
    """The text of the file at ``path`` and its value as one JSON document (None when it is not one: JSON Lines).

    For a caller that recognises other formats before handing the file to
    :func:`read_results` (``compare`` reads pytest-benchmark JSON). Raises
    :class:`ResultsError` when the file is missing, unreadable, empty or
    hostile JSON (see :func:`parse_json`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: unreadable results file ({exc})") from None
    if not text.strip():
        raise ResultsError(f"{path}: empty results file")
    try:
        return text, parse_json(text, str(path))
    except json.JSONDecodeError:
        return text, None


def read_results(path: str | os.PathLike, loaded: tuple[str, Any] | None = None) -> tuple[dict[str, Any], list[Record]]:
    """``(meta, records)`` of a results file plus its journal if present: the one reader of results files.

    The file is a JSON document ``{"meta": …, "records": […]}`` (``meta``
    optional), JSON Lines (one record per line; no meta), or one record as a
    JSON object. Every record must hold the fields :class:`Record` has no
    default for, each as :func:`check_field` accepts. An unterminated last
    line that is not JSON (a killed writer's) is skipped, in a journal
    always, in a JSON Lines file after at least one record. When a spec was
    measured twice for the same image, the later record wins (a resumed
    run's re-measurement replaces the old one; :func:`read_result_parts`
    keeps every copy, for a reader that must see duplicates). ``loaded`` is
    what :func:`load_json` returned for ``path``, when the caller has read
    it already. Any problem is a :class:`ResultsError` of one line naming
    the file (and the record: ``file: record N: …`` in a document,
    ``file:N: …`` in JSON Lines).
    """
    meta, records, journal_records = read_result_parts(path, loaded)
    return meta, list({r.key: r for r in records + journal_records}.values())


def read_result_parts(
    path: str | os.PathLike, loaded: tuple[str, Any] | None = None
) -> tuple[dict[str, Any], list[Record], list[Record]]:
    """``(meta, file records, journal records)`` of a results file, as :func:`read_results` reads them, with
    nothing collapsed: each list in the order written, duplicates kept. Errors as :func:`read_results`."""
    path = Path(path)
    journal = journal_path(path)
    meta: dict[str, Any] = {}
    records: list[Record] = []
    if loaded is not None or path.exists() or not journal.exists():
        meta, records = _parse_results(path, *(loaded or load_json(path)))
    journal_records = []
    if journal.exists():
        journal_records = _read_lines(journal, journal.read_text(encoding="utf-8", errors="replace"), journal=True)
    return meta, records, journal_records


def read_records(path: str | os.PathLike) -> list[Record]:
    """The records of a results file (see :func:`read_results`)."""
    return read_results(path)[1]


def _parse_results(path: Path, text: str, doc: Any) -> tuple[dict[str, Any], list[Record]]:
    """The meta and records of results file ``path`` whose text is ``text`` and JSON value ``doc``."""
    if doc is None:
        return {}, _read_lines(path, text, journal=False)
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
        _check_finite(meta, f"{path}: meta")
        return meta, [_record(r, f"{path}: record {i}") for i, r in enumerate(doc["records"], 1)]
    if isinstance(doc, dict) and "spec" in doc:  # a JSON Lines file of one record
        return {}, [_record(doc, str(path))]
    raise ResultsError(f"{path}: not a codecbench results file (expected {{'meta': …, 'records': […]}} or JSON Lines)")


def _check_finite(value: Any, where: str) -> None:
    """Raise :class:`ResultsError` naming ``where`` if NaN or ±Infinity is anywhere in JSON value ``value``
    (JSON has no such numbers: the file could not be written back)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ResultsError(f"{where}: holds {item}, where only finite numbers are valid")
        if isinstance(item, dict):
            pending += item.values()
        elif isinstance(item, list):
            pending += item


def _record(obj: Any, where: str) -> Record:
    """:meth:`Record.from_json`, its error prefixed with ``where`` (the file and the record's place)."""
    try:
        return Record.from_json(obj)
    except ResultsError as exc:
        raise ResultsError(f"{where}: {exc}") from None


def _read_lines(path: Path, text: str, *, journal: bool) -> list[Record]:
    """The records of JSON Lines ``text`` (see :func:`read_results` for the torn last line)."""
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = parse_json(line, f"{path}:{number}")
        except json.JSONDecodeError:
            if not journal and not records:
                raise ResultsError(f"{path}: not JSON or JSON Lines") from None
            if number == len(lines):
                break  # the line a killed writer was writing
            raise ResultsError(f"{path}:{number}: not a codecbench record (not JSON)") from None
        records.append(_record(obj, f"{path}:{number}"))
    return records


# -- writing -----------------------------------------------------------
@contextlib.contextmanager
def output_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn an :class:`OSError` in the block (disk full, read-only folder, a path through a regular file) into an
    :class:`~codecbench.core.errors.OutputError` whose one-line message names ``what``, ``path`` and the OS error."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc}") from None


def write_results(path: str | os.PathLike, records: Iterable[Record], meta: dict[str, Any]) -> None:
    """Atomically replace ``path`` with ``{"meta": meta, "records": [...]}``.

    On a write error (:class:`~codecbench.core.errors.OutputError`) ``path`` is left as it was.
    """
    path = Path(path)
    payload = {"meta": meta, "records": [r.to_json() for r in records]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with output_errors(path, "results file"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=1, allow_nan=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
