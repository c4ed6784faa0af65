"""The result record schema and the results file.

One :class:`Record` per (codec spec, dataset, image, device). A results file
is JSON::

    {"meta": {machine, cpu, python, codecbench version, library versions, date,
              averaging convention, timing}, "records": [...]}

always replaced atomically (temp file, fsync, rename). While a run is going,
:class:`codecbench.engine.store.ResultsStore` only appends each record to a *journal* beside it
(``results.json.journal``, one JSON line per record, fsynced in small
batches), so a run killed at any point loses at most the record being
written; the JSON file is written once, when the run ends (compaction), or
when the same run is started again after a kill (the journal folded in).
:func:`read_results` is the one reader of results files: the JSON file plus
any journal, and also plain JSON Lines files.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import types
from dataclasses import MISSING, field, fields, make_dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, get_args, get_origin, get_type_hints

import codecbench
from codecbench.core.errors import OutputError, ResultsError
from codecbench.core.metrics import METRICS

SCHEMA_VERSION = 1
AVERAGING = "arithmetic mean over images of per-image values (successful images only; n ok / n total reported)"
TIMED_REGION = (
    "the codec's encode or decode call alone, median of the timed repeats after warm-up; image decoding, "
    "model loading and metric computation are outside"
)
#: The fields of a :class:`Record` that describe the source image file, not the codec's output:
#: set from the dataset item on every run, never taken from the results cache.
SOURCE_FIELDS = ("source_bytes", "source_format")


class _RecordMethods:
    """The behaviour of :class:`Record` (its fields: :data:`_RATE_FIELDS`, one per metric, :data:`_RUN_FIELDS`)."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of a record within a run: (spec, dataset, image, device)."""
        return (self.spec, self.dataset, self.image, self.device)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """Every field, in declaration order, as a JSON object (``versions`` a copy)."""
        obj = {name: getattr(self, name) for name in _FIELD_NAMES}
        obj["versions"] = dict(self.versions)
        return obj

    @classmethod
    def from_json(cls, obj: Any) -> Record:
        """The record a JSON object describes; keys that are not fields are ignored.

        Every field's value must be as :func:`check_field` accepts. Raises :class:`ResultsError` naming the missing or wrongly
        typed field; readers prefix the file and the record's place in it.
        """
        if not isinstance(obj, dict):
            raise ResultsError("not a codecbench record (expected a JSON object)")
        missing = [name for name in _REQUIRED_FIELDS if name not in obj]
        if missing:
            raise ResultsError(f"not a codecbench record: missing field(s) {', '.join(missing)}")
        values = {k: v for k, v in obj.items() if k in _FIELD_TYPES}
        for name, value in values.items():
            check_field(name, value)
        record = cls(**values)
        validate_record(record)
        return record


#: The fields of :class:`Record` before and after its metric fields (which :data:`codecbench.core.metrics.METRICS` adds).
_RATE_FIELDS: list[tuple[str, Any, Any]] = [
    ("codec", str), ("spec", str), ("setting", float | int | str | None), ("dataset", str), ("image", str),
    ("width", int), ("height", int), ("channels", int, 3), ("bytes", int | None, None), ("bpp", float | None, None),
]
_RUN_FIELDS: list[tuple[str, Any, Any]] = [
    ("enc_s", float | None, None), ("dec_s", float | None, None), ("device", str, "cpu"), ("threads", int, 1),
    ("lossless_ok", bool | None, None), ("error", str | None, None), ("lossless", bool, False),
    ("versions", dict[str, str], field(default_factory=dict)), ("source_bytes", int | None, None),
    ("source_format", str | None, None), ("knob", str | None, None),
    ("cached", bool, False), ("retimed", bool | None, None), ("jobs", int | None, None),
    ("payload_bpp", float | None, None),
]
Record = make_dataclass(
    "Record",
    [*_RATE_FIELDS, *[(name, float | None, None) for name in METRICS], *_RUN_FIELDS],
    bases=(_RecordMethods,),
)
Record.__module__ = __name__  # so that records pickle (to and from worker processes) by this module's name
Record.__doc__ = """What one codec setting did to one image.

    Rates: ``bytes`` is the full stored bitstream, ``bpp`` = 8·bytes/(H·W).
    Quality: one field per metric of :data:`codecbench.core.metrics.METRICS`, in
    table order after ``bpp`` (``psnr``/``psnr_y`` in dB, None when the
    decoded image is identical; ``ssim``; ``ms_ssim``, None below 161 px; a
    metric that was not computed is None); ``lossless_ok`` (lossless codecs
    only, else None): the decode is bit-exact. Times in seconds per image: ``enc_s`` and ``dec_s`` are the
    median over the timed calls after warm-up, of the codec call alone.
    ``error`` is set, and the measurements left None, when this image failed.
    ``channels``, ``lossless`` and ``versions`` (codec format and library
    versions) make a record stand on its own. ``source_bytes`` (size in
    bytes) and ``source_format`` (Pillow's name, ``"PNG"``, ``"JPEG"``)
    describe the image file the pixels were read from, for the compression
    rate and ratio against it; None when that file is not one image (a
    CIFAR-10 pickle) or in results written before they were recorded.
    ``knob`` names the rate knob whose value ``setting`` is (None for a codec
    without one, and in older results files), so that reports group curves
    without parsing specs or importing codecs.
    ``cached``: the measurements were reused from the results cache, not
    measured in this run; ``retimed`` (cached records only): their timings
    were measured again in this run. ``jobs``: how many codec calls ran at
    once while this record was timed (None in older results files).
    ``payload_bpp``: the bpp of the entropy-coded payload alone, without container and headers, for codecs that
    tell them apart (:meth:`~codecbench.core.codec.Codec.payload_bytes`: the adapted CompressAI models, whose
    own bpp counts the strings only); None elsewhere.
    """


