"""Rate–distortion curves: per-setting dataset means of result records.

Every figure of a curve point is the one averaging rule
(:func:`codecbench.core.averaging.mean_over_images`): the arithmetic mean over
the images that succeeded. A quality mean is formed only when every successful
image has the value, otherwise it is ``None`` — never a mean over a different
subset. The rate and ratio against the original files are means over the
images whose file size is recorded (``n_source``). MS-SSIM in dB is taken of
the dataset mean, as ``compressai.utils.plot`` does.

A *curve* is one codec configuration on one dataset and device, its points
sorted by mean bpp; its ``label`` names fixed settings or the device only
where needed to tell curves apart. The manual: ``docs/reports.md``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Sequence

from codecbench.core.averaging import mean_over_images
from codecbench.core.codec import Spec
from codecbench.core.errors import SpecError
from codecbench.core.metrics import METRICS as QUALITY_METRICS
from codecbench.core.metrics import ms_ssim_db
from codecbench.core.records import METRIC_FIELDS, Record

#: The quality and time fields of a curve point, by name: bpp, every metric of the table, MS-SSIM in dB, timings.
METRICS = ("bpp", *QUALITY_METRICS, "ms_ssim_db", "enc_s", "dec_s")

AVERAGING = (
    "Each curve point is the arithmetic mean over the dataset's images of the per-image values "
    "(only images that succeeded; a mean is left empty unless every such image has the value). "
    "MS-SSIM (dB) = −10·log10(1 − mean MS-SSIM)."
)


@dataclass(frozen=True)
class CurvePoint:
    """Dataset means of one codec setting (one rate-knob value): bpp, each metric, timings.

    The metrics that are :class:`~codecbench.core.records.Record` fields are fields here too; ``extra`` holds the
    means of the others (only those measured: :meth:`get` gives None for the rest).
    """

    setting: Any
    spec: str
    n_ok: int
    n_total: int
    bpp: float | None
    psnr: float | None = None
    psnr_y: float | None = None
    ssim: float | None = None
    ms_ssim: float | None = None
    ssimulacra2: float | None = None
    extra: dict[str, float | None] = field(default_factory=dict, hash=False)  # a point stays hashable
    enc_s: float | None = None
    dec_s: float | None = None
    pixels: float | None = None  # mean H×W
    exact: bool | None = None  # every successful image round-tripped bit-exactly
    images: tuple[str, ...] = ()  # ids of the successful images
    # against the original image files, over the ``n_source`` successful images whose file size is known:
    # mean of 100·(1 − bytes / source_bytes) in %, and mean of source_bytes / bytes
    vs_source_pct: float | None = None
    source_ratio: float | None = None
    n_source: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", {k: v for k, v in self.extra.items() if v is not None})

    @property
    def ms_ssim_db(self) -> float | None:
        return ms_ssim_db(self.ms_ssim)

    @property
    def complete(self) -> bool:
        """Every image of the dataset succeeded for this setting."""
        return self.n_ok == self.n_total and self.n_ok > 0

    def get(self, metric: str) -> float | None:
        """The point's value of ``metric`` (a name of :data:`METRICS`); KeyError for another name."""
        if metric not in METRICS and metric not in QUALITY_METRICS:
            raise KeyError(f"unknown curve metric {metric!r}; known: {', '.join(METRICS)}")
        return getattr(self, metric) if metric in _FIELDS else self.extra.get(metric)

    @property
    def enc_mps(self) -> float | None:
        """Encode throughput in megapixels per second (mean pixels / mean seconds)."""
        return _rate(self.pixels, self.enc_s)

    @property
    def dec_mps(self) -> float | None:
        return _rate(self.pixels, self.dec_s)


_FIELDS = frozenset(f.name for f in fields(CurvePoint)) | {"ms_ssim_db"}


def _rate(pixels: float | None, seconds: float | None) -> float | None:
    if pixels is None or not seconds:
        return None
    return pixels / seconds / 1e6


