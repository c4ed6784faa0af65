"""How sure a difference is, as markdown: BD-rates with their intervals, and the equal-rate tables.

The figures come from :mod:`codecbench.analysis.bd_confidence` and
:mod:`codecbench.analysis.equal_rate`; this module only writes them, and
says of every difference whether its 95 % interval excludes zero (a
difference larger than the spread over images) or not ("within the
interval": no clear difference on these images).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from codecbench.analysis.bd_confidence import BDConfidence
from codecbench.analysis.bdrate import display_name
from codecbench.analysis.bootstrap import Estimate, method_text
from codecbench.analysis.curves import Curve
from codecbench.analysis.equal_rate import EqualRateRow, EqualRateTable
from codecbench.core.targets import MAX_FLOAT_EVALUATIONS, TOLERANCE
from codecbench.render.rd_tables import table_row

if TYPE_CHECKING:
    from codecbench.render.rd_analysis import Confidence

#: Each :meth:`~codecbench.analysis.bootstrap.Estimate.judgement` in words.
VERDICTS = {"better": "better (interval excludes 0)", "worse": "worse (interval excludes 0)",
            "within": "within the interval: no clear difference", "no interval": "no interval"}
#: What the ``†`` after a codec in an equal-rate table means.
KNOBLESS = "† no rate knob: measured once per image, at its own rate, and shown at every target"


def verdict(estimate: Estimate | None, better_below: bool) -> str:
    """Whether the interval of a difference excludes 0, in words (``better_below``: a negative value is better)."""
    return "—" if estimate is None else VERDICTS[estimate.judgement(better_below)]


def bd_verdict(row: BDConfidence) -> str:
    """The verdict of a BD-rate row, in words: its mean curves' interval read, or why it has none."""
    return verdict(row.of_means, better_below=True) if row.reason is None else f"— ({row.reason})"


def equal_rate_verdict(row: EqualRateRow, table: EqualRateTable) -> str:
    """The verdict of an equal-rate row against the table's anchor, in words, with the rate (or quality) gap
    where the two reached the target far apart; ``—`` for the anchor's own row and a row without a common image."""
    if row.versus is None:
        return "—"
    bpp_target = table.target.metric == "bpp"
    judged = verdict(row.versus.diff, better_below=not bpp_target)
    if row.versus.off_target(table.target):
        gap = row.versus.reached_gap
        judged += (f"; at {gap:+.0f} % bpp against the anchor's" if bpp_target
                   else f"; at {gap:+.2f} dB PSNR against the anchor's")
    return judged


def bd_confidence_lines(confidence: Confidence | None, level: int) -> list[str]:
    """The "how sure" subsection of ``confidence`` (:class:`~codecbench.render.rd_analysis.Confidence`); none
    when it is None (no measured anchor, or no intervals asked for)."""
    if confidence is None:
        return []
    anchor = confidence.anchor
    return [f"{'#' * level} How sure: BD-rate against {anchor.label} with 95 % intervals over images", "",
            bd_confidence_markdown(confidence.rows, anchor, confidence.resamples)]


def bd_confidence_markdown(rows: Sequence[BDConfidence], anchor: Curve, resamples: int) -> str:
    """The table of BD-rates (PSNR) against ``anchor`` with their intervals, per-image BD-rates and counts."""
    lines = ["| Codec | BD-rate of the mean curves [95 % interval] | mean per-image BD-rate [95 % interval] "
             "| better on | verdict |", "| --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        of_means = "n/a" if row.of_means is None else row.of_means.format(2, "%", signed=True)
        per_image = "—" if row.per_image is None else row.per_image.format(2, "%", signed=True)
        better = f"{row.better} of {row.images} images" if row.per_image is not None else "—"
        lines.append(table_row([display_name(row.curve), of_means, per_image, better, bd_verdict(row)]))
    return "\n".join([
        f"BD-rate (PSNR) against **{display_name(anchor)}**, with how sure each is "
        "(negative = fewer bits than the anchor for the same PSNR).", "", *lines, "",
        "BD-rate of the mean curves: the figure of the BD-rate table. Mean per-image BD-rate: each image's own curve "
        "against the anchor's on that image, averaged over the images where the two overlap (as JPEG AI's evaluation "
        "averages them); better on: images whose own BD-rate is negative. Intervals: "
        f"{method_text(resamples)}. The verdict reads the interval of the mean curves' BD-rate.", ""])


def equal_rate_markdown(tables: Sequence[EqualRateTable], resamples: int, level: int = 2) -> list[str]:
    """The equal-rate section of one dataset: a table per device and target, then how they were made."""
    if not tables:
        return []
    h = "#" * level
    out = ["", f"{h} At equal rate — {tables[0].dataset}", "",
           "Each codec configuration's rate knob was searched on each image to each target "
           "(`--target-bpp` / `--target-psnr` of `codecbench run` or `pytest bench`: bisection over the knob's "
           "values; on target = within "
           f"{TOLERANCE['bpp']:.0%} of the rate or {TOLERANCE['psnr']:g} dB of the PSNR; an integer knob stops at "
           f"its own resolution, a float knob after at most {MAX_FLOAT_EVALUATIONS} encodes), then measured there. "
           "The reached columns give the spread of what the search achieved.", ""]
    for table in tables:
        out += _table(table, h)
    if any(r.knobless for t in tables for r in t.rows):
        out += [KNOBLESS, ""]
    out += [f"Intervals: {method_text(resamples)}. Differences are paired per image against the anchor; a "
            "verdict adds the rate (or quality) gap where the two reached the target more than twice the tolerance "
            "apart on average (a knob too coarse, or unable to reach it): then the difference is partly one of rate.",
            ""]
    return out


def _table(table: EqualRateTable, h: str) -> list[str]:
    bpp_target = table.target.metric == "bpp"
    title = f"{table.target.value:g} bpp" if bpp_target else f"{table.target.value:g} dB PSNR"
    reached, outcome = ("bpp", "PSNR dB") if bpp_target else ("PSNR dB", "bpp")
    delta = f"Δ PSNR dB vs {table.anchor}" if bpp_target else f"Δ bpp % vs {table.anchor}"
    head = ["Codec", "images", f"{reached} reached: mean (min–max)", "on target", f"{outcome} [95 % interval]"]
    if table.anchor is not None:
        head += [delta + " [95 % interval]", "better on", "verdict"]
    lines = [table_row(head), table_row(["---"] + ["---:"] * (len(head) - 1 - (table.anchor is not None)) +
                              (["---"] if table.anchor is not None else []))]
    for row in table.rows:
        lines.append(table_row(_cells(row, table, bpp_target)))
    return [f"{h}# At {title} ({table.device})", "", *lines, ""]


def _cells(row: EqualRateRow, table: EqualRateTable, bpp_target: bool) -> list[str]:
    digits = 4 if bpp_target else 2
    n = row.outcome.n
    cells = [row.label + (" †" if row.knobless else ""), f"{n}/{n + row.failed}",
             f"{row.reached_mean:.{digits}f} ({row.reached_min:.{digits}f}–{row.reached_max:.{digits}f})",
             f"{row.on_target}/{n}", row.outcome.format(2 if bpp_target else 4)]
    if table.anchor is None:
        return cells
    if row.label == table.anchor:
        return cells + ["anchor", "—", "—"]
    if row.versus is None:
        return cells + ["— (no common image)", "—", "—"]
    diff = row.versus.diff
    return cells + [diff.format(2 if bpp_target else 1, "" if bpp_target else "%", signed=True),
                    f"{row.versus.better} of {diff.n} images", equal_rate_verdict(row, table)]

