"""Rate and distortion metrics, and the one table of metrics that records, curves and reports follow.

- **bpp** = 8 × stored bytes (headers included) / (H × W), all channels.
- **PSNR**, **PSNR-Y** (BT.601 luma) in dB on 8-bit images; ``None`` when
  identical. **SSIM** (11×11 Gaussian, σ 1.5) and **MS-SSIM** (5 scales;
  ``ms_ssim_db`` = −10·log10(1 − MS-SSIM)), ``None`` below their minimum size,
  computed together in float32 with OpenCV (:mod:`codecbench.core.ssim`).
- **SSIMULACRA 2** (≤ 100, libjxl 2.1), only when asked for.

Dataset figures are arithmetic means over images. :data:`METRICS` is the table
(name, label, unit, direction, format, cost) records and reports follow; a new
metric is one :class:`Metric` given to :func:`register_metric`, or the
``codecbench.metrics`` entry-point group. Importing this never imports torch.
The manual, with every constant and tolerance: ``docs/metrics.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from codecbench.core.errors import OptionError
from codecbench.core.registry import Registry
from codecbench.core.ssim import (  # noqa: F401  (re-exported: every metric function is importable from here)
    MS_SSIM_MIN_SIDE,
    MS_SSIM_WEIGHTS,
    SSIM_MIN_SIDE,
    ms_ssim,
    ms_ssim_db,
    ssim,
    ssim_ms_ssim,
)
from codecbench.core.ssimulacra2 import ssimulacra2

ENTRY_POINT_GROUP = "codecbench.metrics"

#: what a metric's ``compute`` returns: values keyed by metric name (None where undefined for the image)
Scores = dict[str, "float | None"]


@dataclass(frozen=True)
class Metric:
    """One quality metric of a decoded image, as records store it and reports show it.

    ``name`` is the record field and JSON key; ``label`` and ``unit`` head
    report columns; ``digits`` is how many decimals reports print;
    ``higher_is_better`` orders it in comparisons and the regression gate.
    ``compute(original, decoded)`` takes two uint8 H×W×C images and returns
    a mapping with at least ``name`` (several metrics may share one compute
    function, which is then called once per image). ``default``: computed
    in every run unless deselected (a costly metric is off by default and
    asked for with ``--metrics +name``). ``needs_torch``: computing it
    imports torch (reports never compute metrics, so they never do).
    ``bd_axis``: the metric (``name`` or a derived view such as
    ``ms_ssim_db``) that BD-rate uses as its quality axis, None if none.
    """

    name: str
    label: str
    unit: str
    compute: Callable[[np.ndarray, np.ndarray], Mapping[str, float | None]]
    higher_is_better: bool = True
    digits: int = 2
    default: bool = True
    needs_torch: bool = False
    bd_axis: str | None = None
    channels: tuple[int, ...] = (1, 3)
    #: the closed interval a computed value lies in (a value outside it is an impossible measurement)
    valid_range: tuple[float, float] = (-math.inf, math.inf)
    #: who computes it: a library, a program, or the codecbench module
    source: str = ""
    #: how it was checked: "validated to <tolerance> against <reference>", or "unvalidated"
    validation: str = "unvalidated"
    #: why it cannot be computed on this machine (a missing program), None when it can; asked when selected
    unavailable: Callable[[], str | None] | None = None

    def format(self, value: float | None) -> str:
        """``value`` as a report cell (``-`` for None or a non-finite value)."""
        if value is None or not math.isfinite(value):
            return "-"
        return f"{value:.{self.digits}f}"


# -- the computations ------------------------------------------------------------
def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of a ``num_bytes`` bitstream for an H×W image."""
    return 8.0 * num_bytes / (height * width)


def _mse_to_psnr(mse: float) -> float | None:
    return None if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


#: samples per band of rows in the PSNR sums, so that a large image needs little memory beyond itself
BAND_SAMPLES = 1 << 20