#: How the JSON types of record values are named in error messages.
_JSON_TYPE_NAMES = {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "an object",
                    list: "an array", type(None): "null"}


def _accepted_types(hint: Any) -> tuple[type, ...]:
    """The Python types a JSON value of a field annotated ``hint`` may have (``int`` too for ``float``)."""
    members = get_args(hint) if get_origin(hint) is types.UnionType else (hint,)
    accepted = tuple(get_origin(t) or t for t in members)  # dict[str, str] -> dict
    return accepted + (int,) if float in accepted and int not in accepted else accepted


def _describe_types(accepted: tuple[type, ...]) -> str:
    """How error messages name ``accepted``: ``(float, int, NoneType)`` -> ``"a number or null"``."""
    names = [_JSON_TYPE_NAMES.get(t, t.__name__) for t in accepted if not (t is int and float in accepted)]
    return " or ".join(names)


#: The largest magnitude a finite number in a record may have (that of a signed 64-bit integer): far beyond any
#: real measurement, and small enough that sums, products and ratios of record values stay finite floats.
MAX_MAGNITUDE = 2**63


def check_field(name: str, value: Any) -> None:
    """Raise :class:`ResultsError` unless ``value`` may be the value of :class:`Record` field ``name``.

    The value must have the type the dataclass declares (an integer is
    accepted for a float field, ``true``/``false`` never for a number), and
    a finite number must lie within ±:data:`MAX_MAGNITUDE`; an object
    (``versions``) must map names to strings. NaN and ±Infinity pass this
    type check: :func:`validate_record` refuses them.
    """
    accepted = _FIELD_TYPES[name]
    if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
        raise ResultsError(f"field {name!r} must be {_describe_types(accepted)}, "
                           f"not {_describe_types((type(value),))} ({json_excerpt(value)})")
    if isinstance(value, dict) and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ResultsError(f"field {name!r} must map names to strings ({json_excerpt(value)})")
    if _out_of_range(value):
        raise ResultsError(f"field {name!r} is out of range ({json_excerpt(value)}; at most ±2^63)")


#: How far a metric may lie outside its valid range: float32 filtering puts an exact SSIM at 1 + ~1e-7.
RANGE_SLACK = 1e-6
#: How far a stored ``bpp`` may lie from 8·bytes/(H·W), relative (JSON round trips and rounded writers).
BPP_RTOL = 1e-6


