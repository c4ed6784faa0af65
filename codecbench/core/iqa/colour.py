"""Colour transforms shared by the metrics, and CIEDE2000 (scikit-image's)."""

from __future__ import annotations

import math

import numpy as np

from codecbench.core.refcache import reference_side

#: RGB → YIQ (NTSC, the rows Y, I, Q), as FSIM and piq use; Y is BT.601 luma
YIQ = np.array([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]])


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B (float64 H×W, 0–255, unrounded); a gray image's one channel."""
    if image.shape[2] == 1:
        return image[..., 0].astype(np.float64)
    return image @ YIQ[0]


def yiq(image: np.ndarray) -> np.ndarray:
    """YIQ (float64 H×W×3, Y on 0–255) of an RGB uint8 image."""
    return image @ YIQ.T


def _lab(image: np.ndarray) -> np.ndarray:
    from skimage.color import gray2rgb, rgb2lab

    rgb = gray2rgb(image[..., 0]) if image.shape[2] == 1 else image
    return rgb2lab(rgb)  # sRGB, D65, 2° observer


def ciede2000(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """CIEDE2000 on libvmaf's scale, 45 − 20·log10(mean ΔE00) (dB; higher is better; None if identical).

    ΔE00 per pixel by scikit-image (``rgb2lab`` from sRGB/D65, then
    ``deltaE_ciede2000``), averaged over the image.
    """
    from skimage.color import deltaE_ciede2000

    mean = float(deltaE_ciede2000(reference_side(original, "lab", _lab), _lab(decoded)).mean())
    return None if mean == 0 else 45.0 - 20.0 * math.log10(mean)
