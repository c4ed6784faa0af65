"""The rate–distortion part of a report: summary, BD-rate and fixed-rate tables, how sure the BD-rates are, plots,
worst images; and the equal-rate tables of ``--target-bpp`` runs.

:func:`rd_section` turns records (plus optional CompressAI-format reference
curves) into one dataset's markdown section; :func:`section_renderer` hands it
to :mod:`codecbench.render.markdown`, which appends it to the summary tables
(``codecbench report``, ``run --report-dir`` and the pytest session report).

The anchor option is a comma-separated list (``--anchor jpeg,vtm``): one
BD-rate table per anchor, and the summary line of each codec gives its
BD-rate against each. An anchor is a codec name or curve label, or the alias
of a shipped published curve (:mod:`codecbench.analysis.references`:
``vtm``, ``hm``, ``bpg444``, …), which is then added to the dataset it was
measured on as a reference curve and named with its source and version.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from codecbench.analysis import bdrate, references
from codecbench.analysis.compressai_json import PROVENANCE_KEYS, REQUIRED_PROVENANCE, export_curves, references_for
from codecbench.analysis.curves import AVERAGING, Curve, curves
from codecbench.core.results import Record
from codecbench.analysis.bootstrap import RESAMPLES
from codecbench.analysis.equal_rate import equal_rate_tables
from codecbench.render.confidence import bd_confidence_lines, equal_rate_markdown
from codecbench.render.rd_tables import bd_table, fixed_table
from codecbench.render.fmt import bd_value


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


def summary_lines(section: Sequence[Curve], options: RDOptions, anchors: Sequence[str] | None = None) -> list[str]:
    """One pasteable line per lossy codec: BD-rate vs each anchor (labels or codec names) and PSNR at 0.5 bpp."""
    names = references.split_anchors(options.anchor) if anchors is None else anchors
    bases: list[Curve] = []
    for base in (bdrate.find_anchor(section, a) for a in names):
        if base is not None and all(base is not b for b in bases):
            bases.append(base)
    lines = []
    for c in section:
        if c.lossless:
            continue
        parts = []
        for base in bases:
            if c is base:
                parts.append("anchor")
                continue
            psnr = bdrate.bd_rate(base, c, "psnr", method=options.method, min_overlap=options.min_overlap)
            ms = bdrate.bd_rate(base, c, "ms_ssim_db", method=options.method, min_overlap=options.min_overlap)
            parts.append(f"BD-rate vs {base.label}: {bd_value(psnr)} (PSNR), {bd_value(ms)} (MS-SSIM dB)")
        q = bdrate.quality_at(c, 0.5, "psnr", method=options.method)
        if q is not None:
            parts.append(f"{q:.2f} dB PSNR at 0.5 bpp")
        xs = [p.bpp for p in c.points if p.bpp is not None]
        if xs:
            parts.append(f"measured {min(xs):.3f}–{max(xs):.3f} bpp")
        lines.append(f"- **{bdrate.display_name(c)}**: " + "; ".join(parts))
    return lines


def worst_images(records: Sequence[Record], dataset: str, n: int) -> list[str]:
    """The ``n`` images with the lowest PSNR per lossy codec configuration (mean over its settings)."""
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.dataset == dataset and r.ok and not r.lossless and r.psnr is not None and r.target is None:
            groups[r.codec][r.image].append(r.psnr)
    lines = []
    for codec in sorted(groups):
        means = sorted((statistics.fmean(v), image) for image, v in groups[codec].items())
        shown = ", ".join(f"{image} ({psnr:.2f} dB)" for psnr, image in means[:n])
        lines.append(f"- {codec}: {shown}")
    if lines:
        lines.insert(0, f"Worst {n} images per codec by PSNR (mean over the codec's settings):")
        lines.insert(1, "")
    return lines


def rd_section(
    records: Sequence[Record],
    dataset: str,
    options: RDOptions = RDOptions(),
    *,
    level: int = 2,
    measured: Sequence[Curve] | None = None,
) -> str:
    """The RD section of one dataset ("" when it has no lossy curve); ``measured`` saves re-aggregating."""
    h = "#" * level
    if measured is None:
        measured = [c for c in curves(r for r in records if r.dataset == dataset)]
    resolved = section_curves(dataset, options, measured)
    if resolved is None:
        return ""
    section, anchors = resolved
    out = [f"{h} Rate–distortion analysis — {dataset}", ""]
    out += [f"{h}# Summary", "", *summary_lines(section, options, [a for _, a in anchors if a]), ""]
    for name, label in anchors:
        if label is None:
            shipped = references.SHIPPED[name]
            note = (f"No BD-rate table: the shipped `{name}` curve ({shipped.source}) was measured on "
                    f"`{shipped.dataset}`, not on `{dataset}`.")
            out += [f"{h}# BD-rate against {name}", "", note, ""]
            continue
        title = f"{name} — {references.SHIPPED[name].source}" if label != name else name
        out += [f"{h}# BD-rate against {title}", "", bd_table(
            section, label, method=options.method, min_overlap=options.min_overlap)]
    out += [f"{h}# Quality at fixed rates, rate at fixed qualities", "",
            fixed_table(section, method=options.method)]
    out += bd_confidence_lines(section, [label for _, label in anchors if label], records, options.method,
                               options.min_overlap, options.bootstrap, level + 1)
    if options.plots_dir is not None:
        from codecbench.render.plots import plot_dataset, plots_markdown

        first = next((label for _, label in anchors if label), bdrate.DEFAULT_ANCHOR)
        written = plot_dataset(section, options.plots_dir, anchor=first)
        if written:
            rel = options.report_dir if options.report_dir is not None else Path(os.getcwd())
            out += [f"{h}# Plots", "", plots_markdown(written, rel)]
    if options.per_image:
        out += [f"{h}# Worst images", "", *worst_images(records, dataset, options.per_image), ""]
    out += reference_lines([c for c in section if c.reference], level + 1)
    out += [AVERAGING, ""]
    return "\n".join(out)


def reference_lines(refs: Sequence[Curve], level: int) -> list[str]:
    """The reference curves of a section, each with its description and its provenance, part by part ("not
    recorded" where the file says nothing: a reference's numbers cannot be reproduced without them)."""
    if not refs:
        return []
    out = [f"{'#' * level} Reference curves (not measured here)", ""]
    for ref in refs:
        out.append(f"- **{ref.label}**: {ref.description}")
        if not ref.provenance:
            out.append("  - provenance: not recorded in the file (source, tool and version, configuration and "
                       "conversion unknown)")
        out += [f"  - {key}: {ref.provenance.get(key, 'not recorded in the file')}"
                for key in PROVENANCE_KEYS if ref.provenance and (key in ref.provenance or key in REQUIRED_PROVENANCE)]
    return out + [""]


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
    """The section with the shipped anchor curves added, and each anchor's (name, curve label to look up).

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


def check_anchors(records: Sequence[Record], options: RDOptions) -> None:
    """OptionError (one line) for an anchor that is no codec, curve or reference label, nor a shipped alias.

    The codec registry (which imports every codec, torch included) is consulted only for an anchor the
    records, curves and references do not name, so a report normally never imports a codec.
    """
    anchors = references.split_anchors(options.anchor)
    known = {r.codec for r in records} | {c.label for c in curves(records)}
    for dataset in {r.dataset for r in records}:
        known |= {c.label for c in references_for(options.references, dataset)}
    if not set(anchors) <= known | set(references.SHIPPED):
        from codecbench.core.codec import available_codecs

        known |= set(available_codecs())
    references.check_anchors(anchors, known)


def section_renderer(records: Sequence[Record], options: RDOptions = RDOptions()):
    """A :data:`codecbench.render.markdown.SectionRenderer` adding the RD section to each dataset report.

    Exports CompressAI JSON first when ``options.compressai_dir`` is set.
    """
    records = list(records)
    prepare(records, options)
    return lambda dataset, dataset_curves: section_lines(records, dataset, options, dataset_curves)


def prepare(records: Sequence[Record], options: RDOptions) -> None:
    """What the RD analysis does once per report, whatever its formats: check the anchors (OptionError) and
    export CompressAI JSON when ``options.compressai_dir`` is set."""
    check_anchors(records, options)
    if options.compressai_dir is not None:
        export_curves(curves(records), options.compressai_dir)


def section_lines(records: Sequence[Record], dataset: str, options: RDOptions,
                  dataset_curves: Sequence[Curve]) -> list[str]:
    """The markdown lines the RD section adds to a dataset report (none when it has no lossy curve)."""
    text = rd_section(records, dataset, options, measured=dataset_curves)
    tables = equal_rate_tables([r for r in records if r.dataset == dataset], references.split_anchors(options.anchor),
                               resamples=options.bootstrap)
    return (["", *text.splitlines()] if text else []) + equal_rate_markdown(tables, options.bootstrap)
