"""Regression gate: compare two results files (BASE, NEW) for quality, rate and speed — the decision, as data.

Inputs are codecbench results or pytest-benchmark JSON, read as validated
records by :mod:`codecbench.analysis.inputs`. The gate fails closed: for each
configuration and setting of BASE, a setting missing from NEW, or not held on
the same images (and the same failed images) in both, is a failure, and no
mean or BD-rate is formed over different images. On matching settings it
gives the bpp (%) and PSNR (dB) changes, lost lossless round-trips, gated
values missing in NEW, speed ratios NEW/BASE (gated only with
``max_slowdown``) and the BD-rate of NEW against BASE. A record held twice
with different values is a failure; what is only in NEW is information.
:mod:`codecbench.render.gate` writes the report. The manual: ``docs/ci.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from codecbench.analysis.bdrate import BD, DEFAULT_METHOD, bd_rate
from codecbench.analysis.conditions import timing_warning
from codecbench.analysis.curves import Curve, CurvePoint, curves, point_of
from codecbench.analysis.duplicates import Duplicate
from codecbench.analysis.inputs import load_results
from codecbench.analysis.thresholds import Thresholds
from codecbench.core.metrics import METRICS
from codecbench.core.results import Record

#: How many image ids a failure message names before it only counts the rest.
NAMED_IMAGES = 5


@dataclass(frozen=True)
class Violation:
    """One crossed threshold or failed check, naming the codec configuration and setting."""

    dataset: str
    device: str
    codec: str
    setting: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.codec}" + (f" {self.setting}" if self.setting else "")
        return f"{self.dataset}/{self.device}: {where}: {self.message}"


def _ratio(new: float | None, base: float | None) -> float | None:
    if new is None or base is None or base <= 0 or new <= 0:
        return None
    return new / base


def _geomean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in vals)) if vals else None


@dataclass(frozen=True)
class SettingResult:
    """One setting of a codec configuration: BASE's point, NEW's point when it is a mean over the same images
    (else None: missing, or other images), and the failures found."""

    setting: str
    base: CurvePoint
    new: CurvePoint | None
    problems: tuple[str, ...] = ()

    @property
    def bpp_change(self) -> float | None:
        """NEW's bpp minus BASE's, in percent of BASE's."""
        if self.new is None or self.new.bpp is None or not self.base.bpp:
            return None
        return 100.0 * (self.new.bpp - self.base.bpp) / self.base.bpp

    @property
    def psnr_change(self) -> float | None:
        """NEW's PSNR minus BASE's, dB."""
        if self.new is None or self.new.psnr is None or self.base.psnr is None:
            return None
        return self.new.psnr - self.base.psnr

    @property
    def enc_ratio(self) -> float | None:
        return _ratio(self.new.enc_s, self.base.enc_s) if self.new else None

    @property
    def dec_ratio(self) -> float | None:
        return _ratio(self.new.dec_s, self.base.dec_s) if self.new else None


@dataclass(frozen=True)
class CodecResult:
    """One codec configuration on one dataset and device.

    ``status``: ``"compared"``, ``"missing"`` (from NEW: a failure) or
    ``"new"`` (only in NEW: information). ``bd``: BD-rate (PSNR) over the
    settings with the same images (None for a lossless codec or when not
    compared); ``added``: settings only NEW holds; ``problems``: failures of
    the whole configuration (missing, BD-rate, slowdown).
    """

    dataset: str
    device: str
    label: str
    status: str
    n_settings: int
    lossless: bool = False
    bd: BD | None = None
    settings: tuple[SettingResult, ...] = ()
    added: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(s.problems for s in self.settings)

    @property
    def worst_bpp_change(self) -> float | None:
        return max((s.bpp_change for s in self.settings if s.bpp_change is not None), default=None)

    @property
    def worst_psnr_change(self) -> float | None:
        return min((s.psnr_change for s in self.settings if s.psnr_change is not None), default=None)

    @property
    def enc_ratio(self) -> float | None:
        """Geometric mean over settings of NEW/BASE encode time."""
        return _geomean(s.enc_ratio for s in self.settings)

    @property
    def dec_ratio(self) -> float | None:
        return _geomean(s.dec_ratio for s in self.settings)

    def violations(self) -> list[Violation]:
        where = (self.dataset, self.device, self.label)
        return [Violation(*where, None, m) for m in self.problems] + [
            Violation(*where, s.setting, m) for s in self.settings for m in s.problems]


