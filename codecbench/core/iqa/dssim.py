"""DSSIM as Kornel Lesiński's ``dssim`` tool computes it (dssim-core 3.4.0), the DSSIM of webmproject's codec-compare.

A port of ``dssim-core/src`` (``dssim.rs``, ``tolab.rs``, ``linear.rs``, ``blur.rs``, ``image.rs``): sRGB
decoded to linear light; five scales, each the previous one's 2×2 box average in linear RGB (while both
sides are ≥ 8 pixels); at each scale the tool's own L*a*b* (its polynomial cube root, L scaled by 1.05,
a and b offset to be positive); a and b blurred once more before their statistics; the statistics blurred
by a 3×3 kernel applied twice (edges repeated); SSIM per pixel from the channel-averaged statistics; each
scale's score 1 − mean |s̄ − s| with s̄ = max(mean s, 0)^(0.5^scale), weighted 0.028, 0.197, 0.322, 0.298,
0.155; DSSIM = 1/SSIM − 1. The tool works in float32, this port in float64. A gray image is compared as the
tool compares a gray PNG, as RGB with three equal channels. The tool itself is a Rust program outside PyPI;
no Python library computes this DSSIM (piq's ``dss`` and ``(1 − SSIM)/2`` are other metrics).
"""

from __future__ import annotations

import numpy as np

from codecbench.core.refcache import reference_side

#: weights of the scales, finest first (dssim-core's DEFAULT_WEIGHTS)
WEIGHTS = (0.028, 0.197, 0.322, 0.298, 0.155)
#: the tool's blur kernel (applied twice)
KERNEL = np.array([[0.095332, 0.118095, 0.095332], [0.118095, 0.146293, 0.118095], [0.095332, 0.118095, 0.095332]])
#: linear RGB → XYZ divided by the D65 white (rows X/0.9505, Y, Z/1.089)
RGB_TO_XYZ_D65 = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) / np.array(
    [[0.9505], [1.0], [1.089]])
C1, C2 = 0.01**2, 0.03**2
#: a scale is down-sampled further only while both its sides are at least this long
MIN_DOWNSAMPLE_SIDE = 8


def _blur(plane: np.ndarray) -> np.ndarray:
    import cv2

    once = cv2.filter2D(plane, cv2.CV_64F, KERNEL, borderType=cv2.BORDER_REPLICATE)
    return cv2.filter2D(once, cv2.CV_64F, KERNEL, borderType=cv2.BORDER_REPLICATE)


def _linear(image: np.ndarray) -> np.ndarray:
    """sRGB uint8 H×W×C → linear-light float64 H×W×3 (a gray channel repeated)."""
    s = np.arange(256) / 255.0
    lut = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
    linear = lut[image]
    return np.repeat(linear, 3, axis=2) if linear.shape[2] == 1 else linear


def _cbrt(x: np.ndarray) -> np.ndarray:
    """The tool's cube root: a quadratic first guess refined by two Halley steps."""
    y = (-0.5 * x + 1.51) * x + 0.2
    for _ in range(2):
        y3 = y * y * y
        y = y * (y3 + 2 * x) / (2 * y3 + x)
    return y


def _lab(linear: np.ndarray) -> list[np.ndarray]:
    """The tool's L*a*b* planes (L, a, b), each on about 0–1."""
    epsilon, k = 216 / 24389, 24389 / (27 * 116)
    f = linear @ RGB_TO_XYZ_D65.T
    x, y, z = np.moveaxis(np.where(f > epsilon, _cbrt(f) - 16 / 116, k * f), 2, 0)
    return [y * 1.05, 500 / 220 * (x - y) + 86.2 / 220, 200 / 220 * (y - z) + 107.9 / 220]


def _scales(image: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per scale, per L, a, b plane: (plane, its blurred mean, its blurred square), finest scale first."""
    linear, out = _linear(image), []
    while True:
        planes = _lab(linear)
        planes[1:] = [_blur(plane) for plane in planes[1:]]  # chroma is blurred once more
        out.append([(plane, _blur(plane), _blur(plane * plane)) for plane in planes])
        h, w = linear.shape[:2]
        if len(out) == len(WEIGHTS) or min(h, w) < MIN_DOWNSAMPLE_SIDE:
            return out
        linear = linear[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))


def _mean(planes: list[np.ndarray]) -> np.ndarray:
    return sum(planes) / len(planes)


def _ssim_map(original: list[tuple], decoded: list[tuple]) -> np.ndarray:
    """SSIM per pixel from the statistics averaged over L, a and b (as dssim-core's LAB arithmetic)."""
    mu1_sq = _mean([mu1 * mu1 for _, mu1, _ in original])
    mu2_sq = _mean([mu2 * mu2 for _, mu2, _ in decoded])
    mu12 = _mean([o[1] * d[1] for o, d in zip(original, decoded)])
    sigma1_sq = _mean([sq - mu * mu for _, mu, sq in original])
    sigma2_sq = _mean([sq - mu * mu for _, mu, sq in decoded])
    sigma12 = _mean([_blur(o[0] * d[0]) - o[1] * d[1] for o, d in zip(original, decoded)])
    return (2 * mu12 + C1) * (2 * sigma12 + C2) / ((mu1_sq + mu2_sq + C1) * (sigma1_sq + sigma2_sq + C2))


def dssim(original: np.ndarray, decoded: np.ndarray) -> float:
    """DSSIM of two uint8 H×W×C sRGB images as ``dssim`` reports it (≥ 0, dimensionless; 0 = identical, lower
    is better)."""
    reference = reference_side(original, "dssim", _scales)
    total = weight_sum = 0.0
    for n, (weight, ref, dec) in enumerate(zip(WEIGHTS, reference, _scales(decoded))):
        ssim = _ssim_map(ref, dec)
        average = max(float(ssim.mean()), 0.0) ** (0.5**n)
        total += weight * (1.0 - float(np.abs(average - ssim).mean()))
        weight_sum += weight
    return 1.0 / max(total / weight_sum, np.finfo(np.float64).eps) - 1.0
