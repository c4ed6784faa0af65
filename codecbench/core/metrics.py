"""Rate and distortion metrics, and the one table of metrics that records, curves and reports follow.

Conventions (the field's):

- **bpp** = 8 × bitstream bytes / (H × W) of the original image, every byte
  of the stored stream (headers included) counted, all channels together.
- **PSNR** (dB) = 10·log10(255² / MSE), MSE over all pixels and channels of
  the 8-bit images (CompressAI's ``psnr-rgb``); ``None`` when the images are
  identical (infinite PSNR).
- **PSNR-Y** (dB): PSNR of ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B,
  on the 0–255 scale, unrounded (the squared errors are summed exactly).
- **SSIM**: Wang et al. 2004, 11×11 Gaussian window with σ = 1.5, K1 = 0.01,
  K2 = 0.03, data range 255, 'valid' filtering, mean over channels;
  ``None`` for images whose shorter side is below the 11 px window.
- **MS-SSIM**: Wang et al. 2003, the same window, 5 scales with weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); ``None`` for images whose shorter
  side is ≤ 160 px, where the 5 scales are undefined. ``ms_ssim_db`` is
  −10·log10(1 − MS-SSIM).
- **SSIMULACRA 2** (≤ 100, 100 = identical): libjxl's version 2.1, in
  :mod:`codecbench.core.ssimulacra2` (within 0.11 of the C++ tool on its
  reference pair); computed when asked for (``--metrics +ssimulacra2``).

SSIM and MS-SSIM are computed together, in float32 with OpenCV's public
``sepFilter2D``, ``resize`` and ``sumElems`` (within 3e-6 of float64 on
Kodak): MS-SSIM's finest scale *is* SSIM, so one filtering of the full-size
images serves both, and no metric needs torch. The tests
hold them to 1e-4 against scikit-image, pytorch_msssim's public functions and
an independent scipy reference. Dataset figures are the arithmetic mean over
images of the per-image values.

:data:`METRICS` is the table (name, label, unit, direction, format, cost)
from which result records get their fields and reports their columns, a
:class:`~codecbench.core.registry.Registry`: adding a metric is one
:class:`Metric` given to :func:`register_metric`. Third-party packages add
metrics through the entry-point group ``codecbench.metrics``; importing this
module never imports torch.
"""

from __future__ import annotations

import math
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from codecbench.core.errors import OptionError
from codecbench.core.registry import Registry
from codecbench.core.ssimulacra2 import ssimulacra2