@dataclass
class Curve:
    """One codec configuration's rate–distortion curve on one dataset and device.

    ``reference`` marks a curve imported from a file (e.g. CompressAI's
    published results): reported and plotted, but not measured here.
    """

    codec: str
    label: str
    dataset: str
    device: str
    points: list[CurvePoint]
    lossless: bool = False
    reference: bool = False
    description: str = ""
    fixed: dict[str, str] = field(default_factory=dict)  # the settings other than the rate knob
    knob: str | None = None  # the rate knob's name
    versions: dict[str, str] = field(default_factory=dict)
    #: where a reference curve comes from (:data:`codecbench.analysis.compressai_json.PROVENANCE_KEYS`)
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.label, self.device)

    def series(self, metric: str, *, complete_only: bool = False) -> tuple[list[float], list[float]]:
        """(bpp, metric) of the points that have both, in bpp order."""
        xs, ys = [], []
        for p in self.points:
            if complete_only and not self.reference and not p.complete:
                continue
            x, y = p.bpp, p.get(metric)
            if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
                continue
            xs.append(x)
            ys.append(y)
        return xs, ys

    @property
    def identity(self) -> tuple:
        """What makes two curves the same configuration: (dataset, device, codec, fixed settings)."""
        return (self.dataset, self.device, self.codec, tuple(sorted(self.fixed.items())))

    def setting_text(self, point: CurvePoint) -> str:
        if point.setting is None:
            return "—"  # a codec without a rate knob
        return f"{self.knob}={point.setting}" if self.knob else str(point.setting)

    @property
    def n_images(self) -> int:
        return max((p.n_total for p in self.points), default=0)


def point_of(records: Sequence[Record]) -> CurvePoint:
    """Aggregate the records of one spec on one dataset and device into a point."""
    ok = [r for r in records if r.ok]
    sized = [r for r in ok if r.source_bytes and r.bytes]
    first = records[0]
    means = {name: mean_over_images([r.metric(name) for r in ok]) for name in QUALITY_METRICS}
    return CurvePoint(
        setting=first.setting,
        spec=first.spec,
        n_ok=len(ok),
        n_total=len(records),
        bpp=mean_over_images([r.bpp for r in ok]),
        **{name: means.pop(name) for name in METRIC_FIELDS},
        extra=means,
        enc_s=mean_over_images([r.enc_s for r in ok]),
        dec_s=mean_over_images([r.dec_s for r in ok]),
        pixels=mean_over_images([float(r.width * r.height) for r in ok]),
        exact=all(bool(r.lossless_ok) for r in ok) if ok else None,
        images=tuple(sorted(r.image for r in ok)),
        vs_source_pct=mean_over_images([100.0 * (1.0 - r.bytes / r.source_bytes) for r in sized]),
        source_ratio=mean_over_images([r.source_bytes / r.bytes for r in sized]),
        n_source=len(sized),
    )


# -- rate knob and curve identity --------------------------------------
def _split_spec(spec: str) -> dict[str, str]:
    """The raw settings of a recorded spec (empty for one this version cannot parse)."""
    try:
        return Spec.parse(spec).raw
    except SpecError:
        return {}


def _same_value(raw: str, setting: Any) -> bool:
    if setting is None:
        return False
    if raw == str(setting):
        return True
    try:
        return float(raw) == float(setting)
    except (TypeError, ValueError):
        return False


def rate_knob(specs: Sequence[str], settings: Sequence[Any], recorded: Sequence[str | None] = ()) -> str | None:
    """The name of the rate knob of a codec given some of its specs and knob values.

    The knob its records name (``Record.knob``); for records written before
    they did, the setting whose value equals the recorded knob value in every
    spec (and that varies, when several keys qualify). Never imports a codec.
    """
    named = [k for k in recorded if k is not None]
    if named:
        return named[0]
    parsed = [_split_spec(s) for s in specs]
    keys = set(parsed[0]) if parsed else set()
    candidates = [
        k for k in sorted(keys) if all(k in p and _same_value(p[k], s) for p, s in zip(parsed, settings))
    ]
    if len(candidates) > 1:
        varying = [k for k in candidates if len({p[k] for p in parsed}) > 1]
        candidates = varying or candidates
    return candidates[0] if candidates else None