@dataclass
class Comparison:
    """What the gate decided: per codec configuration, the failures (``violations``), ``notes``, and
    ``warnings`` about what the figures mean (BASE and NEW timed on different machines)."""

    base_name: str
    new_name: str
    thresholds: Thresholds
    codecs: list[CodecResult]
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


class _Side(NamedTuple):
    """One input's curves by identity and its records by (dataset, device, spec)."""

    curves: dict[tuple, Curve]
    by_spec: dict[tuple[str, str, str], list[Record]]

    @classmethod
    def of(cls, records: list[Record]) -> _Side:
        by_spec: dict[tuple[str, str, str], list[Record]] = {}
        for r in records:
            by_spec.setdefault((r.dataset, r.device, r.spec), []).append(r)
        return cls({c.identity: c for c in curves(records)}, by_spec)


# -- comparing ---------------------------------------------------------
def compare_records(
    base: list[Record],
    new: list[Record],
    thresholds: Thresholds = Thresholds(),
    *,
    base_name: str = "BASE",
    new_name: str = "NEW",
    method: str = DEFAULT_METHOD,
) -> Comparison:
    """Compare two sets of records (one per identity; not those with a ``target``); the decision, as data."""
    sides = (_Side.of([r for r in base if r.target is None]), _Side.of([r for r in new if r.target is None]))
    codecs = [_compare_codec(sides[0].curves.get(i), sides[1].curves.get(i), sides, thresholds, method, new_name)
              for i in sorted(sides[0].curves.keys() | sides[1].curves.keys())]
    notes = []
    for c in codecs:
        where = f"{c.dataset}/{c.device}: {c.label}"
        if c.status == "new":
            notes.append(f"{where} is new in {new_name} ({c.n_settings} settings); not gated")
        notes += [f"{where} {setting} is new in {new_name}; not gated" for setting in c.added]
    violations = [v for c in codecs for v in c.violations()]
    return Comparison(base_name, new_name, thresholds, codecs, violations, notes)


def _compare_codec(b: Curve | None, n: Curve | None, sides: tuple[_Side, _Side], t: Thresholds, method: str,
                   new_name: str) -> CodecResult:
    """One codec configuration: its settings, BD-rate over those with the same images, and its failures."""
    if n is None:
        assert b is not None
        return CodecResult(b.dataset, b.device, b.label, "missing", len(b.points), b.lossless,
                           problems=(f"missing from {new_name}",))
    if b is None:
        return CodecResult(n.dataset, n.device, n.label, "new", len(n.points), n.lossless)
    new_by_spec = {q.spec: q for q in n.points}
    settings = tuple(_compare_setting(b, p, new_by_spec.get(p.spec), sides, t, new_name) for p in b.points)
    same_images = {s.base.spec for s in settings if s.new is not None}
    bd = None if b.lossless else bd_rate(_only(b, same_images), _only(n, same_images), "psnr", method=method)
    result = CodecResult(n.dataset, n.device, n.label, "compared", len(b.points), b.lossless, bd, settings,
                         added=tuple(n.setting_text(q) for q in n.points if q.spec not in {p.spec for p in b.points}))
    problems = []
    if bd is not None and bd.value is not None and bd.value > t.max_bd_rate:
        problems.append(f"BD-rate (PSNR) {bd.value:+.3f}% > +{t.max_bd_rate:g}%")
    if t.max_slowdown is not None:
        for what, ratio in (("encode", result.enc_ratio), ("decode", result.dec_ratio)):
            if ratio is not None and ratio > t.max_slowdown:
                problems.append(f"{what} time ×{ratio:.2f} of BASE > ×{t.max_slowdown:g}")
    return dataclasses.replace(result, problems=tuple(problems))