def _row_bands(image: np.ndarray) -> list[tuple[int, int]]:
    h, w, c = image.shape
    rows = max(1, BAND_SAMPLES // (w * c))
    return [(y, min(h, y + rows)) for y in range(0, h, rows)]


#: BT.601 luma weights in thousandths: 1000·Y is an integer combination of R, G, B
_LUMA_MILLI = ((299.0, 587.0, 114.0),)


def psnr_pair(original: np.ndarray, decoded: np.ndarray) -> tuple[float | None, float | None]:
    """(PSNR, PSNR-Y) in dB of two uint8 H×W×C images; each None if identical.

    Both sums of squares are exact: OpenCV's ``norm`` sums the integer
    squared differences, and 1000·ΔY = 299·ΔR + 587·ΔG + 114·ΔB (BT.601) is an
    integer below 2^24, exact in float32, so PSNR-Y is the unrounded luma's
    without rounding error (nor BLAS, whose threads would spin against the
    codecs). Rows are taken in bands to bound the memory beyond the images.
    """
    import cv2

    h, w, channels = original.shape
    sse = cv2.norm(original, decoded, cv2.NORM_L2SQR)
    if channels == 1:
        sse_y = sse
    else:
        milli_y = np.array(_LUMA_MILLI, dtype=np.float32)
        sse_y = 0.0
        for y0, y1 in _row_bands(original):
            diff = cv2.subtract(original[y0:y1], decoded[y0:y1], dtype=cv2.CV_32F)
            sse_y += cv2.norm(cv2.transform(diff, milli_y), cv2.NORM_L2SQR)
        sse_y /= 1e6
    return _mse_to_psnr(sse / original.size), _mse_to_psnr(sse_y / (h * w))


def psnr(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """PSNR in dB over all channels of two uint8 images; None if identical."""
    return psnr_pair(original, decoded)[0]


def psnr_y(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """PSNR in dB of BT.601 luma (the single channel of a gray image); None if identical."""
    return psnr_pair(original, decoded)[1]


def _psnr_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    psnr_value, psnr_y_value = psnr_pair(original, decoded)
    return {"psnr": psnr_value, "psnr_y": psnr_y_value}


def _ssim_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    ssim_value, ms_ssim_value = ssim_ms_ssim(original, decoded)
    return {"ssim": ssim_value, "ms_ssim": ms_ssim_value}


def _ssimulacra2_scores(original: np.ndarray, decoded: np.ndarray) -> Scores:
    return {"ssimulacra2": ssimulacra2(original, decoded)}


# -- the table ---------------------------------------------------------------
#: every metric, by record field name: the built-in ones below, in this order, then the plug-ins'
METRICS: Registry[Metric] = Registry("metric", Metric, instances=True, group=ENTRY_POINT_GROUP, error=OptionError)
#: registers a :class:`Metric` under its name (and returns it)
register_metric = METRICS.register

_OPENCV = "codecbench.core.metrics (OpenCV)"
_SSIM_CHECK = "validated to 1e-4 against scikit-image, pytorch_msssim and a scipy reference"
register_metric(Metric("psnr", "PSNR", "dB", _psnr_scores, bd_axis="psnr", source=_OPENCV,
                       validation="validated to 1e-6 (relative) against the float64 definition"))
register_metric(Metric("psnr_y", "PSNR-Y", "dB", _psnr_scores, bd_axis="psnr_y", source=_OPENCV,
                       validation="validated to 1e-6 (relative) against the float64 definition"))
register_metric(Metric("ssim", "SSIM", "", _ssim_scores, digits=4, valid_range=(-1.0, 1.0), source=_OPENCV,
                       validation=_SSIM_CHECK))
register_metric(Metric("ms_ssim", "MS-SSIM", "", _ssim_scores, digits=4, bd_axis="ms_ssim_db", valid_range=(-1.0, 1.0),
                       source=_OPENCV, validation=_SSIM_CHECK))
register_metric(Metric("ssimulacra2", "SSIMULACRA2", "", _ssimulacra2_scores, default=False,
                       bd_axis="ssimulacra2", valid_range=(-math.inf, 100.0), source="codecbench.core.ssimulacra2",
                       validation="validated to 0.25 (measured 0.11) against libjxl's C++ tool on its reference "
                       "pair, to 0.01 against a float64 port"))

#: named metric sets for ``--metrics`` (see :func:`select_metrics`), their members registered by
#: :mod:`codecbench.core.iqa.table`
PRESETS: dict[str, tuple[str, ...]] = {}


def default_metrics() -> tuple[str, ...]:
    """The metrics computed when none are asked for: every metric with ``default=True``."""
    return tuple(name for name, m in METRICS.items() if m.default)


def select_metrics(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """The metric names of a ``--metrics`` value.

    None or ``""``: the defaults. ``"psnr,ssim"``: exactly those. A list of
    ``+name``/``-name`` items adds to or removes from the defaults
    (``"+ssimulacra2"``, ``"-ms_ssim"``). A preset of :data:`PRESETS` stands
    for its members (``"jpeg-ai"``, ``"+perceptual"``), less those that cannot
    be computed here (a warning names them). Raises
    :class:`~codecbench.core.errors.OptionError` naming an unknown metric and the
    known ones, or a metric named on its own that cannot be computed here and why.
    """
    METRICS.names()  # imports every built-in metric module: the presets' members register there
    items = _expand_presets([p.strip() for p in (text.split(",") if isinstance(text, str) else text or [])
                             if p.strip()])
    for name in items:
        reason = name[0] not in "-" and name.lstrip("+") in METRICS and _unavailable(name.lstrip("+"))
        if reason:
            raise OptionError(f"metric {name.lstrip('+')!r} cannot be computed here: {reason}")
    if not items:
        return default_metrics()
    relative = [i[0] in "+-" for i in items]
    if any(relative) and not all(relative):
        raise OptionError(f"--metrics: mix of names and +/- changes in {','.join(items)!r}; use one or the other")
    unknown = [i.lstrip("+-") for i in items if i.lstrip("+-") not in METRICS]
    if unknown:
        raise OptionError(f"unknown metric {', '.join(map(repr, unknown))}; known metrics: {', '.join(METRICS)}; "
                          f"presets: {', '.join(PRESETS)}")
    if not all(relative):
        return tuple(dict.fromkeys(items))
    chosen = list(default_metrics())
    for item in items:
        name = item[1:]
        if item[0] == "+" and name not in chosen:
            chosen.append(name)
        elif item[0] == "-" and name in chosen:
            chosen.remove(name)
    return tuple(name for name in METRICS if name in chosen)


def _unavailable(name: str) -> str | None:
    check = METRICS[name].unavailable
    return check() if check is not None else None


def _expand_presets(items: list[str]) -> list[str]:
    """``items`` with each preset name (bare or with ``+``/``-``) replaced by its members that can be computed
    here, each with the same sign; a warning names the members left out and why."""
    expanded: list[str] = []
    for item in items:
        sign, name = (item[0], item[1:]) if item[0] in "+-" else ("", item)
        if name not in PRESETS:
            expanded.append(item)
            continue
        missing = {m: _unavailable(m) for m in PRESETS[name] if _unavailable(m)}
        if missing and sign != "-":
            warnings.warn(f"--metrics {name}: left out " + "; ".join(f"{m} ({why})" for m, why in missing.items()),
                          stacklevel=3)
        expanded += [sign + m for m in PRESETS[name] if m not in missing]
    return expanded


def score(original: np.ndarray, decoded: np.ndarray, names: Sequence[str] | None = None) -> Scores:
    """The metrics ``names`` (default: :func:`default_metrics`) of a decoded image, keyed as records name them.

    Metrics sharing a compute function cost one call; a metric that does not
    take the image's channel count is None.
    """
    wanted = default_metrics() if names is None else tuple(names)
    values: Scores = {}
    done: set[Callable] = set()
    for name in wanted:
        metric = METRICS[name]
        if original.shape[2] not in metric.channels:
            values[name] = None
            continue
        if metric.compute not in done:
            done.add(metric.compute)
            values.update(metric.compute(original, decoded))
    return {name: values.get(name) for name in wanted}


def quality(original: np.ndarray, decoded: np.ndarray, names: Sequence[str] | None = None) -> dict:
    """:func:`score` plus ``lossless_ok``: whether the decoded image is bit-exact."""
    return {**score(original, decoded, names), "lossless_ok": bool(np.array_equal(original, decoded))}
