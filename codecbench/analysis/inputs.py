"""What the regression gate reads: codecbench results or pytest-benchmark JSON, as records, and their duplicates.

codecbench results go through the one reader of results files
(:func:`~codecbench.core.results.read_result_parts`), so every record is
checked by :func:`~codecbench.core.results.validate_record`. A
pytest-benchmark file (``--benchmark-json`` / ``--benchmark-autosave``)
becomes one pseudo-record of dataset means per (spec, dataset, device)
(:mod:`codecbench.analysis.pytest_benchmark`), checked the same way. A
CompressAI results file is refused with the reason (it has no per-setting
identity to compare).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from codecbench.analysis.conditions import pytest_benchmark_meta
from codecbench.analysis.duplicates import Duplicate, collapse_duplicates
from codecbench.analysis.pytest_benchmark import records_from_pytest_benchmark
from codecbench.core.errors import ResultsError
from codecbench.core.results import Record, load_json, read_result_parts


class LoadedResults(NamedTuple):
    """The records of one gate input (one per identity), its format's name, what it held more than once, and
    its ``meta`` (of a pytest-benchmark file: its machine, from ``machine_info``)."""

    records: list[Record]
    kind: str  # "codecbench" or "pytest-benchmark"
    duplicates: list[Duplicate]
    meta: dict[str, Any] = {}


def load_results(path: str | os.PathLike) -> LoadedResults:
    """Read a codecbench results file (with its journal) or a pytest-benchmark JSON file for the gate.

    Within the results file, and within its journal, copies of a record are
    collapsed by :func:`~codecbench.analysis.duplicates.collapse_duplicates`
    and listed in ``duplicates``; a journal record replaces the file's
    record of the same identity (a resumed run's re-measurement, as
    :func:`~codecbench.core.results.read_results` has it). Raises
    :class:`ResultsError` (one line naming the file and the record) for
    anything that is not such a file or holds a value no real measurement
    can have.
    """
    path = Path(path)
    loaded = load_json(path) if path.exists() else None  # else only a journal, or "no such results file"
    doc = loaded[1] if loaded else None
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        records, duplicates = records_from_pytest_benchmark(path, doc)
        return LoadedResults(records, "pytest-benchmark", duplicates, pytest_benchmark_meta(doc.get("machine_info")))
    if isinstance(doc, dict) and isinstance(doc.get("results"), dict) and "bpp" in doc["results"]:
        raise ResultsError(
            f"{path}: a CompressAI results file (one curve, no per-setting identity); "
            "compare needs codecbench results or pytest-benchmark JSON — use it with `codecbench report --reference`"
        )
    meta, file_records, journal_records = read_result_parts(path, loaded)
    records, duplicates = collapse_duplicates(file_records)
    journal, journal_duplicates = collapse_duplicates(journal_records)
    return LoadedResults(list({r.key: r for r in records + journal}.values()), "codecbench",
                         duplicates + journal_duplicates, meta)