def validate_record(record: Any) -> None:
    """Raise :class:`ResultsError` naming the first field of ``record`` that no real measurement can have.

    The one check of values from outside (results files, journals, the
    cache, pytest-benchmark JSON, reference files), on top of
    :func:`check_field`'s types: numbers finite; ``width``, ``height``,
    ``channels``, ``threads`` ≥ 1; ``bytes`` ≥ 1; ``bpp`` > 0 and equal to
    8·bytes/(H·W) within :data:`BPP_RTOL` when both are present (a failed
    record's image may have size 0: it could not be read); PSNR and
    PSNR-Y in [0 dB, the largest value an inexact decode of that size can
    have]; every metric within its :attr:`~codecbench.core.metrics.Metric.valid_range`
    (SSIM and MS-SSIM in [−1, 1]); ``enc_s``, ``dec_s`` ≥ 0;
    ``lossless_ok`` only on a lossless codec's record; ``retimed`` only on a
    cached one; ``source_bytes`` ≥ 1; ``jobs`` ≥ 1; ``payload_bpp`` in [0, ``bpp``].
    """
    for name in ("width", "height", "channels", "threads"):
        least = 0 if record.error is not None and name != "threads" else 1  # an unreadable image has no size
        if getattr(record, name) < least:
            raise ResultsError(f"field {name!r} must be at least {least}, not {getattr(record, name)}")
    for name in ("bytes", "source_bytes", "jobs"):
        value = getattr(record, name)
        if value is not None and value < 1:
            raise ResultsError(f"field {name!r} must be at least 1, not {value}")
    for name in ("bpp", "payload_bpp", "enc_s", "dec_s", *METRICS):
        value = getattr(record, name)
        if value is not None and not math.isfinite(value):
            raise ResultsError(f"field {name!r} must be a finite number or null, not {value}")
    if record.bpp is not None:
        if record.width * record.height == 0:
            raise ResultsError("field 'bpp' is set on a record of an image without pixels")
        if record.bpp <= 0:
            raise ResultsError(f"field 'bpp' must be positive, not {record.bpp}")
        if record.bytes is not None:
            expected = 8.0 * record.bytes / (record.width * record.height)
            if abs(record.bpp - expected) > BPP_RTOL * expected:
                raise ResultsError(f"field 'bpp' is {record.bpp:.6g} but 8*bytes/(width*height) is {expected:.6g}")
    for name in ("enc_s", "dec_s"):
        value = getattr(record, name)
        if value is not None and value < 0:
            raise ResultsError(f"field {name!r} must not be negative, not {value}")
    if record.payload_bpp is not None and not 0 <= record.payload_bpp <= (record.bpp or 0) * (1 + BPP_RTOL):
        raise ResultsError(f"field 'payload_bpp' is {record.payload_bpp:.6g}, outside [0, bpp {record.bpp}]")
    samples = max(1, record.width * record.height)
    psnr_max = {"psnr": _psnr_ceiling(samples * max(1, record.channels)), "psnr_y": _psnr_ceiling(samples * 10**6)}
    for name, metric in METRICS.items():
        value = getattr(record, name)
        if value is None:
            continue
        low, high = (0.0, psnr_max[name]) if name in psnr_max else metric.valid_range
        if not low - RANGE_SLACK <= value <= high + RANGE_SLACK:
            raise ResultsError(f"field {name!r} is {value:.6g}, outside [{low:.6g}, {high:.6g}]")
    if record.lossless_ok is not None and not record.lossless:
        raise ResultsError("field 'lossless_ok' is set on a lossy codec's record")
    if record.retimed is not None and not record.cached:
        raise ResultsError("field 'retimed' is set on a record that was not cached")


def _psnr_ceiling(samples: int) -> float:
    """The largest PSNR in dB of an inexact 8-bit decode: one sample off by one (by 1/1000 for PSNR-Y's
    ``samples``, which counts luma samples × 10⁶ for BT.601's weights in thousandths) among ``samples``."""
    return 10.0 * math.log10(255.0**2 * samples) + 1e-9


def _out_of_range(value: Any) -> bool:
    """``value`` is an integer or a finite float beyond ±:data:`MAX_MAGNITUDE`."""
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) > MAX_MAGNITUDE
    return isinstance(value, int) and abs(value) > MAX_MAGNITUDE


def json_excerpt(value: Any) -> str:
    """The start of ``value`` as JSON, for an error message (a huge integer is not converted to text)."""
    if isinstance(value, int) and _out_of_range(value):
        return f"an integer of magnitude about 10^{value.bit_length() * math.log10(2):.0f}"
    try:
        return json.dumps(value)[:40]
    except (ValueError, RecursionError):
        return type(value).__name__


#: Each :class:`Record` field's accepted value types, and the fields without a default.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    name: _accepted_types(hint) for name, hint in get_type_hints(Record).items()
}
_FIELD_NAMES = tuple(f.name for f in fields(Record))
_REQUIRED_FIELDS = tuple(f.name for f in fields(Record) if f.default is MISSING and f.default_factory is MISSING)


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
            merged[key] = " / ".join(v if isinstance(v, str) else json.dumps(v) for v in distinct)
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
