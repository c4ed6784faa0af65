"""The RD analysis of a report (:class:`~codecbench.render.rd_analysis.RDAnalysis`) as plain JSON data.

The ``confidence``, ``equal_rate`` and ``references`` keys of the JSON report
(:mod:`codecbench.render.report_json`), which the HTML page draws and the CSV
format flattens into its extra files. Numbers are raw (None where the
markdown prints "—"); an interval is ``{"value", "low", "high", "n"}`` (low
and high None where there is none); each verdict comes twice: as a word
(:meth:`~codecbench.analysis.bootstrap.Estimate.judgement`) and as the
markdown report words it (:mod:`codecbench.render.confidence`).
"""

from __future__ import annotations

import math
from typing import Any

from codecbench.analysis.bd_confidence import BDConfidence
from codecbench.analysis.bdrate import display_name
from codecbench.analysis.bootstrap import Estimate, method_text
from codecbench.analysis.equal_rate import EqualRateRow, EqualRateTable
from codecbench.render.confidence import KNOBLESS, bd_verdict, equal_rate_verdict
from codecbench.render.rd_analysis import NO_PROVENANCE, RDAnalysis, provenance_items


def analysis_dict(analysis: RDAnalysis | None) -> dict[str, Any]:
    """The ``confidence``, ``equal_rate`` and ``references`` keys of a report's data (empty without an analysis)."""
    if analysis is None:
        return {"confidence": None, "equal_rate": [], "references": []}
    return {"confidence": _confidence(analysis),
            "equal_rate": [equal_rate_dict(t, analysis.resamples) for t in analysis.equal_rate],
            "references": [{"label": c.label, "description": c.description,
                            "provenance": dict(provenance_items(c)) or None,
                            "note": None if c.provenance else NO_PROVENANCE} for c in analysis.references]}


def estimate_dict(estimate: Estimate | None) -> dict[str, Any] | None:
    """An interval as data: value, low and high (None without an interval) and the images it is over."""
    if estimate is None:
        return None
    return {"value": json_number(estimate.value), "low": json_number(estimate.low),
            "high": json_number(estimate.high), "n": estimate.n}


def _confidence(analysis: RDAnalysis) -> dict[str, Any] | None:
    confidence = analysis.confidence
    if confidence is None:
        return None
    return {"anchor": display_name(confidence.anchor), "metric": "psnr", "unit": "%",
            "method": method_text(confidence.resamples), "rows": [_bd_row(r) for r in confidence.rows]}


def _bd_row(row: BDConfidence) -> dict[str, Any]:
    judged = row.of_means.judgement(better_below=True) if row.of_means is not None and row.reason is None else None
    return {"label": display_name(row.curve), "of_means": estimate_dict(row.of_means),
            "per_image": estimate_dict(row.per_image), "better": row.better if row.per_image else None,
            "images": row.images if row.per_image else None, "reason": row.reason, "verdict": judged,
            "verdict_text": bd_verdict(row)}


def equal_rate_dict(table: EqualRateTable, resamples: int) -> dict[str, Any]:
    """One equal-rate table: its device, target, the metric compared there (``outcome``), the unit of the
    difference against the anchor (``dB`` of PSNR at a bpp target, ``%`` of the anchor's bpp at a PSNR one), and
    how its intervals were made (``resamples`` bootstrap resamples)."""
    return {"dataset": table.dataset, "device": table.device, "target": str(table.target),
            "target_metric": table.target.metric, "target_value": table.target.value, "outcome": table.outcome,
            "diff_unit": "dB" if table.outcome == "psnr" else "%", "anchor": table.anchor,
            "rows": [_equal_rate_row(r, table) for r in table.rows],
            "knobless_note": KNOBLESS if any(r.knobless for r in table.rows) else None,
            "method": method_text(resamples)}


def _equal_rate_row(row: EqualRateRow, table: EqualRateTable) -> dict[str, Any]:
    versus = row.versus
    better_below = table.outcome == "bpp"
    return {
        "label": row.label, "knobless": row.knobless, "images": row.outcome.n, "failed": row.failed,
        "reached_mean": json_number(row.reached_mean), "reached_min": json_number(row.reached_min),
        "reached_max": json_number(row.reached_max), "on_target": row.on_target, "outcome": estimate_dict(row.outcome),
        "anchor": row.label == table.anchor,
        "diff": None if versus is None else estimate_dict(versus.diff),
        "better": None if versus is None else versus.better,
        "reached_gap": None if versus is None else json_number(versus.reached_gap),
        "off_target": None if versus is None else versus.off_target(table.target),
        "verdict": None if versus is None else versus.diff.judgement(better_below),
        "verdict_text": equal_rate_verdict(row, table) if table.anchor is not None else None,
    }


def json_number(value: Any) -> float | None:
    """A finite number, or None (JSON has no NaN or infinity)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value
