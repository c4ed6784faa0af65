"""VIF in the pixel domain (Sheikh & Bovik 2006; the authors' ``vifp_mscale``), on BT.601 luma, as piq's ``vif_p``."""

from __future__ import annotations

import numpy as np

from codecbench.core.iqa.colour import luma
from codecbench.core.refcache import reference_side

SCALES = 4
SIGMA_N_SQ = 2.0
EPS = 1e-8
#: the smallest side VIF's four scales are defined for
MIN_SIDE = 41


def _window(scale: int) -> np.ndarray:
    size = 2 ** (SCALES - scale) + 1
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * (size / 5) ** 2))
    return g / g.sum()


def _valid(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Gaussian filtering of a float64 H×W image, the 'valid' part only (where the window fits)."""
    import cv2

    r = len(taps) // 2
    return cv2.sepFilter2D(image, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]


def _scales(image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Per scale: the (filtered, subsampled) image, its local mean μ and variance σ² and Σ log10(1 + σ²/σn²)."""
    out = []
    for scale in range(SCALES):
        taps = _window(scale)
        if scale:
            image = _valid(image, taps)[::2, ::2]
        mu = _valid(image, taps)
        var = np.maximum(_valid(image * image, taps) - mu * mu, 0.0)
        var = np.where(var >= EPS, var, 0.0)
        out.append((image, mu, var, float(np.log10(1.0 + var / SIGMA_N_SQ).sum())))
    return out


def vif(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """Pixel-domain VIF of the decoded image's luma against the original's (≥ 0, 1 = identical; can exceed 1
    for contrast enhancement); None if a side is below :data:`MIN_SIDE`."""
    if min(original.shape[:2]) < MIN_SIDE:
        return None
    reference = reference_side(original, "vif", lambda image: _scales(luma(image)))
    image, num, den = luma(decoded), 0.0, 0.0
    for scale, (ref, mu_r, var_r, info_r) in enumerate(reference):
        taps = _window(scale)
        if scale:
            image = _valid(image, taps)[::2, ::2]
        mu_d = _valid(image, taps)
        var_d = np.maximum(_valid(image * image, taps) - mu_d * mu_d, 0.0)
        cov = _valid(ref * image, taps) - mu_r * mu_d
        g = cov / (var_r + EPS)
        sv = var_d - g * cov
        g = np.where(var_r >= EPS, g, 0.0)
        sv = np.where(var_r >= EPS, sv, var_d)
        g = np.where(var_d >= EPS, g, 0.0)
        sv = np.where(var_d >= EPS, sv, 0.0)
        sv = np.where(g >= 0, sv, var_d)
        g = np.maximum(g, 0.0)
        sv = np.maximum(sv, EPS)
        num += float(np.log10(1.0 + g * g * var_r / (sv + SIGMA_N_SQ)).sum())
        den += info_r
    return (num + EPS) / (den + EPS)
