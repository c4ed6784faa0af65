"""Regression gate: compare two results files (BASE, NEW) for quality, rate and speed.

Inputs are codecbench results (JSON Lines records, or a JSON document with a
``records`` list) or pytest-benchmark JSON (``--benchmark-json`` /
``--benchmark-autosave`` files) whose ``extra_info`` carries the dataset
means that ``pytest bench`` stores; :mod:`codecbench.analysis.inputs` reads
both as records.

For each codec configuration (codec, fixed settings, dataset, device) found
in BASE:

- **BD-rate** (PSNR) of NEW's curve against BASE's — a positive value means
  NEW needs more bits for the same quality;
- per setting (same canonical spec): **bpp change** (%) and **PSNR change**
  (dB), and encode/decode **speed ratios** NEW/BASE (informational unless
  ``max_slowdown`` is set);
- failures: an image that failed in NEW but not in BASE, a lossless codec
  that no longer round-trips exactly, a setting or a codec missing from NEW.

When both files hold per-image records, each dataset is compared on the
images both files have (and the report says so if that is fewer than either
file holds). A codec only in NEW is reported as information.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from codecbench.core.errors import ResultsError
from codecbench.core.metrics import METRICS
from codecbench.analysis.bdrate import DEFAULT_METHOD, bd_rate
from codecbench.analysis.curves import Curve, CurvePoint, curves, point_of
from codecbench.analysis.inputs import load_results
from codecbench.core.results import Record


@dataclass(frozen=True)
class Thresholds:
    """Gate limits: BD-rate (%), PSNR drop (dB), bpp rise (%), optional slowdown ratio."""

    max_bd_rate: float = 0.5
    max_psnr_drop: float = 0.05
    max_bpp_rise: float = 0.5
    max_slowdown: float | None = None  # e.g. 1.15: fail when NEW is > 15% slower (per codec, geometric mean)

    def describe(self) -> str:
        text = (
            f"BD-rate (PSNR) ≤ +{self.max_bd_rate:g}%, PSNR drop ≤ {self.max_psnr_drop:g} dB, "
            f"bpp rise ≤ {self.max_bpp_rise:g}% per setting"
        )
        if self.max_slowdown is not None:
            text += f", encode/decode time ≤ ×{self.max_slowdown:g} of BASE"
        return text


@dataclass(frozen=True)
class Violation:
    """One crossed threshold, naming the codec configuration and setting."""

    dataset: str
    device: str
    codec: str
    setting: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.codec}" + (f" {self.setting}" if self.setting else "")
        return f"{self.dataset}/{self.device}: {where}: {self.message}"


@dataclass
class Comparison:
    markdown: str
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


# -- comparing ---------------------------------------------------------
def _common_images(
    base: list[Record], new: list[Record], notes: list[str], disjoint: list[tuple[str, str]]
) -> tuple[list[Record], list[Record]]:
    """Restrict both to the images both files hold, per (dataset, device); ``disjoint`` gets those with none."""
    def images(records: list[Record]) -> dict[tuple[str, str], set[str]]:
        out: dict[tuple[str, str], set[str]] = {}
        for r in records:
            out.setdefault((r.dataset, r.device), set()).add(r.image)
        return out

    bi, ni = images(base), images(new)
    keep: dict[tuple[str, str], set[str]] = {}
    for key in bi.keys() & ni.keys():
        common = bi[key] & ni[key]
        keep[key] = common
        if not common:
            disjoint.append(key)
        elif common != bi[key] or common != ni[key]:
            notes.append(
                f"{key[0]}/{key[1]}: compared on the {len(common)} images both files hold "
                f"(BASE {len(bi[key])}, NEW {len(ni[key])})"
            )
    for key in bi.keys() - ni.keys():
        keep[key] = bi[key]  # the curve will be missing from NEW, reported as such
    for key in ni.keys() - bi.keys():
        keep[key] = ni[key]

    def restrict(records: list[Record]) -> list[Record]:
        return [r for r in records if r.image in keep.get((r.dataset, r.device), ())]

    return restrict(base), restrict(new)


def _ratio(new: float | None, base: float | None) -> float | None:
    if new is None or base is None or base <= 0 or new <= 0:
        return None
    return new / base


def _geomean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in vals)) if vals else None


def _f(v: float | None, fmt: str, none: str = "—") -> str:
    return none if v is None else format(v, fmt)


def compare_records(
    base: list[Record],
    new: list[Record],
    thresholds: Thresholds = Thresholds(),
    *,
    base_name: str = "BASE",
    new_name: str = "NEW",
    method: str = DEFAULT_METHOD,
) -> Comparison:
    """Compare two sets of records; return the markdown report, violations and notes."""
    notes: list[str] = []
    disjoint: list[tuple[str, str]] = []
    base, new = _common_images(base, new, notes, disjoint)
    base_ok, new_ok = _ok_by_setting(base), _ok_by_setting(new)
    base_curves = {c.identity: c for c in curves(base)}
    new_curves = {c.identity: c for c in curves(new)}
    violations: list[Violation] = [
        Violation(d, dev, "*", None, f"{base_name} and {new_name} share no image of this dataset: nothing comparable")
        for d, dev in sorted(disjoint)
    ]

    out = [f"## codecbench compare: `{base_name}` → `{new_name}`", "", f"Thresholds: {thresholds.describe()}.", ""]
    datasets = sorted({k[:2] for k in base_curves} | {k[:2] for k in new_curves})
    for dataset, device in datasets:
        keys = sorted(
            {k for k in base_curves if k[:2] == (dataset, device)} | {k for k in new_curves if k[:2] == (dataset, device)},
            key=lambda k: (k[2], k[3]),
        )
        summary = [
            "| Codec | BD-rate (PSNR) NEW vs BASE | Settings | largest Δ bpp | worst Δ PSNR | encode × | decode × | Status |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        detail = [
            "| Codec | Setting | bpp BASE | bpp NEW | Δ bpp | PSNR BASE | PSNR NEW | Δ PSNR | encode × | decode × | Status |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for key in keys:
            b, n = base_curves.get(key), new_curves.get(key)
            label = (n or b).label  # type: ignore[union-attr]
            if n is None:
                violations.append(Violation(dataset, device, label, None, f"missing from {new_name}"))
                summary.append(f"| {label} | — | {len(b.points)} | — | — | — | — | **FAIL: missing from NEW** |")  # type: ignore[union-attr]
                continue
            if b is None:
                notes.append(f"{dataset}/{device}: {label} is new in {new_name} ({len(n.points)} settings); not gated")
                summary.append(f"| {label} | — | {len(n.points)} | — | — | — | — | new (information) |")
                continue
            before = len(violations)
            bd = None
            if not b.lossless:
                # on the settings both hold, so that a missing setting does not move the interpolation
                common = {p.spec for p in b.points} & {p.spec for p in n.points}
                bd_result = bd_rate(_only(b, common), _only(n, common), "psnr", method=method)
                bd = bd_result.value
                if bd is not None and bd > thresholds.max_bd_rate:
                    violations.append(
                        Violation(dataset, device, label, None,
                                  f"BD-rate (PSNR) {bd:+.3f}% > +{thresholds.max_bd_rate:g}%")
                    )
                bd_text = bd_result.format("%", 3)
            else:
                bd_text = "— (lossless)"
            new_by_spec = {p.spec: p for p in n.points}
            rises, drops, enc_r, dec_r = [], [], [], []
            for p in b.points:
                setting = b.setting_text(p)
                q = new_by_spec.pop(p.spec, None)
                if q is None:
                    violations.append(Violation(dataset, device, label, setting, f"setting missing from {new_name}"))
                    detail.append(f"| {label} | {setting} | {_f(p.bpp, '.4f')} | — | — | {_f(p.psnr, '.2f')} | — | — | — | — | **FAIL** |")
                    continue
                problems = _point_problems(p, q, b.lossless, thresholds) + _value_problems(
                    base_ok.get((dataset, device, p.spec), {}), new_ok.get((dataset, device, p.spec), {}), b.lossless)
                rise = 100.0 * (q.bpp - p.bpp) / p.bpp if q.bpp is not None and p.bpp else None
                drop = (q.psnr - p.psnr) if q.psnr is not None and p.psnr is not None else None
                er, dr = _ratio(q.enc_s, p.enc_s), _ratio(q.dec_s, p.dec_s)
                rises.append(rise)
                drops.append(drop)
                enc_r.append(er)
                dec_r.append(dr)
                for message in problems:
                    violations.append(Violation(dataset, device, label, setting, message))
                status = "**FAIL**" if problems else "ok"
                detail.append(
                    f"| {label} | {setting} | {_f(p.bpp, '.4f')} | {_f(q.bpp, '.4f')} | {_f(rise, '+.2f')}% | "
                    f"{_f(p.psnr, '.2f')} | {_f(q.psnr, '.2f')} | {_f(drop, '+.3f')} | {_f(er, '.2f')} | "
                    f"{_f(dr, '.2f')} | {status} |"
                )
            for q in new_by_spec.values():
                notes.append(f"{dataset}/{device}: {label} {n.setting_text(q)} is new in {new_name}; not gated")
            g_enc, g_dec = _geomean(enc_r), _geomean(dec_r)
            if thresholds.max_slowdown is not None:
                for what, g in (("encode", g_enc), ("decode", g_dec)):
                    if g is not None and g > thresholds.max_slowdown:
                        violations.append(
                            Violation(dataset, device, label, None,
                                      f"{what} time ×{g:.2f} of BASE > ×{thresholds.max_slowdown:g}")
                        )
            worst_rise = max((r for r in rises if r is not None), default=None)
            worst_drop = min((d for d in drops if d is not None), default=None)
            status = "**FAIL**" if len(violations) > before else "ok"
            summary.append(
                f"| {label} | {bd_text} | {len(b.points)} | {_f(worst_rise, '+.2f')}% | {_f(worst_drop, '+.3f')} dB | "
                f"{_f(g_enc, '.2f')} | {_f(g_dec, '.2f')} | {status} |"
            )
        out += [f"### {dataset} ({device})", "", *summary, "", "<details><summary>Per setting</summary>", "",
                *detail, "", "</details>", ""]
    out.append(
        "BD-rate: NEW's curve against BASE's on the settings both hold (positive = NEW needs more bits "
        "for the same PSNR), interpolated on log10(bpp) over the overlap only. Δ bpp in percent of BASE, Δ PSNR in dB; "
        "speed ratios are NEW time / BASE time (geometric mean over settings in the codec row)."
    )
    out.append("")
    if violations:
        out += [f"**{len(violations)} regression(s):**", "", *[f"- {v}" for v in violations], ""]
    else:
        out += ["**No regression beyond the thresholds.**", ""]
    if notes:
        out += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    return Comparison("\n".join(out), violations, notes)


def _only(curve: Curve, specs: set[str]) -> Curve:
    return dataclasses.replace(curve, points=[p for p in curve.points if p.spec in specs])


def _point_problems(p: CurvePoint, q: CurvePoint, lossless: bool, t: Thresholds) -> list[str]:
    problems = []
    if q.n_ok < q.n_total and not (p.n_ok < p.n_total):
        problems.append(f"{q.n_total - q.n_ok} of {q.n_total} images failed in NEW")
    elif q.n_ok == 0:
        problems.append("no image succeeded in NEW (nor in BASE): nothing to compare")
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


def _ok_by_setting(records: Iterable[Record]) -> dict[tuple[str, str, str], dict[str, Record]]:
    """The successful records by (dataset, device, spec), then by image."""
    out: dict[tuple[str, str, str], dict[str, Record]] = {}
    for r in records:
        if r.ok:
            out.setdefault((r.dataset, r.device, r.spec), {})[r.image] = r
    return out


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
    value is NaN or infinite: a gate cannot compare against it.
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

    Its image id is ``(N images)``, so means are only compared with means over as many images.
    """
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for r in {r.key: r for r in records}.values():
        groups.setdefault((r.spec, r.dataset, r.device), []).append(r)
    out = []
    for (spec, dataset, device), group in groups.items():
        p = point_of(group)
        first = group[0]
        out.append(dataclasses.replace(
            first, image=f"({len(group)} images)", width=int(p.pixels or 0), height=1, bytes=None, bpp=p.bpp,
            source_bytes=None, source_format=None,  # they describe one image's file
            **{name: getattr(p, name) for name in METRICS}, enc_s=p.enc_s, dec_s=p.dec_s,
            lossless_ok=p.exact if first.lossless else None,
            error=None if p.n_ok == p.n_total else f"{p.n_total - p.n_ok} of {p.n_total} images failed",
        ))
    return out


