"""The rate–distortion analysis of one dataset as data: computed once per report, formatted by every format.

:func:`rd_analysis` gathers what the RD part of a report shows beyond the
curves' own means: the section's curves (measured, ``--reference`` files and
shipped anchor curves) and each anchor's resolved label, the BD-rates with
their bootstrap intervals over images (:mod:`codecbench.analysis.bd_confidence`),
the equal-rate tables of ``--target-bpp`` / ``--target-psnr`` records
(:mod:`codecbench.analysis.equal_rate`) and each reference curve's provenance.
The markdown (:mod:`codecbench.render.rd`, :mod:`codecbench.render.confidence`)
and the JSON, HTML and CSV data (:mod:`codecbench.render.analysis_json`) only
format it, so the bootstrap runs once per dataset whatever the formats.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from codecbench.analysis import bdrate, references
from codecbench.analysis.bd_confidence import BDConfidence, bd_confidence_rows
from codecbench.analysis.bootstrap import RESAMPLES
from codecbench.analysis.compressai_json import PROVENANCE_KEYS, REQUIRED_PROVENANCE, references_for
from codecbench.analysis.curves import Curve
from codecbench.analysis.equal_rate import EqualRateTable, equal_rate_tables
from codecbench.core.results import Record

#: what a reference curve's provenance says of a part its file does not record
NOT_RECORDED = "not recorded in the file"
#: what is said of a reference curve whose file records no provenance at all
NO_PROVENANCE = (f"{NOT_RECORDED} (source, tool and version, configuration and conversion unknown)")


@dataclass(frozen=True)
class RDOptions:
    """What the RD section holds: the anchor, interpolation, references, plots, worst images."""

    anchor: str = bdrate.DEFAULT_ANCHOR  # one anchor, or several comma-separated ("jpeg,vtm")
    method: str = bdrate.DEFAULT_METHOD
    min_overlap: float = bdrate.MIN_OVERLAP
    references: Sequence[str] = ()  # "[DATASET=]PATH" of CompressAI-format files
    plots_dir: Path | None = None  # write PNG plots here (None: no plots)
    report_dir: Path | None = None  # the folder of the markdown file, for relative image links
    per_image: int = 0  # list this many worst images per codec (0: none)
    compressai_dir: Path | None = None  # export every measured curve as CompressAI JSON here
    bootstrap: int = RESAMPLES  # bootstrap resamples of the intervals over images (0: no intervals)


@dataclass(frozen=True)
class Confidence:
    """The BD-rates (PSNR) of every lossy curve against ``anchor`` (the measured curve the first anchor to pick
    one picks, by the rule of every table: :func:`~codecbench.analysis.bdrate.find_anchor`) with their intervals
    over ``resamples`` bootstrap resamples."""

    anchor: Curve
    rows: list[BDConfidence]
    resamples: int


@dataclass(frozen=True)
class RDAnalysis:
    """One dataset's RD analysis. ``section``: its curves ([] when none is lossy: then no BD-rate analysis);
    ``anchors``: each ``--anchor`` name and the label of its curve (None: a shipped curve of another dataset);
    ``confidence``: None without a measured anchor or with ``--bootstrap 0``; ``equal_rate``: one table per
    device and target ([] without target records); ``resamples``: the bootstrap resamples of every interval."""

    section: list[Curve]
    anchors: list[tuple[str, str | None]]
    confidence: Confidence | None
    equal_rate: list[EqualRateTable]
    resamples: int

    @property
    def references(self) -> list[Curve]:
        """The reference curves of the section (not measured here), in section order."""
        return [c for c in self.section if c.reference]


def rd_analysis(records: Sequence[Record], dataset: str, options: RDOptions,
                measured: Sequence[Curve]) -> RDAnalysis:
    """The RD analysis of ``dataset``: ``measured`` are its measured curves, ``records`` hold its per-image values
    (records of other datasets are ignored)."""
    resolved = section_curves(dataset, options, measured)
    section, anchors = resolved if resolved is not None else ([], [])
    own = [r for r in records if r.dataset == dataset]
    confidence = None
    picked = (bdrate.find_anchor(section, label) for _, label in anchors if label)
    anchor = next((c for c in picked if c is not None and not c.reference), None)
    if anchor is not None and options.bootstrap > 0:
        rows = bd_confidence_rows(section, anchor, own, method=options.method, min_overlap=options.min_overlap,
                                  resamples=options.bootstrap)
        confidence = Confidence(anchor, rows, options.bootstrap)
    tables = equal_rate_tables(own, references.split_anchors(options.anchor), resamples=options.bootstrap)
    return RDAnalysis(section, anchors, confidence, tables, options.bootstrap)


def provenance_items(ref: Curve) -> list[tuple[str, str]]:
    """The parts of a reference curve's provenance as (part, text): every part its file records and every
    required one (:data:`NOT_RECORDED` where missing); [] when the file records no provenance at all."""
    if not ref.provenance:
        return []
    return [(key, ref.provenance.get(key, NOT_RECORDED)) for key in PROVENANCE_KEYS
            if key in ref.provenance or key in REQUIRED_PROVENANCE]


def with_references(measured: list[Curve], refs: list[Curve]) -> list[Curve]:
    """Measured curves plus references, a reference renamed if its label is taken."""
    taken = {c.label for c in measured}
    out = list(measured)
    for ref in refs:
        label = ref.label
        while label in taken:
            label += " (ref)"
        taken.add(label)
        out.append(replace(ref, label=label))
    return out


def section_curves(dataset: str, options: RDOptions, measured: Sequence[Curve]
                   ) -> tuple[list[Curve], list[tuple[str, str | None]]] | None:
    """The curves of one dataset's RD analysis (``measured`` plus the references and shipped anchor curves) and
    each anchor's (name, curve label or None); None when no curve is lossy."""
    section = with_references(list(measured), references_for(options.references, dataset))
    if not any(not c.lossless for c in section):
        return None
    return _resolve_anchors(section, references.split_anchors(options.anchor), dataset)


def _resolve_anchors(
    section: list[Curve], names: Sequence[str], dataset: str
) -> tuple[list[Curve], list[tuple[str, str | None]]]:
    """The section with the shipped anchor curves added, and each anchor's (name, name or curve label to look up
    with :func:`~codecbench.analysis.bdrate.find_anchor`).

    A name that is a measured codec or a curve label stays itself; a shipped alias adds its curve (once: a
    ``--reference`` of the same points is reused) and resolves to that curve's label, or to None where the
    curve was measured on another dataset.
    """
    resolved: list[tuple[str, str | None]] = []
    for name in names:
        if name not in references.SHIPPED or any(name in (c.label, c.codec) for c in section if not c.reference):
            resolved.append((name, name))
            continue
        curve = references.shipped_curve(name, dataset)
        if curve is None:
            resolved.append((name, None))
            continue
        same = next((c for c in section if c.reference and _same_points(c, curve)), None)
        if same is None:
            section = with_references(section, [curve])
            same = section[-1]
        else:
            section = [replace(c, description=curve.description) if c is same else c for c in section]
            same = next(c for c in section if c.label == same.label)
        resolved.append((name, same.label))
    return section, resolved


def _same_points(a: Curve, b: Curve) -> bool:
    return [(p.bpp, p.psnr) for p in a.points] == [(p.bpp, p.psnr) for p in b.points]
