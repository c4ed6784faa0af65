"""NLPD, the Normalized Laplacian Pyramid Distance (Laparra, Berardino, Ballé & Simoncelli 2016), on BT.601 luma.

The authors' ``NLP_dist.m`` as pyiqa transcribes it (``pyiqa/archs/nlpd_arch.py``, the metric JPEG AI's
objective set uses): luma on 0–1, a six-level Laplacian pyramid of the 5×5 binomial-like filter (reduce
with symmetric borders, expand with the border repeated and zeros inserted), each level divided by a local
amplitude estimate (σ + a 3×3 weighted sum of |coefficients| with zero borders), and the distance the mean
over levels of each level's root-mean-square difference. Luma, not R, G and B: the authors define NLPD on
gray images and pyiqa's default (``test_y_channel=True``) is luma; a gray image's one channel is its luma.

pyiqa itself is not used: it imports torchvision, whose wheels here are CUDA builds beside a CPU torch.
"""

from __future__ import annotations

import numpy as np

from codecbench.core.iqa.colour import luma
from codecbench.core.refcache import reference_side

#: the separable 5-tap low-pass filter (outer product gives the authors' 5×5 filter)
TAPS = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
#: pyramid levels: five band-pass levels and the low-pass residual
LEVELS = 6
#: σ of each level's divisive normalization (the authors' fitted values)
SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: each level's 3×3 weights of the neighbours' amplitudes (the authors' fitted values, as ``conv2`` applies them)
DN_FILTERS = tuple(np.rot90(np.array(f), 2) for f in (
    [[0, 0.1011, 0], [0.1493, 0, 0.1460], [0, 0.1015, 0]],
    [[0, 0.0757, 0], [0.1986, 0, 0.1846], [0, 0.0837, 0]],
    [[0, 0.0477, 0], [0.2138, 0, 0.2243], [0, 0.0467, 0]],
    [[0, 0, 0], [0.2503, 0, 0.2616], [0, 0, 0]],
    [[0, 0, 0], [0.2598, 0, 0.2552], [0, 0, 0]],
    [[0, 0, 0], [0.2215, 0, 0.0717], [0, 0, 0]],
))


def _reduce(image: np.ndarray) -> np.ndarray:
    """Low-pass with symmetric borders (the edge sample repeated), every second sample kept."""
    import cv2

    return cv2.sepFilter2D(image, cv2.CV_64F, TAPS, TAPS, borderType=cv2.BORDER_REFLECT)[::2, ::2]


def _expand(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``low`` up-sampled to ``shape``: its border repeated once, zeros inserted, low-pass filtered (gain 4)."""
    import cv2

    padded = np.pad(low, 1, mode="edge")
    up = np.zeros((2 * padded.shape[0], 2 * padded.shape[1]))
    up[::2, ::2] = 4 * padded
    filtered = cv2.sepFilter2D(up, cv2.CV_64F, TAPS, TAPS, borderType=cv2.BORDER_CONSTANT)
    return filtered[2:2 + shape[0], 2:2 + shape[1]]


def _normalized(band: np.ndarray, level: int) -> np.ndarray:
    import cv2

    amplitude = cv2.filter2D(np.abs(band), cv2.CV_64F, DN_FILTERS[level], borderType=cv2.BORDER_CONSTANT)
    return band / (SIGMAS[level] + amplitude)


def pyramid(gray: np.ndarray) -> list[np.ndarray]:
    """The normalized Laplacian pyramid of a float64 H×W image on 0–1, finest level first."""
    levels = []
    for level in range(LEVELS - 1):
        low = _reduce(gray)
        levels.append(_normalized(gray - _expand(low, gray.shape), level))
        gray = low
    levels.append(_normalized(gray, LEVELS - 1))
    return levels


def _luma_pyramid(image: np.ndarray) -> list[np.ndarray]:
    return pyramid(luma(image) / 255.0)


def nlpd(original: np.ndarray, decoded: np.ndarray) -> float:
    """NLPD of two uint8 H×W×C images' luma (≥ 0, dimensionless; 0 = identical, lower is better)."""
    reference = reference_side(original, "nlpd", _luma_pyramid)
    distances = [np.sqrt(np.mean((ref - dec) ** 2)) for ref, dec in zip(reference, _luma_pyramid(decoded))]
    return float(np.mean(distances))
