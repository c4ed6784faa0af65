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
from pathlib import Path
from typing import Sequence

from codecbench.analysis import bdrate, references
from codecbench.analysis.compressai_json import export_curves, references_for
from codecbench.analysis.curves import AVERAGING, Curve, curves
from codecbench.core.results import Record
from codecbench.render.confidence import bd_confidence_lines, equal_rate_markdown
from codecbench.render.rd_analysis import NO_PROVENANCE, RDAnalysis, RDOptions, provenance_items, rd_analysis
from codecbench.render.rd_tables import bd_table, fixed_table
from codecbench.render.fmt import bd_value


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
    analysis: RDAnalysis | None = None,
) -> str:
    """The RD section of one dataset ("" when it has no lossy curve); ``measured`` saves re-aggregating,
    ``analysis`` (:func:`~codecbench.render.rd_analysis.rd_analysis` of the same arguments) recomputing."""
    h = "#" * level
    if analysis is None:
        if measured is None:
            measured = curves(r for r in records if r.dataset == dataset)
        analysis = rd_analysis(records, dataset, options, measured)
    if not analysis.section:
        return ""
    section, anchors = analysis.section, analysis.anchors
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
    out += bd_confidence_lines(analysis.confidence, level + 1)
    if options.plots_dir is not None:
        from codecbench.render.plots import plot_dataset, plots_markdown

        first = next((label for _, label in anchors if label), bdrate.DEFAULT_ANCHOR)
        written = plot_dataset(section, options.plots_dir, anchor=first)
        if written:
            rel = options.report_dir if options.report_dir is not None else Path(os.getcwd())
            out += [f"{h}# Plots", "", plots_markdown(written, rel)]
    if options.per_image:
        out += [f"{h}# Worst images", "", *worst_images(records, dataset, options.per_image), ""]
    out += reference_lines(analysis.references, level + 1)
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
            out.append(f"  - provenance: {NO_PROVENANCE}")
        out += [f"  - {key}: {text}" for key, text in provenance_items(ref)]
    return out + [""]


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
                  dataset_curves: Sequence[Curve], analysis: RDAnalysis | None = None) -> list[str]:
    """The markdown lines the RD section adds to a dataset report (none when it has no lossy curve nor equal-rate
    records); ``analysis``: the dataset's, already computed (:attr:`DatasetReport.analysis`)."""
    if analysis is None:
        analysis = rd_analysis(records, dataset, options, dataset_curves)
    text = rd_section(records, dataset, options, analysis=analysis)
    return (["", *text.splitlines()] if text else []) + equal_rate_markdown(analysis.equal_rate, analysis.resamples)
