"""What the regression gate reads: codecbench results or pytest-benchmark JSON, as records.

codecbench results go through the one reader,
:func:`~codecbench.core.results.read_results`. A pytest-benchmark file
(``--benchmark-json`` / ``--benchmark-autosave``) becomes one pseudo-record
per (spec, dataset, device) from the dataset means that ``pytest bench``
stores in each benchmark's ``extra_info``, every value checked with the
record schema. A CompressAI results file is refused with the reason (it has
no per-setting identity to compare).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codecbench.core.errors import ResultsError, SpecError
from codecbench.core.metrics import METRICS
from codecbench.core.results import MAX_MAGNITUDE, Record, check_field, json_excerpt, load_json, read_results


def load_results(path: str | os.PathLike) -> tuple[list[Record], str]:
    """Records of a codecbench results file (:func:`~codecbench.core.results.read_results`, the one reader) or of
    pytest-benchmark JSON (:func:`records_from_pytest_benchmark`), and the format's name."""
    path = Path(path)
    loaded = load_json(path) if path.exists() else None  # else only a journal, or "no such results file"
    doc = loaded[1] if loaded else None
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        return records_from_pytest_benchmark(path, doc), "pytest-benchmark"
    if isinstance(doc, dict) and isinstance(doc.get("results"), dict) and "bpp" in doc["results"]:
        raise ResultsError(
            f"{path}: a CompressAI results file (one curve, no per-setting identity); "
            "compare needs codecbench results or pytest-benchmark JSON — use it with `codecbench report --reference`"
        )
    return read_results(path, loaded)[1], "codecbench"


#: The ``extra_info`` values of a pytest-benchmark entry that are :class:`Record` fields (checked with its schema).
_BENCH_FIELDS = ("codec", "setting", "bpp", *METRICS, "lossless", "lossless_ok", "threads", "bytes", "enc_s",
                 "dec_s")


def records_from_pytest_benchmark(path: Path, doc: dict) -> list[Record]:
    """One pseudo-record per (spec, dataset, device): the dataset means from ``extra_info``.

    Encode and decode benchmarks of the same parametrization are merged. The
    per-image times are ``extra_info`` ``enc_s``/``dec_s`` when present, else
    the benchmark's median divided by ``n_images``. A value of the wrong type
    or out of range (see :func:`_bench_values`) raises :class:`ResultsError`
    naming the benchmark.
    """
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for number, bench in enumerate(doc["benchmarks"], 1):
        where = f"{path}: benchmark {number}"
        if not isinstance(bench, dict):
            raise ResultsError(f"{where} is not a JSON object")
        info, params, stats = ({} if bench.get(key) is None else bench[key] for key in ("extra_info", "params", "stats"))
        if not all(isinstance(part, dict) for part in (info, params, stats)):
            raise ResultsError(f"{where}: extra_info, params and stats must be objects")
        spec, dataset, device = _bench_identity(bench, info, params)
        if spec is None:
            continue  # not a codecbench benchmark
        values = _bench_values(info, where)
        spec = canonical_spec(spec)  # benchmark ids use the spec as typed, records the canonical one
        entry = merged.setdefault((spec, dataset, device), {})
        for key, value in values.items():
            entry.setdefault(key, value)
        phase = str(info.get("phase") or bench.get("name") or "")
        median = stats.get("median")
        if median is not None:
            _check_amount(median, f"{where}: stats.median")
            for tkey, word in (("enc_s", "encod"), ("dec_s", "decod")):
                if word in phase:
                    entry.setdefault(tkey, median / values.get("n_images", 1))
    if not merged:
        raise ResultsError(
            f"{path}: pytest-benchmark JSON without codecbench benchmarks (no spec/dataset/device in params or extra_info)"
        )
    out = []
    for (spec, dataset, device), e in merged.items():
        n = e.get("n_images", 1)
        failed = e.get("n_failed", 0)
        pixels = e.get("pixels", 0)
        out.append(
            Record(
                codec=str(e.get("codec") or spec.partition(":")[0]),
                spec=spec,
                setting=e.get("setting"),
                dataset=dataset,
                image=f"({n} images)",
                width=int(pixels / n),
                height=1,
                channels=3,
                device=device,
                bytes=e.get("bytes"),
                bpp=e.get("bpp"),
                **{name: e.get(name) for name in METRICS},
                lossless_ok=e.get("lossless_ok"),
                enc_s=e.get("enc_s"),
                dec_s=e.get("dec_s"),
                lossless=e.get("lossless", False),
                error=f"{failed} of {n} images failed" if failed else None,
            )
        )
    return out


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
    from codecbench.core.codec import Spec

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
