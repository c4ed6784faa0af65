"""pytest-benchmark JSON as the regression gate reads it: one pseudo-record of dataset means per benchmarked case.

A ``--benchmark-json`` / ``--benchmark-autosave`` file of ``pytest bench``
holds an encode and a decode benchmark per case (spec, dataset, device),
each carrying the case's dataset means in ``extra_info``. They become one
:class:`~codecbench.core.results.Record` per case whose image id is
``(N images)``, checked with the record schema and
:func:`~codecbench.core.results.validate_record`. Benchmarks of one case
that disagree, or that repeat a phase, are reported as duplicates
(:class:`~codecbench.analysis.duplicates.Duplicate`), never resolved silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codecbench.analysis.duplicates import Duplicate, differing_fields
from codecbench.core.codec import Spec
from codecbench.core.errors import ResultsError, SpecError
from codecbench.core.metrics import METRICS
from codecbench.core.results import MAX_MAGNITUDE, Record, check_field, json_excerpt, validate_record

#: The ``extra_info`` values of a pytest-benchmark entry that are :class:`Record` fields (checked with its schema).
#: No ``bytes``: a mean of bytes over images of different sizes does not determine a mean bpp.
_BENCH_FIELDS = ("codec", "setting", "bpp", *METRICS, "lossless", "lossless_ok", "threads", "enc_s", "dec_s")

Case = tuple[str, str, str]  # (canonical spec, dataset, device)


def records_from_pytest_benchmark(path: Path, doc: dict) -> tuple[list[Record], list[Duplicate]]:
    """One pseudo-record per (spec, dataset, device), from the dataset means in ``extra_info``, and the duplicates.

    The encode and decode benchmarks of a case are merged: their
    ``extra_info`` values must agree, and a phase benchmarked twice must
    agree with itself, else the case is a conflicting :class:`Duplicate`
    (the first value is kept; the gate fails on it). Per-image times are
    ``extra_info`` ``enc_s``/``dec_s`` when present, else the benchmark's
    median divided by ``n_images``. A value of the wrong type or out of
    range raises :class:`ResultsError` naming the benchmark.
    """
    cases: dict[Case, list[tuple[str, str, dict[str, Any]]]] = {}
    for number, bench in enumerate(doc["benchmarks"], 1):
        where = f"{path}: benchmark {number}"
        entry = _entry(bench, where)
        if entry is not None:
            case, phase, values = entry
            cases.setdefault(case, []).append((where, phase, values))
    if not cases:
        raise ResultsError(
            f"{path}: pytest-benchmark JSON without codecbench benchmarks "
            "(no spec/dataset/device in params or extra_info)"
        )
    records, duplicates = [], []
    for case, entries in cases.items():
        merged, differing, repeated = _merge(entries)
        record = _pseudo_record(case, merged, entries[0][0])
        records.append(record)
        if differing or repeated:
            duplicates.append(Duplicate(record.key, len(entries), differing))
    return records, duplicates


def round_times(path: Path, doc: dict) -> dict[tuple[str, str, str, str], list[float]]:
    """Every codecbench benchmark's per-round seconds, by (canonical spec, dataset, device, phase ``enc_s`` or
    ``dec_s``): its ``stats.data``, which pytest-benchmark writes with ``--benchmark-save-data``.

    Raises :class:`ResultsError` naming the benchmark when it has no such list (the option was not given), a
    value is not a number from 0 to 2^63, or a phase of one case is benchmarked twice.
    """
    out: dict[tuple[str, str, str, str], list[float]] = {}
    for number, bench in enumerate(doc["benchmarks"], 1):
        where = f"{path}: benchmark {number}"
        entry = _entry(bench, where)
        if entry is None or not entry[1]:
            continue
        (spec, dataset, device), phase, _ = entry
        data = (bench.get("stats") or {}).get("data")
        if not isinstance(data, list) or not data:
            raise ResultsError(f"{where}: no per-round times (stats.data); save them with pytest's "
                               "--benchmark-save-data")
        for i, value in enumerate(data):
            _check_amount(value, f"{where}: stats.data[{i}]")
        key = (spec, dataset, device, phase)
        if key in out:
            raise ResultsError(f"{where}: {spec} {dataset} {device} {phase} is benchmarked twice")
        out[key] = [float(v) for v in data]
    return out


def _entry(bench: Any, where: str) -> tuple[Case, str, dict[str, Any]] | None:
    """(case, phase, checked values) of one benchmark, None when it is not a codecbench benchmark."""
    if not isinstance(bench, dict):
        raise ResultsError(f"{where} is not a JSON object")
    info, params, stats = ({} if bench.get(key) is None else bench[key] for key in ("extra_info", "params", "stats"))
    if not all(isinstance(part, dict) for part in (info, params, stats)):
        raise ResultsError(f"{where}: extra_info, params and stats must be objects")
    spec, dataset, device = _bench_identity(bench, info, params)
    if spec is None:
        return None
    values = _bench_values(info, where)
    name = str(info.get("phase") or bench.get("name") or "")
    phase = "enc_s" if "encod" in name else "dec_s" if "decod" in name else ""
    median = stats.get("median")
    if median is not None:
        _check_amount(median, f"{where}: stats.median")
        if phase:
            values.setdefault(phase, median / values.get("n_images", 1))
    # benchmark ids use the spec as typed, records the canonical one
    return (canonical_spec(spec), dataset, device), phase, values


def _merge(entries: list[tuple[str, str, dict[str, Any]]]) -> tuple[dict[str, Any], tuple[str, ...], bool]:
    """The values of one case's benchmarks merged (first value kept), the keys on which any two disagree, and
    whether a phase was benchmarked more than once."""
    merged: dict[str, Any] = {}
    differing: set[str] = set()
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for _, phase, values in entries:
        by_phase.setdefault(phase, []).append(values)
        for key, value in values.items():
            if merged.setdefault(key, value) != value:
                differing.add(key)
    for copies in by_phase.values():
        differing.update(differing_fields(copies))
    return merged, tuple(sorted(differing)), any(len(copies) > 1 for copies in by_phase.values())


def _pseudo_record(case: Case, e: dict[str, Any], where: str) -> Record:
    """The record of a case's dataset means ``e``; raises :class:`ResultsError` naming ``where`` unless it is one
    that real measurements can give (:func:`~codecbench.core.results.validate_record`)."""
    spec, dataset, device = case
    n, failed = e.get("n_images", 1), e.get("n_failed", 0)
    if failed > n:
        raise ResultsError(f"{where}: extra_info 'n_failed' ({failed}) exceeds 'n_images' ({n})")
    if "pixels" not in e or e["pixels"] < n:
        raise ResultsError(f"{where}: extra_info 'pixels' must be at least 'n_images' ({n}), "
                           f"not {json_excerpt(e.get('pixels'))}")
    record = Record.build(
        codec=str(e.get("codec") or spec.partition(":")[0]), spec=spec, setting=e.get("setting"),
        dataset=dataset, image=f"({n} images)", width=int(e["pixels"] / n), height=1, channels=3, device=device,
        bpp=e.get("bpp"), **{name: e.get(name) for name in METRICS}, lossless_ok=e.get("lossless_ok"),
        enc_s=e.get("enc_s"), dec_s=e.get("dec_s"), lossless=e.get("lossless", False),
        error=f"{failed} of {n} images failed" if failed else None,
    )
    try:
        validate_record(record)
    except ResultsError as exc:
        raise ResultsError(f"{where}: extra_info {exc}") from None
    return record


def _bench_values(info: dict, where: str) -> dict[str, Any]:
    """The non-null ``extra_info`` values the gate reads, each checked.

    :data:`_BENCH_FIELDS` must be as :func:`~codecbench.core.results.check_field`
    accepts for a record; ``n_images`` an integer ≥ 1, ``n_failed`` an
    integer ≥ 0 and ``pixels`` a number ≥ 0, each at most 2^63. Raises
    :class:`ResultsError` naming ``where`` and the value.
    """
    values = {k: info[k] for k in (*_BENCH_FIELDS, "n_images", "n_failed", "pixels") if info.get(k) is not None}
    for key, value in values.items():
        if key in _BENCH_FIELDS:
            try:
                check_field(key, value)
            except ResultsError as exc:
                raise ResultsError(f"{where}: extra_info {exc}") from None
        else:
            _check_amount(value, f"{where}: extra_info {key!r}", integer=key != "pixels",
                          minimum=1 if key == "n_images" else 0)
    return values


def _check_amount(value: Any, what: str, *, integer: bool = False, minimum: int = 0) -> None:
    """Raise :class:`ResultsError` unless ``value`` is a number (an integer if ``integer``) in [minimum, 2^63]."""
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not minimum <= value <= MAX_MAGNITUDE:
        raise ResultsError(f"{what} must be {'an integer' if integer else 'a number'} from {minimum} to 2^63, "
                           f"not {json_excerpt(value)}")


def canonical_spec(spec: str) -> str:
    """The canonical spec (every setting, defaults filled, sorted) as records carry it; as given if unknown."""
    try:
        return Spec.parse(spec).canonical()
    except SpecError:  # a spec this version cannot parse
        return spec


def _bench_identity(bench: dict, info: dict, params: dict) -> tuple[str | None, str, str]:
    spec = info.get("spec") or params.get("spec")
    dataset = info.get("dataset") or params.get("dataset")
    device = info.get("device") or params.get("device")
    if spec and dataset and device:
        return str(spec), str(dataset), str(device)
    param = bench.get("param")
    if isinstance(param, str) and param.count("-") >= 2:  # "jpeg:quality=75-kodak-cpu"
        s, d, dev = param.rsplit("-", 2)
        if ":" in s or s:
            return spec or s, dataset or d, device or dev
    return None, "", ""