MS_SSIM_MIN_SIDE = 161
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_MIN_SIDE = 11
SSIM_WINDOW, SSIM_SIGMA, SSIM_K = 11, 1.5, (0.01, 0.03)
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


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run OpenCV's filters on one thread: they take milliseconds, and extra threads only
    spin against the codecs and the other workers of a parallel run."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _gaussian_window() -> np.ndarray:
    """The 11-tap Gaussian (σ = 1.5) as float32, normalised to sum 1."""
    t = np.arange(SSIM_WINDOW, dtype=np.float64) - SSIM_WINDOW // 2
    g = np.exp(-(t**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).astype(np.float32)


#: the images are filtered as x − 128: SSIM's variances and covariance do not change with the
#: shift, and moments of values within ±128 lose 4× less to float32 cancellation than of 0–255
_SHIFT = 128.0


class _Workspace(threading.local):
    """Float32 scratch arrays reused from image to image (per thread).

    A sweep scores hundreds of same-sized images; fresh arrays for each would
    cost a page fault per 4 KiB every time (tens of ms per Kodak image on a
    VM), more than the filtering itself. Arrays for more than
    :data:`RETAINED_SAMPLES` samples are not kept after the image.
    """

    def __init__(self) -> None:
        self.flat: list[np.ndarray] = []

    def arrays(self, shape: tuple[int, ...], count: int, first: int = 0) -> list[np.ndarray]:
        """Scratch arrays ``first`` … ``first + count − 1``: contiguous float32 of ``shape``, contents undefined."""
        size = math.prod(shape)
        while len(self.flat) < first + count:
            self.flat.append(np.empty(0, np.float32))
        for i in range(first, first + count):
            if self.flat[i].size < size:
                self.flat[i] = np.empty(size, np.float32)
        return [self.flat[i][:size].reshape(shape) for i in range(first, first + count)]

    def release_large(self) -> None:
        self.flat = [a if a.size <= RETAINED_SAMPLES else np.empty(0, np.float32) for a in self.flat]


#: scratch arrays up to this many samples each are kept for the next image (the two image copies: 2 × 16 MiB at most)
RETAINED_SAMPLES = 1 << 22
_workspace = _Workspace()


#: samples (rows × W × C) of each scratch array in one band of :func:`_ssim_level`: the seven
#: arrays of a band stay in the CPU's cache instead of streaming whole images through memory
BAND_SAMPLES_SSIM = 1 << 17


def _ssim_level(x: np.ndarray, y: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (SSIM, contrast-structure) means (float64, shape C) at one scale of two H×W×C
    float32 images given as ``image − 128`` (:data:`_SHIFT`).

    In bands of rows (each with the window's half-width of rows above and
    below), four separable Gaussian filterings (μx, μy, E[xy], E[x²]+E[y²]:
    the formulas need the last two only as a sum), the maps computed in place
    in scratch arrays, and their sums over the 'valid' region, where the
    window lies inside the image (so the filter's border rule never counts).
    """
    import cv2

    def blur(image: np.ndarray, out: np.ndarray) -> None:
        cv2.sepFilter2D(image, cv2.CV_32F, window, window, dst=out, borderType=cv2.BORDER_REFLECT)

    c1, c2 = (SSIM_K[0] * 255.0) ** 2, (SSIM_K[1] * 255.0) ** 2
    height, width, channels = x.shape
    r = SSIM_WINDOW // 2
    rows = max(1, BAND_SAMPLES_SSIM // (width * channels))
    ssim_sum, cs_sum = np.zeros(channels), np.zeros(channels)
    for v0 in range(r, height - r, rows):  # valid rows v0 … v1 − 1
        v1 = min(height - r, v0 + rows)
        xb, yb = x[v0 - r : v1 + r], y[v0 - r : v1 + r]
        mu_x, mu_y, cs, den, tmp = _workspace.arrays(xb.shape, 5)
        blur(xb, mu_x)
        blur(yb, mu_y)
        blur(np.multiply(xb, yb, out=tmp), cs)  # becomes the contrast-structure map
        np.multiply(xb, xb, out=tmp)
        tmp += np.square(yb, out=den)
        blur(tmp, den)
        cs -= np.multiply(mu_x, mu_y, out=tmp)  # the covariance
        cs *= 2
        cs += c2
        den -= np.square(mu_x, out=tmp)
        den -= np.square(mu_y, out=tmp)
        den += c2
        cs /= den
        mu_x += _SHIFT
        mu_y += _SHIFT
        luminance = np.multiply(mu_x, mu_y, out=tmp)
        luminance *= 2
        luminance += c1
        mu_sq = np.square(mu_x, out=mu_x)
        mu_sq += np.square(mu_y, out=mu_y)  # μx² + μy²
        mu_sq += c1
        luminance /= mu_sq
        ssim_map = np.multiply(luminance, cs, out=luminance)
        valid = (slice(r, r + v1 - v0), slice(r, width - r))
        # cv2.sumElems: SIMD sums accumulated in float64, of up to 4 channels
        ssim_sum += cv2.sumElems(ssim_map[valid])[:channels]
        cs_sum += cv2.sumElems(cs[valid])[:channels]
    count = (height - 2 * r) * (width - 2 * r)
    return ssim_sum / count, cs_sum / count


def _average_pool(image: np.ndarray) -> np.ndarray:
    """2×2 average pooling of an H×W×C image given as ``image − 128``; an odd side is padded by one
    zero of the unshifted image on both ends first, the padding counted in the means (torch's
    ``avg_pool2d(kernel_size=2, padding=side % 2)``, which MS-SSIM's usual implementations use)."""
    import cv2

    pad_h, pad_w = image.shape[0] % 2, image.shape[1] % 2
    if pad_h or pad_w:
        image = np.pad(image, ((pad_h, pad_h), (pad_w, pad_w), (0, 0)), constant_values=-_SHIFT)
    h, w = image.shape[0] // 2, image.shape[1] // 2
    # INTER_AREA at an exact factor of 2 is the mean of each 2×2 block (an odd padded side drops its last row)
    pooled = cv2.resize(image[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)
    return pooled.reshape(h, w, image.shape[2])


def _ssim_pair(x: np.ndarray, y: np.ndarray, multiscale: bool) -> tuple[float, float | None]:
    """(SSIM, MS-SSIM or None) of two H×W×C float32 images given as ``image − 128``, means over channels.

    SSIM is the finest scale's mean; MS-SSIM goes on to the coarser scales
    (:func:`_average_pool`) with the standard weights.
    """
    window = _gaussian_window()
    ssim_c, cs = _ssim_level(x, y, window)
    ssim_value = float(ssim_c.mean())
    if not multiscale:
        return ssim_value, None
    mcs = []
    for _ in range(len(MS_SSIM_WEIGHTS) - 1):
        mcs.append(np.maximum(cs, 0.0))
        x, y = _average_pool(x), _average_pool(y)
        ssim_c, cs = _ssim_level(x, y, window)
    stacked = np.stack(mcs + [np.maximum(ssim_c, 0.0)])  # (scale, channel)
    weights = np.array(MS_SSIM_WEIGHTS)[:, None]
    return ssim_value, float(np.prod(stacked**weights, axis=0).mean())


#: above this many samples (H×W×C), SSIM and MS-SSIM are computed one channel at a time
PER_CHANNEL_SAMPLES = 1 << 22


def _scores(original: np.ndarray, decoded: np.ndarray, multiscale: bool) -> tuple[float, float | None]:
    """:func:`_ssim_pair` of two uint8 H×W×C images, large ones one channel at a time.

    Channels are independent and averaged with equal weights, so scoring each
    on its own gives the same values (to float32 rounding) with a third of
    the peak memory (the filtered maps of a 6000×4000 RGB image take gigabytes).
    """
    def shifted(original: np.ndarray, decoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = _workspace.arrays(original.shape, 2, first=5)  # contiguous, as OpenCV wants; 0–4: the bands
        np.subtract(original, _SHIFT, out=x, dtype=np.float32)
        np.subtract(decoded, _SHIFT, out=y, dtype=np.float32)
        return x, y

    try:
        with _one_thread():
            if original.size <= PER_CHANNEL_SAMPLES or original.shape[2] == 1:
                return _ssim_pair(*shifted(original, decoded), multiscale)
            pairs = [_ssim_pair(*shifted(original[..., c : c + 1], decoded[..., c : c + 1]), multiscale)
                     for c in range(original.shape[2])]
    finally:
        _workspace.release_large()
    return float(np.mean([p[0] for p in pairs])), (float(np.mean([p[1] for p in pairs])) if multiscale else None)


def ssim_ms_ssim(original: np.ndarray, decoded: np.ndarray) -> tuple[float | None, float | None]:
    """(SSIM, MS-SSIM) of two uint8 H×W×C images from one filtering pass; each None where undefined."""
    side = min(original.shape[:2])
    if side < SSIM_MIN_SIDE:
        return None, None
    return _scores(original, decoded, multiscale=side >= MS_SSIM_MIN_SIDE)


def ssim(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """SSIM (Wang et al., 11×11 Gaussian σ=1.5, range 255), mean over channels; None below 11 px a side."""
    if min(original.shape[:2]) < SSIM_MIN_SIDE:
        return None
    return _scores(original, decoded, multiscale=False)[0]


def ms_ssim(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """MS-SSIM (5 scales, standard weights); None if the shorter side is ≤ 160 px."""
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    return _scores(original, decoded, multiscale=True)[1]


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM on the dB scale, −10·log10(1 − MS-SSIM); None for None, inf-safe."""
    if value is None:
        return None
    return 10.0 * math.log10(1.0 / max(1.0 - value, 1e-10))


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
        raise OptionError(f"unknown metric {', '.join(map(repr, unknown))}; known metrics: {', '.join(METRICS)}")
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
