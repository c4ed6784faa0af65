"""What every report format renders: one :class:`DatasetReport` per dataset, built once from the records.

``codecbench report``, ``codecbench run --report-dir`` and the pytest plugin's
session report all build these with :func:`dataset_reports` and hand them to
the renderers of :mod:`codecbench.render.formats`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

from codecbench.analysis.curves import Curve, curves
from codecbench.core.pictures import Picture, read_manifest
from codecbench.core.results import Record, machine_meta
from codecbench.render.rd import prepare
from codecbench.render.rd_analysis import RDAnalysis, RDOptions, rd_analysis
from codecbench.render.timing import Origin, RowConditions, row_conditions


@dataclass(frozen=True)
class DatasetReport:
    """One dataset's records and what is derived from them for every format.

    ``curves``: the measured curves (references are added by the RD analysis of ``rd``, None: no RD analysis);
    ``conditions``: each row's timing conditions; ``pictures``: (folder, picture) of the viewer pictures kept
    for this dataset.
    """

    dataset: str
    records: list[Record]
    curves: list[Curve]
    meta: Mapping[str, Any]
    conditions: Mapping[tuple[str, str, str], RowConditions]
    rd: RDOptions | None = None
    file_size: bool = False
    pictures: list[tuple[Path, Picture]] = field(default_factory=list)

    @cached_property
    def analysis(self) -> RDAnalysis | None:
        """The RD analysis of ``rd`` (None without one), computed on first use and shared by every format."""
        return None if self.rd is None else rd_analysis(self.records, self.dataset, self.rd, self.curves)


def dataset_reports(
    records: Sequence[Record],
    meta: Mapping[str, Any] | None,
    *,
    rd: RDOptions | None = RDOptions(),
    file_size: bool = False,
    origins: Mapping[tuple, Origin] | None = None,
    pictures: Sequence[Path] = (),
) -> list[DatasetReport]:
    """One report per dataset of ``records``, sorted by name (``meta`` None: this machine's).

    Checks the RD anchors (OptionError) and exports CompressAI JSON once; ``pictures``: folders of viewer pictures
    (:mod:`codecbench.core.pictures`; ResultsError for a damaged manifest).
    """
    records = list(records)
    if rd is not None:
        prepare(records, rd)
    meta = dict(meta) if meta else machine_meta()
    by_dataset: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_dataset[record.dataset].append(record)
    kept: dict[str, dict[tuple, tuple[Path, Picture]]] = defaultdict(dict)
    for folder in pictures:  # a later folder's picture replaces an earlier one's of the same key
        for picture in read_manifest(folder):
            kept[picture.dataset][picture.key] = (folder, picture)
    all_curves = curves(records)
    conditions = row_conditions(records, origins or {})
    return [DatasetReport(dataset, group, [c for c in all_curves if c.dataset == dataset], meta, conditions, rd,
                          file_size, list(kept[dataset].values()))
            for dataset, group in sorted(by_dataset.items())]
