"""SSIM and MS-SSIM (the conventions: :mod:`codecbench.core.metrics`), in float32 with OpenCV, one filtering of the
full-size images serving both: MS-SSIM's finest scale *is* SSIM."""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from codecbench.core.refcache import reference_side

MS_SSIM_MIN_SIDE = 161
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_MIN_SIDE = 11
SSIM_WINDOW, SSIM_SIGMA, SSIM_K = 11, 1.5, (0.01, 0.03)


@contextmanager
def one_thread() -> Iterator[None]:
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


_WINDOW = _gaussian_window()

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


#: samples (rows × W × C) of each scratch array in one band of :func:`_ssim_level`: the band's
#: arrays stay in the CPU's cache instead of streaming whole images through memory
BAND_SAMPLES_SSIM = 1 << 17
_C1, _C2 = (SSIM_K[0] * 255.0) ** 2, (SSIM_K[1] * 255.0) ** 2


def _blur(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The 11-tap Gaussian (σ 1.5) of a float32 H×W×C image, reflecting at the borders (only 'valid' pixels,
    whose window lies inside the image, are ever averaged)."""
    import cv2

    return cv2.sepFilter2D(image, cv2.CV_32F, _WINDOW, _WINDOW, dst=out, borderType=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class _Level:
    """What SSIM needs of the original at one scale, computed once per original (:func:`_reference`):
    the image as ``original − 128``, its Gaussian mean and the Gaussian mean of its square (float32 H×W×C)."""

    x: np.ndarray
    mu: np.ndarray
    sq: np.ndarray


def _reference(original: np.ndarray, scales: int) -> list[_Level]:
    """The :class:`_Level` of each of ``scales`` scales of ``original`` (uint8 or float on the 0–255 scale)."""
    x = np.subtract(original, _SHIFT, dtype=np.float32)
    levels = []
    for scale in range(scales):
        if scale:
            x = _average_pool(x)
        levels.append(_Level(x, _blur(x).reshape(x.shape), _blur(np.square(x)).reshape(x.shape)))
    return levels


def _ssim_level(ref: _Level, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (SSIM, contrast-structure) means (float64, shape C) at one scale of the original
    (``ref``) and an H×W×C float32 image ``y`` given as ``decoded − 128``.

    The original's side comes filtered (:func:`_reference`); in bands of rows
    (each with the window's half-width of rows above and below) three
    Gaussian filterings of the decoded side (μy, E[xy], E[y²]), the maps
    combined in place in scratch arrays with OpenCV's fused arithmetic, and
    their sums over the 'valid' region, where the window lies inside the
    image (so the filter's border rule never counts). With a = μx − 128 and
    b = μy − 128 the luminance term is (2ab + 256(a + b) + 2·128² + C1) /
    (a² + b² + 256(a + b) + 2·128² + C1), and a² + b² serves both terms.
    """
    import cv2

    height, width, channels = y.shape
    r = SSIM_WINDOW // 2
    rows = max(1, BAND_SAMPLES_SSIM // (width * channels))
    ssim_sum, cs_sum = np.zeros(channels), np.zeros(channels)
    lum_constant = 2 * _SHIFT**2 + _C1
    for v0 in range(r, height - r, rows):  # valid rows v0 … v1 − 1
        v1 = min(height - r, v0 + rows)
        band = slice(v0 - r, v1 + r)
        yb, mu_x, sq_x = y[band], ref.mu[band], ref.sq[band]
        mu_y, cs, den, ab, tmp = _workspace.arrays(yb.shape, 5)
        _blur(yb, mu_y)
        _blur(cv2.multiply(ref.x[band], yb, dst=tmp), cs)  # E[xy], becomes the contrast-structure map
        _blur(cv2.multiply(yb, yb, dst=tmp), den)  # E[y²], becomes the variance term
        cv2.multiply(mu_x, mu_y, dst=ab)
        cv2.addWeighted(cs, 2.0, ab, -2.0, _C2, dst=cs)  # 2σxy + C2
        cv2.add(den, sq_x, dst=den)
        cv2.multiply(mu_y, mu_y, dst=tmp)
        cv2.accumulateSquare(mu_x, tmp)  # a² + b²
        cv2.addWeighted(den, 1.0, tmp, -1.0, _C2, dst=den)  # σx² + σy² + C2
        cv2.divide(cs, den, dst=cs)
        cv2.add(mu_x, mu_y, dst=den)  # a + b
        cv2.addWeighted(ab, 2.0, den, 256.0, lum_constant, dst=ab)
        cv2.addWeighted(tmp, 1.0, den, 256.0, lum_constant, dst=tmp)
        cv2.divide(ab, tmp, dst=ab)  # the luminance map
        ssim_map = cv2.multiply(ab, cs, dst=ab)
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
    # bilinear at an exact factor of 2 samples between the pixels: the mean of each 2×2 block (an odd padded
    # side drops its last row), as INTER_AREA but 7× faster; the same bits on images of 8-bit values and
    # their pooled means (dyadic fractions), within 1e-5 on arbitrary floats
    pooled = cv2.resize(image[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_LINEAR)
    return pooled.reshape(h, w, image.shape[2])


def _ssim_pair(ref: list[_Level], decoded: np.ndarray) -> tuple[float, float | None]:
    """(SSIM, MS-SSIM or None) of the original (its :func:`_reference`, one level: SSIM only) and an
    H×W×C image, means over channels.

    SSIM is the finest scale's mean; MS-SSIM goes on to the coarser scales
    (:func:`_average_pool`) with the standard weights.
    """
    (y,) = _workspace.arrays(decoded.shape, 1, first=5)  # contiguous, as OpenCV wants; 0–4: the bands
    np.subtract(decoded, _SHIFT, out=y, dtype=np.float32)
    ssim_c, cs = _ssim_level(ref[0], y)
    ssim_value = float(ssim_c.mean())
    if len(ref) == 1:
        return ssim_value, None
    mcs = []
    for level in ref[1:]:
        mcs.append(np.maximum(cs, 0.0))
        y = _average_pool(y)
        ssim_c, cs = _ssim_level(level, y)
    stacked = np.stack(mcs + [np.maximum(ssim_c, 0.0)])  # (scale, channel)
    weights = np.array(MS_SSIM_WEIGHTS)[:, None]
    return ssim_value, float(np.prod(stacked**weights, axis=0).mean())


#: above this many samples (H×W×C), SSIM and MS-SSIM are computed one channel at a time, and the
#: original's filtered side is not kept for the next decoded image (it would take 16 bytes a sample)
PER_CHANNEL_SAMPLES = 1 << 22


def _scores(original: np.ndarray, decoded: np.ndarray, multiscale: bool) -> tuple[float, float | None]:
    """:func:`_ssim_pair` of two H×W×C images, large ones one channel at a time.

    The original's side (:func:`_reference`) is derived once per original and
    thread and reused for every decoded image scored against it
    (:func:`~codecbench.core.refcache.reference_side`): a sweep scores many.
    Channels are independent and averaged with equal weights, so scoring a
    large image one channel at a time gives the same values (to float32
    rounding) with a third of the peak memory.
    """
    scales = len(MS_SSIM_WEIGHTS) if multiscale else 1
    try:
        with one_thread():
            if original.size <= PER_CHANNEL_SAMPLES:
                ref = reference_side(original, f"ssim-{scales}", lambda image: _reference(image, scales))
                return _ssim_pair(ref, decoded)
            pairs = [_ssim_pair(_reference(original[..., c : c + 1], scales), decoded[..., c : c + 1])
                     for c in range(original.shape[2])]
    finally:
        _workspace.release_large()
    return float(np.mean([p[0] for p in pairs])), (float(np.mean([p[1] for p in pairs])) if multiscale else None)


def ssim_ms_ssim(original: np.ndarray, decoded: np.ndarray) -> tuple[float | None, float | None]:
    """(SSIM, MS-SSIM) of two H×W×C images (uint8, or float on the 0–255 scale: MS-SSIM-Y's unrounded luma) from
    one filtering pass; each None where undefined."""
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
