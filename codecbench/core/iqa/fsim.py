"""FSIM and FSIMc (Zhang et al. 2011): phase congruency and gradient similarity, as piq's ``fsim``.

Phase congruency from log-Gabor filters (4 scales, 4 orientations, applied
by FFT), Scharr gradients, images first averaged over F×F blocks with
F = max(1, round(min(H, W) / 256)); FSIMc adds the YIQ chroma similarity.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from codecbench.core.iqa.colour import yiq
from codecbench.core.refcache import reference_side

SCALES, ORIENTATIONS, MIN_LENGTH, MULT, SIGMA_F, DELTA_THETA, K = 4, 4, 6, 2, 0.55, 1.2, 2.0
T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
EPS = float(np.finfo(np.float64).eps)
#: below this side (after the block averaging too) the filters' frequency grid is too coarse; None
MIN_SIDE = 8
_SCHARR = np.array([[-3.0, 0.0, 3.0], [-10.0, 0.0, 10.0], [-3.0, 0.0, 3.0]]) / 16


def _axis(n: int) -> np.ndarray:
    return (np.arange(n) - (n - 1) / 2) / (n - 1) if n % 2 else (np.arange(n) - n / 2) / n


@functools.lru_cache(maxsize=4)
def _filters(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-Gabor filters (orientation, scale, H, W) in FFT order, per orientation the finest filter's energy,
    per orientation the noise-energy factor Σ A² + 2 Σ_{s<t} A_s·A_t of the spatial filters)."""
    gx, gy = np.meshgrid(_axis(h), _axis(w), indexing="ij")
    radius = np.fft.ifftshift(np.sqrt(gx**2 + gy**2))
    theta = np.fft.ifftshift(np.arctan2(-gy, gx))
    low_pass = np.fft.ifftshift(1.0 / (1.0 + (np.sqrt(gx**2 + gy**2) / 0.45) ** 30))
    radius[0, 0] = 1.0
    gabors = []
    for s in range(SCALES):
        gabor = np.exp(-np.log(radius * MIN_LENGTH * MULT**s) ** 2 / (2 * math.log(SIGMA_F) ** 2)) * low_pass
        gabor[0, 0] = 0.0
        gabors.append(gabor)
    theta_sigma = math.pi / (ORIENTATIONS * DELTA_THETA)
    spreads = []
    for o in range(ORIENTATIONS):
        angle = o * math.pi / ORIENTATIONS
        ds = np.sin(theta) * math.cos(angle) - np.cos(theta) * math.sin(angle)
        dc = np.cos(theta) * math.cos(angle) + np.sin(theta) * math.sin(angle)
        spreads.append(np.exp(-np.arctan2(ds, dc) ** 2 / (2 * theta_sigma**2)))
    filters = np.array([[spread * gabor for gabor in gabors] for spread in spreads])
    spatial = np.fft.ifft2(filters).real * math.sqrt(h * w)
    pairs = sum((spatial[:, s:s + 1] * spatial[:, s + 1:]).sum(axis=(1, 2, 3)) for s in range(SCALES - 1))
    return filters, (filters[:, 0] ** 2).sum(axis=(1, 2)), (spatial**2).sum(axis=(1, 2, 3)) + 2 * pairs


def phase_congruency(y: np.ndarray) -> np.ndarray:
    """Phase congruency (float64 H×W, 0–1) of a luma image (Kovesi's method as FSIM uses it)."""
    h, w = y.shape
    filters, finest_energy, noise_factor = _filters(h, w)
    responses = np.fft.ifft2(np.fft.fft2(y) * filters)  # (orientation, scale, H, W): even + i·odd
    even, odd = responses.real, responses.imag
    amplitude = np.abs(responses)
    sum_e, sum_o = even.sum(axis=1, keepdims=True), odd.sum(axis=1, keepdims=True)
    norm = np.sqrt(sum_e**2 + sum_o**2) + EPS
    mean_e, mean_o = sum_e / norm, sum_o / norm
    energy = (even * mean_e + odd * mean_o - np.abs(even * mean_o - odd * mean_e)).sum(axis=1)
    finest = (amplitude[:, 0] ** 2).reshape(ORIENTATIONS, -1)
    median = np.partition(finest, (finest.shape[1] - 1) // 2, axis=1)[:, (finest.shape[1] - 1) // 2]  # torch's lower
    noise_power = -median / math.log(0.5) / finest_energy
    tau = np.sqrt(noise_power * noise_factor)  # sqrt((2·P·ΣA² + 4·P·ΣA_sA_t) / 2)
    threshold = (tau * math.sqrt(math.pi / 2) + K * np.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
    energy = np.maximum(energy - threshold[:, None, None], 0.0)
    return (energy.sum(axis=0) + EPS) / (amplitude.sum(axis=(0, 1)) + EPS)


def _gradient(y: np.ndarray) -> np.ndarray:
    import cv2

    gx = cv2.filter2D(y, cv2.CV_64F, _SCHARR, borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(y, cv2.CV_64F, _SCHARR.T, borderType=cv2.BORDER_CONSTANT)
    return np.sqrt(gx * gx + gy * gy)


def _features(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """(phase congruency, gradient magnitude, I, Q) of an image after FSIM's F×F block averaging; I and Q are
    None for a gray image."""
    f = max(1, round(min(image.shape[:2]) / 256))
    h, w = image.shape[0] // f, image.shape[1] // f
    pooled = image[: h * f, : w * f].astype(np.float64).reshape(h, f, w, f, -1).mean(axis=(1, 3))
    channels = yiq(pooled) if pooled.shape[2] == 3 else pooled
    y = np.ascontiguousarray(channels[..., 0])
    chroma = (channels[..., 1], channels[..., 2]) if pooled.shape[2] == 3 else (None, None)
    return phase_congruency(y), _gradient(y), *chroma


def _similarity(a: np.ndarray, b: np.ndarray, constant: float) -> np.ndarray:
    return (2.0 * a * b + constant) / (a * a + b * b + constant)


def fsim(original: np.ndarray, decoded: np.ndarray) -> tuple[float | None, float | None]:
    """(FSIM, FSIMc) of two uint8 H×W×C images (0–1, 1 = identical); FSIMc None for gray images, both None below
    :data:`MIN_SIDE` a side."""
    if min(original.shape[:2]) < MIN_SIDE:
        return None, None
    pc1, g1, i1, q1 = reference_side(original, "fsim", _features)
    pc2, g2, i2, q2 = _features(decoded)
    pc_max = np.maximum(pc1, pc2)
    weighted = _similarity(pc1, pc2, T1) * _similarity(g1, g2, T2) * pc_max
    total = pc_max.sum()
    fsim_value = float(weighted.sum() / total)
    if i1 is None:
        return fsim_value, None
    chroma = np.abs(_similarity(i1, i2, T3) * _similarity(q1, q2, T4)) ** LAMBDA
    return fsim_value, float((weighted * chroma).sum() / total)