def compare_files(
    base: str | os.PathLike, new: str | os.PathLike, thresholds: Thresholds = Thresholds(), **kwargs: Any
) -> Comparison:
    """Load two results files (codecbench or pytest-benchmark JSON) and compare them."""
    base_records, base_kind = load_results(base)
    new_records, new_kind = load_results(new)
    if base_kind != new_kind:  # per-image records against pytest-benchmark's dataset means: means on both sides
        base_records = dataset_means(base_records) if base_kind == "codecbench" else base_records
        new_records = dataset_means(new_records) if new_kind == "codecbench" else new_records
    result = compare_records(
        base_records, new_records, thresholds, base_name=str(base), new_name=str(new), **kwargs
    )
    if base_kind != new_kind:
        result.notes.append(f"BASE is {base_kind} JSON, NEW is {new_kind} JSON: compared on dataset means")
        result.markdown += f"- BASE is {base_kind} JSON, NEW is {new_kind} JSON: compared on dataset means\n"
    return result


def _threshold(text: str | float, unit: str, what: str) -> float:
    """A non-negative number, optionally followed by ``unit`` (case-insensitive)."""
    s = str(text).strip()
    if s.lower().endswith(unit.lower()):
        s = s[: -len(unit)].strip()
    try:
        value = float(s)
    except ValueError:
        raise ResultsError(f"not {what}: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ResultsError(f"threshold must be a non-negative number: {text!r}")
    return value


def parse_percent(text: str | float) -> float:
    """``0.5``, ``0.5%`` → 0.5 (percent)."""
    return _threshold(text, "%", "a percentage")


def parse_db(text: str | float) -> float:
    """``0.05``, ``0.05dB`` → 0.05 (dB)."""
    return _threshold(text, "dB", "a dB value")


def parse_ratio(text: str | float) -> float:
    """``15%`` → 1.15; ``1.15`` or ``x1.15`` → 1.15."""
    s = str(text).strip().lower().lstrip("x×")
    if s.endswith("%"):
        return 1.0 + parse_percent(s) / 100.0
    try:
        value = float(s)
    except ValueError:
        raise ResultsError(f"not a ratio: {text!r}") from None
    if not math.isfinite(value) or value < 1:
        raise ResultsError(f"slowdown ratio must be ≥ 1 (e.g. 1.15 or 15%): {text!r}")
    return value
