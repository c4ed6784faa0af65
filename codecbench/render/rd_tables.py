"""The BD-rate and fixed-rate tables of a report as markdown, from the data of :mod:`codecbench.analysis.bdrate`."""

from __future__ import annotations

from typing import Sequence

from codecbench.analysis.bdrate import (
    DEFAULT_ANCHOR, DEFAULT_METHOD, FIXED_QUALITIES, FIXED_RATES, METHOD_TEXT, MIN_OVERLAP, BDTable,
    FixedRow, bd_rows, display_name, fixed_rows,
)
from codecbench.analysis.curves import Curve
from codecbench.render.fmt import bd_value, number


def bd_table(
    curves: Sequence[Curve],
    anchor: str = DEFAULT_ANCHOR,
    *,
    method: str = DEFAULT_METHOD,
    min_overlap: float = MIN_OVERLAP,
) -> str:
    """Markdown BD-rate/BD-PSNR table of every lossy curve of one dataset against ``anchor``."""
    return bd_markdown(bd_rows(curves, anchor, method=method, min_overlap=min_overlap))


def bd_markdown(table: BDTable) -> str:
    """``table`` as markdown: a sentence naming the anchor, the table, how it was interpolated, and its notes."""
    if table.base is None:
        names = ", ".join(table.labels) or "none"
        return f"No BD-rate table: the anchor `{table.anchor}` has no lossy curve here (curves: {names}).\n"
    averaged = bool(table.mean_over)
    head = (["Codec", "Points"] + [f"BD-rate {t}" for t in table.metrics.values()] + ["BD-PSNR"]
            + (["Mean BD-rate"] if averaged else []))
    lines = [table_row(head), table_row(["---"] + ["---:"] * (len(head) - 1))]
    for row in table.rows:
        lines.append(table_row([display_name(row.curve), str(len(row.curve.points)),
                           *(bd_value(row.bd_rate[metric]) for metric in table.metrics),
                           bd_value(row.bd_psnr, "dB"), *([bd_value(row.mean)] if averaged else [])]))
    base = table.base
    source = f" — {base.description}" if base.reference and base.description else ""
    text = [
        f"BD-rate and BD-PSNR against the anchor **{display_name(base)}**{source} "
        f"(negative BD-rate / positive BD-PSNR = better than the anchor).",
        "",
        *lines,
        "",
        f"Interpolation: {METHOD_TEXT[table.method]} on log10(bpp), `bjontegaard` package. "
        f"Values are averaged over the overlap of the two curves only, never extrapolated; "
        f"\"n/a (no overlap)\" where the overlap is under {table.min_overlap:.0%} of the shorter curve's range. "
        "Curves are reduced to their upper envelope (quality rising with rate) first; "
        "settings where some images failed are left out.",
    ]
    if averaged:
        members = [table.metrics[m] for m in table.mean_over]
        text[-1] += (f" Mean BD-rate: the mean of the BD-rates on {', '.join(members)} (of JPEG AI's multi-metric "
                     "average, those the anchor has), n/a where any of them is.")
    if table.notes:
        text += ["", *[f"- {n}" for n in table.notes]]
    return "\n".join(text) + "\n"


def fixed_table(
    curves: Sequence[Curve],
    *,
    rates: Sequence[float] = FIXED_RATES,
    qualities: Sequence[float] = FIXED_QUALITIES,
    method: str = DEFAULT_METHOD,
) -> str:
    """Markdown table: PSNR at fixed bpp and bpp at fixed PSNR, per lossy curve, inside the measured range only."""
    return fixed_markdown(fixed_rows(curves, rates=rates, qualities=qualities, method=method), rates, qualities,
                          method)


def fixed_markdown(rows: Sequence[FixedRow], rates: Sequence[float], qualities: Sequence[float], method: str) -> str:
    """``rows`` as a markdown table with its interpolation note ("No lossy curves." when there are none)."""
    if not rows:
        return "No lossy curves.\n"
    head = ["Codec"] + [f"PSNR @ {r:g} bpp" for r in rates] + [f"bpp @ {q:g} dB" for q in qualities]
    lines = [table_row(head), table_row(["---"] + ["---:"] * (len(head) - 1))]
    for row in rows:
        lines.append(table_row([display_name(row.curve), *(number(row.quality_at[r], 2) for r in rates),
                           *(number(row.rate_at[q], 4) for q in qualities)]))
    note = (f"Interpolated ({METHOD_TEXT[method]}, PSNR against log10(bpp)) on each curve's upper envelope; "
            "— where the value lies outside the measured range (never extrapolated).")
    return "\n".join([*lines, "", note]) + "\n"


def table_row(cells: Sequence[str]) -> str:
    """One markdown table row of ``cells`` (a ``|`` in a cell escaped)."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