def curves(records: Iterable[Record]) -> list[Curve]:
    """Aggregate records into curves, ordered by dataset, then label, then device.

    Records are grouped by (dataset, device, spec) into points and by
    (dataset, device, codec, fixed settings) into curves. When a spec was
    run more than once, the last record per image counts (as
    :meth:`ResultsStore.latest`). Records of an equal-rate run (``target``
    set) are left out: their setting differs from image to image, so they
    make no curve point (:mod:`codecbench.analysis.equal_rate` reads them).
    """
    latest: dict[tuple, Record] = {}
    for r in records:
        if r.target is None:
            latest[r.key] = r
    by_spec: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in latest.values():
        by_spec[(r.dataset, r.device, r.spec)].append(r)

    knob_cache: dict[str, str | None] = {}
    specs_of: dict[str, list[tuple[str, Any, str | None]]] = defaultdict(list)
    for (_, _, spec), group in by_spec.items():
        specs_of[group[0].codec].append((spec, group[0].setting, group[0].knob))
    for codec, triples in specs_of.items():
        knob_cache[codec] = rate_knob([s for s, _, _ in triples], [v for _, v, _ in triples], [k for _, _, k in triples])

    groups: dict[tuple, list[tuple[CurvePoint, Record]]] = defaultdict(list)
    for (dataset, device, spec), group in by_spec.items():
        first = group[0]
        knob = knob_cache[first.codec]
        fixed = tuple(sorted((k, v) for k, v in _split_spec(spec).items() if k != knob))
        groups[(dataset, device, first.codec, fixed)].append((point_of(group), first))

    labels = _labels(list(groups))
    out = []
    for key, members in groups.items():
        dataset, device, codec, fixed = key
        first = members[0][1]
        out.append(Curve(codec=codec, label=labels[key], dataset=dataset, device=device,
                         points=sorted((p for p, _ in members), key=_point_order), lossless=first.lossless,
                         fixed=dict(fixed), knob=knob_cache[codec], versions=dict(first.versions)))
    out.sort(key=lambda c: (c.dataset, c.label, c.device))
    return out


def _labels(keys: list[tuple]) -> dict[tuple, str]:
    """Each (dataset, device, codec, fixed settings) curve's label: the codec name, plus the fixed settings that
    differ where one codec has several configurations, plus ``@device`` where a dataset has several devices."""
    configs: dict[tuple[str, str], set] = defaultdict(set)
    devices: dict[str, set] = defaultdict(set)
    for dataset, device, codec, fixed in keys:
        configs[(dataset, codec)].add(fixed)
        devices[dataset].add(device)
    labels = {}
    for key in keys:
        dataset, device, codec, fixed = key
        label, variants = codec, configs[(dataset, codec)]
        if len(variants) > 1:
            differing = {k for k, v in fixed if any(dict(other).get(k) != v for other in variants)}
            shown = [f"{k}={v}" for k, v in fixed if k in differing]
            if shown:
                label += "[" + ",".join(shown) + "]"
        labels[key] = label + (f"@{device}" if len(devices[dataset]) > 1 else "")
    return labels


def _point_order(p: CurvePoint) -> tuple:
    return (p.bpp is None, p.bpp if p.bpp is not None else 0.0, str(p.setting))


def by_dataset(items: Iterable[Curve]) -> dict[str, list[Curve]]:
    """Curves grouped by dataset, datasets in sorted order."""
    out: dict[str, list[Curve]] = defaultdict(list)
    for c in items:
        out[c.dataset].append(c)
    return dict(sorted(out.items()))