def _compare_setting(b: Curve, p: CurvePoint, q: CurvePoint | None, sides: tuple[_Side, _Side], t: Thresholds,
                     new_name: str) -> SettingResult:
    """One setting: first whether BASE and NEW hold means over the same images, then the thresholds."""
    setting = b.setting_text(p)
    if q is None:
        return SettingResult(setting, p, None, (f"setting missing from {new_name}",))
    key = (b.dataset, b.device, p.spec)
    base_records, new_records = sides[0].by_spec[key], sides[1].by_spec[key]
    problems = _image_problems(base_records, new_records)
    if problems:
        return SettingResult(setting, p, None, tuple(problems))
    base_ok, new_ok = ({r.image: r for r in records if r.ok} for records in (base_records, new_records))
    return SettingResult(setting, p, q, tuple(_point_problems(p, q, b.lossless, t)
                                              + _value_problems(base_ok, new_ok, b.lossless)))


def _image_problems(base: list[Record], new: list[Record]) -> list[str]:
    """Why one setting's BASE and NEW records are not means over the same images: other images, other
    failures, or no success at all (empty when they are comparable)."""
    for what, pick in (("images", lambda r: True), ("failed images", lambda r: not r.ok)):
        b, n = ({r.image for r in records if pick(r)} for records in (base, new))
        if b != n:
            differences = [f"{side} {_names(images)}" for side, images in
                           ((f"{what} only in NEW:", n - b), (f"{what} only in BASE:", b - n)) if images]
            return [f"not the same {what} in BASE and NEW, so no mean is compared: {'; '.join(differences)}"]
    if all(not r.ok for r in base):
        return ["no image succeeded in BASE nor in NEW: nothing to compare"]
    return []


def _names(images: set[str]) -> str:
    """The first :data:`NAMED_IMAGES` of ``images`` sorted, and how many more."""
    named = sorted(images)[:NAMED_IMAGES]
    more = len(images) - len(named)
    return ", ".join(named) + (f" and {more} more" if more else "")


def _only(curve: Curve, specs: set[str]) -> Curve:
    return dataclasses.replace(curve, points=[p for p in curve.points if p.spec in specs])


def _point_problems(p: CurvePoint, q: CurvePoint, lossless: bool, t: Thresholds) -> list[str]:
    """The thresholds crossed between BASE's point ``p`` and NEW's ``q`` (means over the same images)."""
    problems = []
    if q.bpp is not None and p.bpp:
        rise = 100.0 * (q.bpp - p.bpp) / p.bpp
        if rise > t.max_bpp_rise:
            problems.append(f"bpp {p.bpp:.4f} → {q.bpp:.4f} ({rise:+.2f}% > +{t.max_bpp_rise:g}%)")
    if lossless:
        if p.exact and q.exact is False:
            problems.append("no longer an exact (lossless) round trip")
    elif p.psnr is not None and q.psnr is not None and p.psnr - q.psnr > t.max_psnr_drop:
        problems.append(
            f"PSNR {p.psnr:.3f} → {q.psnr:.3f} dB ({q.psnr - p.psnr:+.3f} dB, limit −{t.max_psnr_drop:g} dB)"
        )
    return problems


def _defect(value: float | int | None) -> str | None:
    """How a measurement is unusable (``"null or missing"``, ``"NaN"``, ``"Infinity"``), or None if it is finite."""
    if value is None:
        return "null or missing"
    if math.isnan(value):
        return "NaN"
    return None if math.isfinite(value) else json.dumps(value)


