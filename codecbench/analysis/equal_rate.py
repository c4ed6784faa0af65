"""Equal-rate and equal-quality comparisons: the records of ``codecbench run --target-bpp`` / ``--target-psnr``.

Per dataset, device and target, each codec configuration gets one
:class:`EqualRateRow`:

- the target as reached: mean, min and max over images, and how many are on
  target (within :data:`~codecbench.core.targets.TOLERANCE`);
- the outcome (mean PSNR in dB at a bpp target, mean bpp at a PSNR target)
  with its bootstrap interval over images;
- against the anchor, paired over shared images: the mean per-image
  difference (dB, or % bpp) with its interval, and on how many images the
  codec is better.

A codec without a rate knob is marked ``knobless``. The manual: ``docs/reports.md``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from codecbench.analysis import bootstrap
from codecbench.analysis.anchors import Configuration, pick_anchor
from codecbench.analysis.bootstrap import Estimate
from codecbench.core.results import Record
from codecbench.core.targets import TOLERANCE, Target, configuration


@dataclass(frozen=True)
class Paired:
    """The mean per-image difference codec − anchor (``diff``, with its interval), on how many of the
    ``diff.n`` common images the codec is better, and ``reached_gap``: the mean per-image difference of the
    target metric as reached (bpp in % of the anchor's, or PSNR in dB), which a knob too coarse or too short to
    reach the target leaves large."""

    diff: Estimate
    better: int
    reached_gap: float = 0.0

    def off_target(self, target: Target) -> bool:
        """Whether the two reached the target so differently (over twice the tolerance) that the difference of
        the outcome is partly one of rate (or quality)."""
        return abs(self.reached_gap) > 2 * (100 * TOLERANCE["bpp"] if target.metric == "bpp" else TOLERANCE["psnr"])


@dataclass(frozen=True)
class EqualRateRow:
    """One codec configuration at one target (module docstring); ``failed``: images whose record failed."""

    label: str
    reached_mean: float
    reached_min: float
    reached_max: float
    on_target: int
    outcome: Estimate
    knobless: bool = False
    failed: int = 0
    versus: Paired | None = None


@dataclass(frozen=True)
class EqualRateTable:
    """The rows of one dataset, device and target; ``anchor``: the label the rows are compared with (None: no
    configuration of that name has records at this target)."""

    dataset: str
    device: str
    target: Target
    anchor: str | None
    rows: list[EqualRateRow]

    @property
    def outcome(self) -> str:
        """The metric compared at this target: ``psnr`` at a bpp target, ``bpp`` at a PSNR target."""
        return "psnr" if self.target.metric == "bpp" else "bpp"


def configuration_labels(records: Sequence[Record]) -> dict[tuple, str]:
    """A label per configuration (:func:`~codecbench.core.targets.configuration`) of ``records``: the codec name, with the settings added where
    the codec appears with several configurations (``jpeg``, ``jpeg[subsampling=4:4:4]``)."""
    configs = {configuration(r.spec, r.knob) for r in records}
    by_codec: dict[str, list[tuple]] = defaultdict(list)
    for codec, fixed in configs:
        by_codec[codec].append(fixed)
    def label(codec: str, fixed: tuple) -> str:
        return codec if len(by_codec[codec]) == 1 else f"{codec}[{','.join(f'{k}={v}' for k, v in fixed)}]"

    return {config: label(*config) for config in configs}


def equal_rate_tables(records: Sequence[Record], anchors: Sequence[str] = (), *,
                      resamples: int = bootstrap.RESAMPLES) -> list[EqualRateTable]:
    """One table per (dataset, device, target) of the records that have a target (none: no tables), sorted.

    The anchor of each table is the configuration with records at that target that the first of ``anchors``
    to pick one picks (:func:`~codecbench.analysis.anchors.pick_anchor`, the rule of every part of a report).
    """
    latest = _latest(records)
    labels = configuration_labels(list(latest.values()))
    groups: dict[tuple[str, str, str], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in latest.values():
        groups[(r.dataset, r.device, r.target)][labels[configuration(r.spec, r.knob)]].append(r)
    tables = []
    for (dataset, device, text), by_label in sorted(groups.items(), key=lambda g: (*g[0][:2], _order(g[0][2]))):
        target = Target.parse(text)
        configs = [Configuration(label, rs[0].codec, device) for label, rs in by_label.items()]
        anchor_label = next((c.label for c in (pick_anchor(configs, a) for a in anchors) if c is not None), None)
        rows = [_row(label, rs, target, by_label.get(anchor_label) if label != anchor_label else None, resamples)
                for label, rs in sorted(by_label.items())]
        tables.append(EqualRateTable(dataset, device, target, anchor_label, [r for r in rows if r is not None]))
    return tables


def _latest(records: Sequence[Record]) -> dict[tuple, Record]:
    """The record of each (configuration, dataset, device, image, target): the last one, unless it failed where an
    earlier one succeeded (a search that failed and was retried at another setting leaves both in the file)."""
    latest: dict[tuple, Record] = {}
    for r in records:
        if r.target is None:
            continue
        key = (configuration(r.spec, r.knob), r.dataset, r.device, r.image, r.target)
        if key not in latest or r.ok or not latest[key].ok:
            latest[key] = r
    return latest


def _order(text: str) -> tuple[str, float]:
    target = Target.parse(text)
    return target.metric, target.value


def _row(label: str, records: list[Record], target: Target, anchor: list[Record] | None,
         resamples: int) -> EqualRateRow | None:
    """The row of one configuration's records at ``target`` (None when no image succeeded)."""
    outcome = "psnr" if target.metric == "bpp" else "bpp"
    ok = sorted((r for r in records if r.ok and getattr(r, target.metric) is not None
                 and getattr(r, outcome) is not None), key=lambda r: r.image)
    if not ok:
        return None
    reached = [getattr(r, target.metric) for r in ok]
    estimate = bootstrap.mean_estimate([getattr(r, outcome) for r in ok], resamples=resamples)
    return EqualRateRow(label, sum(reached) / len(reached), min(reached), max(reached),
                        sum(target.reached(v) for v in reached), estimate,
                        knobless=all(r.target_encodes == 0 for r in ok), failed=len(records) - len(ok),
                        versus=None if anchor is None else _paired(ok, anchor, target.metric, resamples))


def _paired(records: list[Record], anchor: list[Record], metric: str, resamples: int) -> Paired | None:
    """Codec − anchor over the images both hold at a ``metric`` target: PSNR in dB at a bpp target (better:
    higher), bpp in % of the anchor's at a PSNR target (better: lower)."""
    outcome = "psnr" if metric == "bpp" else "bpp"
    theirs = {r.image: r for r in anchor if r.ok and getattr(r, outcome) is not None}
    pairs = [(r, theirs[r.image]) for r in records if r.image in theirs]
    if not pairs:
        return None
    diffs = [_difference(getattr(mine, outcome), getattr(other, outcome), outcome) for mine, other in pairs]
    gaps = [_difference(getattr(mine, metric), getattr(other, metric), metric) for mine, other in pairs]
    better = sum(d > 0 for d in diffs) if outcome == "psnr" else sum(d < 0 for d in diffs)
    return Paired(bootstrap.mean_estimate(diffs, resamples=resamples), better, sum(gaps) / len(gaps))


def _difference(mine: float, other: float, metric: str) -> float:
    """``mine`` − ``other``: in dB for PSNR, in % of ``other`` for bpp."""
    return mine - other if metric == "psnr" else 100.0 * (mine / other - 1.0)
