"""The result record: :class:`Record`, its JSON form, and the checks of values read from outside.

One :class:`Record` per (codec spec, dataset, image, device). Its built-in
fields are declared here; the values of the other metrics of
:data:`codecbench.core.metrics.METRICS` (opt-in and plug-in metrics) are kept
in ``extra``. In JSON a record is one flat object: every metric is a
top-level key, as :meth:`Record.to_json` writes and :meth:`Record.from_json`
reads it. :func:`check_field` checks a value's type, :func:`validate_record`
its physical range.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, get_args, get_origin, get_type_hints

from codecbench.core.errors import OptionError, ResultsError
from codecbench.core.metrics import METRICS
from codecbench.core.targets import Target

#: The fields of a :class:`Record` that describe the source image file, not the codec's output:
#: set from the dataset item on every run, never taken from the results cache.
SOURCE_FIELDS = ("source_bytes", "source_format")
#: The metrics of :mod:`codecbench.core.metrics` that are fields of :class:`Record` (any other metric is in ``extra``).
METRIC_FIELDS = ("psnr", "psnr_y", "ssim", "ms_ssim", "ssimulacra2")


@dataclass
class Record:
    """What one codec setting did to one image.

    Rates: ``bytes`` is the full stored bitstream, ``bpp`` = 8·bytes/(H·W).
    Quality: ``psnr``/``psnr_y`` in dB (None when the decoded image is
    identical), ``ssim``, ``ms_ssim`` (None below 161 px), ``ssimulacra2``;
    ``extra`` maps the name of any other metric of
    :data:`~codecbench.core.metrics.METRICS` to its value (only measured
    values: :meth:`metric` gives None for the rest). A metric not computed is
    None. ``lossless_ok`` (lossless codecs only, else None): the decode is
    bit-exact. Times in seconds per image: ``enc_s``/``dec_s`` are the median
    over the timed calls after warm-up, of the codec call alone. ``error`` is
    set, and the measurements left None, when this image failed. The run
    fields are described in ``docs/results.md``.
    """

    codec: str
    spec: str
    setting: float | int | str | None
    dataset: str
    image: str
    width: int
    height: int
    channels: int = 3
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    psnr_y: float | None = None
    ssim: float | None = None
    ms_ssim: float | None = None
    ssimulacra2: float | None = None
    extra: dict[str, float | None] = field(default_factory=dict)
    enc_s: float | None = None
    dec_s: float | None = None
    device: str = "cpu"
    threads: int = 1
    lossless_ok: bool | None = None
    error: str | None = None
    lossless: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    source_bytes: int | None = None
    source_format: str | None = None
    knob: str | None = None
    cached: bool = False
    retimed: bool | None = None
    jobs: int | None = None
    payload_bpp: float | None = None
    target: str | None = None
    target_encodes: int | None = None

    def __post_init__(self) -> None:
        clash = sorted(set(self.extra) & set(_FIELD_TYPES))
        if clash:
            raise TypeError(f"extra metric(s) {', '.join(clash)} are fields of Record")
        self.extra = {name: value for name, value in self.extra.items() if value is not None}

    @classmethod
    def build(cls, **values: Any) -> Record:
        """The record of ``values``: its fields, and the value of any other metric of ``METRICS`` into ``extra``.

        TypeError for a name that is neither a field nor a metric.
        """
        extra = dict(values.pop("extra", {}))
        for name in [n for n in values if n not in _FIELD_TYPES]:
            if name not in METRICS:
                raise TypeError(f"Record has no field or metric {name!r}")
            extra[name] = values.pop(name)
        return cls(**values, extra=extra)

    def with_values(self, **values: Any) -> Record:
        """A copy of this record with ``values`` set (field or metric names, as :meth:`build` takes them)."""
        extra = {**self.extra, **values.pop("extra", {})}
        current = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return Record.build(**{**current, **values}, extra=extra)

    def metric(self, name: str) -> Any:
        """The value of metric or numeric field ``name`` (``"psnr"``, ``"bpp"``, ``"vif"``); None when not measured."""
        return getattr(self, name) if name in _FIELD_TYPES else self.extra.get(name)

    @property
    def key(self) -> tuple[str, ...]:
        """Identity of a record within a run: (spec, dataset, image, device), and its ``target`` when it has one
        (two targets may reach the same setting of the same image: each keeps its record)."""
        base = (self.spec, self.dataset, self.image, self.device)
        return base if self.target is None else (*base, self.target)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """The record as one flat JSON object (the order of :func:`record_keys`; ``versions`` a copy)."""
        obj = {name: self.metric(name) for name in record_keys()}
        obj.update((name, value) for name, value in self.extra.items() if name not in obj)
        obj["versions"] = dict(self.versions)
        return obj

    @classmethod
    def from_json(cls, obj: Any) -> Record:
        """The record a JSON object describes; keys that are neither fields nor metrics are ignored.

        Every value must be as :func:`check_field` accepts and the record as
        :func:`validate_record` does. Raises :class:`ResultsError` naming the
        missing or wrong field; readers prefix the file and the record's place.
        """
        if not isinstance(obj, dict):
            raise ResultsError("not a codecbench record (expected a JSON object)")
        missing = [name for name in _REQUIRED_FIELDS if name not in obj]
        if missing:
            raise ResultsError(f"not a codecbench record: missing field(s) {', '.join(missing)}")
        values = {k: v for k, v in obj.items() if k in _FIELD_TYPES or (k != "extra" and k in METRICS)}
        for name, value in values.items():
            check_field(name, value)
        record = cls.build(**values)
        validate_record(record)
        return record


def record_keys() -> tuple[str, ...]:
    """The keys of a record's JSON object, in order: the rate fields, every metric of ``METRICS`` (the built-in
    ones first), then the run fields. Depends on the installed metric plug-ins (a results cache keys on it)."""
    names = [f.name for f in fields(Record) if f.name != "extra"]
    at = names.index(METRIC_FIELDS[-1]) + 1
    return (*names[:at], *(m for m in METRICS if m not in METRIC_FIELDS), *names[at:])


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


#: Each JSON-visible :class:`Record` field's accepted value types (``extra`` is not one: its metrics are),
#: the types of a metric's value, and the fields without a default.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    name: _accepted_types(hint) for name, hint in get_type_hints(Record).items() if name != "extra"
}
_METRIC_TYPES = _accepted_types(float | None)
_REQUIRED_FIELDS = tuple(f.name for f in fields(Record) if f.default is MISSING and f.default_factory is MISSING)

#: The largest magnitude a finite number in a record may have (that of a signed 64-bit integer): far beyond any
#: real measurement, and small enough that sums, products and ratios of record values stay finite floats.
MAX_MAGNITUDE = 2**63


def check_field(name: str, value: Any) -> None:
    """Raise :class:`ResultsError` unless ``value`` may be the value of :class:`Record` field or metric ``name``.

    The value must have the type the dataclass declares (a metric's: a
    number or null; an integer is accepted for a float field,
    ``true``/``false`` never for a number), and a finite number must lie
    within ±:data:`MAX_MAGNITUDE`; an object (``versions``) must map names
    to strings. NaN and ±Infinity pass this type check: :func:`validate_record` refuses them.
    """
    accepted = _FIELD_TYPES.get(name, _METRIC_TYPES)
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


def validate_record(record: Record) -> None:
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
    cached one; ``source_bytes`` ≥ 1; ``jobs`` ≥ 1; ``payload_bpp`` in [0, ``bpp``]; ``target`` as
    :meth:`~codecbench.core.targets.Target.parse` reads it, ``target_encodes`` ≥ 0 and only with a target.
    """
    for name in ("width", "height", "channels", "threads"):
        least = 0 if record.error is not None and name != "threads" else 1  # an unreadable image has no size
        if getattr(record, name) < least:
            raise ResultsError(f"field {name!r} must be at least {least}, not {getattr(record, name)}")
    for name in ("bytes", "source_bytes", "jobs"):
        value = getattr(record, name)
        if value is not None and value < 1:
            raise ResultsError(f"field {name!r} must be at least 1, not {value}")
    for name in ("bpp", "payload_bpp", "enc_s", "dec_s", *METRICS, *record.extra):
        value = record.metric(name)
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
        value = record.metric(name)
        if value is None:
            continue
        low, high = (0.0, psnr_max[name]) if name in psnr_max else metric.valid_range
        if not low - RANGE_SLACK <= value <= high + RANGE_SLACK:
            raise ResultsError(f"field {name!r} is {value:.6g}, outside [{low:.6g}, {high:.6g}]")
    if record.lossless_ok is not None and not record.lossless:
        raise ResultsError("field 'lossless_ok' is set on a lossy codec's record")
    if record.retimed is not None and not record.cached:
        raise ResultsError("field 'retimed' is set on a record that was not cached")
    _validate_target(record)


def _validate_target(record: Record) -> None:
    """``target`` as :meth:`Target.parse` reads it; ``target_encodes`` ≥ 0, and only with a target."""
    if record.target is None:
        if record.target_encodes is not None:
            raise ResultsError("field 'target_encodes' is set on a record without a target")
        return
    try:
        Target.parse(record.target)
    except OptionError as exc:
        raise ResultsError(f"field 'target': {exc}") from None
    if record.target_encodes is not None and record.target_encodes < 0:
        raise ResultsError(f"field 'target_encodes' must not be negative, not {record.target_encodes}")


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