def _value_problems(base: dict[str, Record], new: dict[str, Record], lossless: bool) -> list[str]:
    """A failure for each gated measurement of one setting that is unusable (null, missing, NaN, infinite).

    ``base`` and ``new`` are the setting's successful records by image. The
    gated measurements are ``bpp``, and ``bytes`` and (lossy codecs only)
    ``psnr`` where BASE has them on some image. NEW fails where such a
    value is unusable on a successful image, unless BASE lacks it (null)
    on that image too (a PSNR left out for an identical decode); ``bpp``
    is never excused. BASE fails where ``bpp`` is unusable, or any gated
    value is NaN or infinite: a gate cannot compare against it. (Records
    read from files never hold NaN or infinity: the reader refuses them.)
    """
    problems = []
    for name in ("bpp", "bytes", *(() if lossless else ("psnr",))):
        if name != "bpp" and all(_defect(getattr(r, name)) for r in base.values()):
            continue  # not measured in BASE: not gated
        for side, records in (("BASE", base), ("NEW", new)):
            defects: dict[str, int] = {}
            for image, r in records.items():
                defect = _defect(getattr(r, name))
                in_base = base.get(image)
                excused = name != "bpp" and defect == "null or missing" and (
                    side == "BASE" or (in_base is not None and getattr(in_base, name) is None))
                if defect and not excused:
                    defects[defect] = defects.get(defect, 0) + 1
            if defects:
                problems.append(f"{name} {' / '.join(defects)} in {side} "
                                f"({sum(defects.values())} of {len(records)} successful records)")
    return problems


def dataset_means(records: list[Record]) -> list[Record]:
    """One pseudo-record per (spec, dataset, device) holding the dataset means, as pytest-benchmark JSON has them.

    Its image id is ``(N images)``, so means are only compared with means over as many images; it is a
    failed record when any image failed.
    """
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for r in {r.key: r for r in records if r.target is None}.values():
        groups.setdefault((r.spec, r.dataset, r.device), []).append(r)
    out = []
    for (spec, dataset, device), group in groups.items():
        p = point_of(group)
        first = group[0]
        out.append(first.with_values(
            image=f"({len(group)} images)", width=int(p.pixels or 0), height=1, bytes=None, bpp=p.bpp,
            source_bytes=None, source_format=None,  # they describe one image's file
            **{name: p.get(name) for name in METRICS}, enc_s=p.enc_s, dec_s=p.dec_s,
            lossless_ok=p.exact if first.lossless else None,
            error=None if p.n_ok == p.n_total else f"{p.n_total - p.n_ok} of {p.n_total} images failed",
        ))
    return out


def _duplicate_findings(side: str, duplicates: list[Duplicate]) -> tuple[list[Violation], list[str]]:
    """A failure per conflicting duplicate of input ``side`` (BASE or NEW), and a note counting identical ones."""
    violations = [
        Violation(d.key[1], d.key[3], d.key[0], None,
                  f"{side} holds {d.copies} conflicting records of {d.key[2]} "
                  f"(they differ in {', '.join(d.differing)})")
        for d in duplicates if d.conflicting
    ]
    identical = [d for d in duplicates if not d.conflicting]
    notes = [f"{side}: {len(identical)} record(s) held more than once in identical copies, each counted once "
             f"(e.g. {identical[0].key[0]} {identical[0].key[2]})"] if identical else []
    return violations, notes


def compare_files(
    base: str | os.PathLike, new: str | os.PathLike, thresholds: Thresholds = Thresholds(), **kwargs: Any
) -> Comparison:
    """Load two results files (codecbench or pytest-benchmark JSON, :func:`load_results`) and compare them.

    A conflicting duplicate in either is a failure, identical copies a note, other machines or timed regions
    a ``warning``; a codecbench file against a pytest-benchmark file is compared on dataset means. Raises
    :class:`~codecbench.core.errors.ResultsError` for a file that cannot be read or holds an impossible value.
    """
    b, n = load_results(base), load_results(new)
    base_records, new_records = b.records, n.records
    if b.kind != n.kind:  # per-image records against pytest-benchmark's dataset means: means on both sides
        base_records = dataset_means(base_records) if b.kind == "codecbench" else base_records
        new_records = dataset_means(new_records) if n.kind == "codecbench" else new_records
    result = compare_records(base_records, new_records, thresholds, base_name=str(base), new_name=str(new), **kwargs)
    for side, loaded in (("NEW", n), ("BASE", b)):
        violations, notes = _duplicate_findings(side, loaded.duplicates)
        result.violations[:0] = violations
        result.notes[:0] = notes
    if b.kind != n.kind:
        result.notes.append(f"BASE is {b.kind} JSON, NEW is {n.kind} JSON: compared on dataset means")
    gated = thresholds.max_slowdown is not None
    result.warnings = [w for w in [timing_warning(b.meta, n.meta, speed_gated=gated)] if w]
    return result
