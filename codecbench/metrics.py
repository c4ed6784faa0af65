"""Rate and distortion metrics, following the field's conventions.

- **bpp** = 8 × bitstream bytes / (H × W) of the original image, every byte
  of the stored stream (headers included) counted, all channels together.
- **PSNR** (dB) = 10·log10(255² / MSE), MSE over all pixels and channels of
  the 8-bit images (CompressAI's ``psnr-rgb``); ``None`` when the images are
  identical (infinite PSNR).
- **PSNR-Y** (dB): PSNR of ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B,
  computed in floating point on the 0–255 scale (no rounding).
- **SSIM**: Wang et al. 2004, 11×11 Gaussian window with σ = 1.5, K1 = 0.01,
  K2 = 0.03, data range 255, 'valid' filtering, mean over channels;
  ``None`` for images whose shorter side is below the 11 px window (a 1×N
  image has no SSIM, and a smaller window would be another metric).
- **MS-SSIM**: Wang et al. 2003, the same window, 5 scales with weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); ``None`` for images whose shorter
  side is ≤ 160 px, where the 5 scales are undefined. ``ms_ssim_db`` is
  −10·log10(1 − MS-SSIM).

Both SSIM variants come from ``pytorch_msssim``'s filtering, computed in
float32 (within 1e-6 of float64, at half the cost) and together: MS-SSIM's
finest scale *is* SSIM, so :func:`quality` filters the full-size images once
for both. The tests hold both to 1e-4 against independent references.
Dataset figures are the arithmetic mean over images of the per-image values.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d
from pytorch_msssim.ssim import _ssim as _ssim_level

MS_SSIM_MIN_SIDE = 161
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_MIN_SIDE = 11
_LUMA = np.array([0.299, 0.587, 0.114])


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


def psnr(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """PSNR in dB over all channels of two uint8 images; None if identical."""
    sse = 0.0
    for y0, y1 in _row_bands(original):  # squared errors are integers: every partial sum is exact
        diff = (original[y0:y1].astype(np.float64) - decoded[y0:y1]).ravel()
        sse += float(np.dot(diff, diff))
    return _mse_to_psnr(sse / original.size)


def psnr_y(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """PSNR in dB of BT.601 luma (the single channel of a gray image); None if identical."""
    sse = 0.0
    for y0, y1 in _row_bands(original):
        diff = (luma(original[y0:y1]) - luma(decoded[y0:y1])).ravel()
        sse += float(np.dot(diff, diff))
    return _mse_to_psnr(sse / (original.shape[0] * original.shape[1]))


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8 H×W×C image as float64 H×W on the 0–255 scale."""
    if image.shape[2] == 1:
        return image[..., 0].astype(np.float64)
    return image[..., :3].astype(np.float64) @ _LUMA


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: the SSIM filters are small, and extra threads only
    spin against the codecs and each other (several times slower on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


def _tensor(image: np.ndarray) -> torch.Tensor:
    # converting to float32 in numpy makes the one copy needed, writable even when the input is not
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]


#: above this many samples (H×W×C), SSIM and MS-SSIM are computed one channel at a time
PER_CHANNEL_SAMPLES = 1 << 20


def _ssim_pair(x: torch.Tensor, y: torch.Tensor, multiscale: bool) -> tuple[float, float | None]:
    """(SSIM, MS-SSIM or None) of two 1×C×H×W float32 tensors, means over channels.

    MS-SSIM's finest scale is SSIM's own filtering of the full images
    (pytorch_msssim's ``_ssim``), so both come from one pass: SSIM is that
    scale's mean, MS-SSIM goes on to the coarser scales exactly as
    ``pytorch_msssim.ms_ssim`` does (the tests hold both to the library's
    public functions and to independent references).
    """
    win = _fspecial_gauss_1d(11, 1.5).repeat([x.shape[1], 1, 1, 1])
    ssim_c, cs = _ssim_level(x, y, data_range=255.0, win=win, size_average=False, K=(0.01, 0.03))
    ssim_value = float(ssim_c.mean())
    if not multiscale:
        return ssim_value, None
    mcs = []
    for _ in range(len(MS_SSIM_WEIGHTS) - 1):
        mcs.append(torch.relu(cs))
        padding = [s % 2 for s in x.shape[2:]]
        x = F.avg_pool2d(x, kernel_size=2, padding=padding)
        y = F.avg_pool2d(y, kernel_size=2, padding=padding)
        ssim_c, cs = _ssim_level(x, y, data_range=255.0, win=win, size_average=False, K=(0.01, 0.03))
    stacked = torch.stack(mcs + [torch.relu(ssim_c)], dim=0)  # (scale, batch, channel)
    weights = x.new_tensor(MS_SSIM_WEIGHTS).view(-1, 1, 1)
    return ssim_value, float(torch.prod(stacked**weights, dim=0).mean())


def _scores(original: np.ndarray, decoded: np.ndarray, multiscale: bool) -> tuple[float, float | None]:
    """:func:`_ssim_pair` of two uint8 H×W×C images, large ones one channel at a time.

    Channels are independent and averaged with equal weights, so scoring each
    on its own gives the same values (to float32 rounding) with a third of
    the peak memory (the filtered maps of a 6000×4000 RGB image take gigabytes).
    """
    with _one_thread():
        if original.size <= PER_CHANNEL_SAMPLES or original.shape[2] == 1:
            return _ssim_pair(_tensor(original), _tensor(decoded), multiscale)
        pairs = [_ssim_pair(_tensor(original[..., c : c + 1]), _tensor(decoded[..., c : c + 1]), multiscale)
                 for c in range(original.shape[2])]
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


def quality(original: np.ndarray, decoded: np.ndarray) -> dict[str, float | None]:
    """All distortion metrics of a decoded image, keyed as result records name them."""
    ssim_value, ms_ssim_value = ssim_ms_ssim(original, decoded)
    return {
        "psnr": psnr(original, decoded),
        "psnr_y": psnr_y(original, decoded),
        "ssim": ssim_value,
        "ms_ssim": ms_ssim_value,
        "lossless_ok": bool(np.array_equal(original, decoded)),
    }
