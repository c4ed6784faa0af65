"""IW-SSIM (Wang & Li 2011): MS-SSIM over a Laplacian pyramid with each scale's contrast-structure map weighted by
the local information content of the reference (a Gaussian scale mixture with its parent band), as piq's
``information_weighted_ssim``; on BT.601 luma, 5 scales with MS-SSIM's weights."""

from __future__ import annotations

import numpy as np

from codecbench.core.iqa.colour import luma
from codecbench.core.refcache import reference_side

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333]) / 1.0001
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
SIGMA_NSQ, BLOCK = 0.4, 3
#: the smallest side for which the five scales' 11×11 windows fit
MIN_SIDE = 161
EPS = float(np.finfo(np.float64).eps)
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16 * np.sqrt(2.0)
_GAUSS = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
_GAUSS /= _GAUSS.sum()


def _filter(image: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """1-D filtering along ``axis`` with 'reflect' borders (no edge repeat), same size."""
    import cv2

    kx, ky = (taps, np.ones(1)) if axis == 1 else (np.ones(1), taps)
    return cv2.sepFilter2D(image, cv2.CV_64F, kx, ky, borderType=cv2.BORDER_REFLECT_101)


def _pyramid_step(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low-pass subsampled by 2, band-pass x − expand(low)) of one Laplacian pyramid step."""
    low = _filter(_filter(x, _BINOMIAL, 1)[:, ::2], _BINOMIAL, 0)[::2]
    up = np.zeros((low.shape[0], 2 * low.shape[1]))
    up[:, ::2] = low
    up = _filter(up, _BINOMIAL, 1)[:, : x.shape[1]]
    tall = np.zeros((2 * up.shape[0], up.shape[1]))
    tall[::2] = up
    return low, x - _filter(tall, _BINOMIAL, 0)[: x.shape[0]]


def _gauss_valid(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.sepFilter2D(image, cv2.CV_64F, _GAUSS, _GAUSS, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]


def _box_stats(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """3×3 means of x (or of x·y) centred on rows and columns 1 … n−2 (the blocks that lie inside the image)."""
    import cv2

    return cv2.blur(x if y is None else x * y, (3, 3))[1:-1, 1:-1]


def _enlarge(parent: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The parent band at the child's size: bilinear ×4 − 3, edges extrapolated, every 2nd sample (piq's)."""
    import cv2

    h, w = parent.shape
    t = np.zeros((4 * h - 1, 4 * w - 1))
    t[1:-1, 1:-1] = cv2.resize(parent, (4 * w - 3, 4 * h - 3), interpolation=cv2.INTER_LINEAR)
    t[0], t[-1] = 2 * t[1] - t[2], 2 * t[-2] - t[-3]
    t[:, 0], t[:, -1] = 2 * t[:, 1] - t[:, 2], 2 * t[:, -2] - t[:, -3]
    return t[::2, ::2][: shape[0], : shape[1]]


def _information_prior(y: np.ndarray, parent: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(s map over the blocks, eigenvalues λ) of the reference band's Gaussian scale mixture: the 3×3
    neighbourhood (and parent) vectors' covariance, its negative eigenvalues dropped."""
    h, w = y.shape
    columns = [np.roll(y, (dy, dx), axis=(0, 1))[1:h - 1, 1:w - 1] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    if parent is not None:
        columns.append(_enlarge(parent, y.shape)[1:h - 1, 1:w - 1])
    vectors = np.stack([c.reshape(-1) for c in columns], axis=1)
    eigenvalues, eigenvectors = np.linalg.eigh(vectors.T @ vectors / len(vectors))
    positive = eigenvalues * (eigenvalues > 0)
    kept = positive.sum()
    scaled = positive * eigenvalues.sum() / (kept + (kept == 0))
    inverse = np.linalg.inv(eigenvectors @ np.diag(scaled) @ eigenvectors.T)
    s = ((vectors @ inverse) * vectors).sum(axis=1) / vectors.shape[1]
    return s.reshape(h - 2, w - 2), scaled


def _bands(y: np.ndarray) -> list[tuple]:
    """Per scale of the reference: (band, Gaussian mean, variance, 3×3 mean, 3×3 variance, s map, λ)."""
    low, band = _pyramid_step(y)
    bands = [band]
    for _ in range(3):
        low, band = _pyramid_step(low)
        bands.append(band)
    bands.append(low)
    out = []
    for i, band in enumerate(bands):
        mu = _gauss_valid(band)
        var = np.maximum(_gauss_valid(band * band) - mu * mu, 0.0)
        mu3 = _box_stats(band)
        var3 = np.maximum(_box_stats(band, band) - mu3 * mu3, 0.0)
        prior = _information_prior(band, bands[i + 1] if i < 3 else None) if i < 4 else (None, None)
        out.append((band, mu, var, mu3, var3, *prior))
    return out


def _weights(ref: tuple, x: np.ndarray) -> np.ndarray:
    """The information-content map of one band (cropped to the 'valid' SSIM map's size)."""
    y, _, _, mu_y, var_y, s, eigenvalues = ref
    mu_x = _box_stats(x)
    var_x = np.maximum(_box_stats(x, x) - mu_x * mu_x, 0.0)
    cov = _box_stats(x, y) - mu_x * mu_y
    g = cov / (var_y + EPS)
    vv = var_x - g * cov
    g = np.where(var_y < EPS, 0.0, g)
    vv = np.where(var_y < EPS, var_x, vv)
    g = np.where(var_x < EPS, 0.0, g)
    vv = np.where(var_x < EPS, 0.0, vv)
    base = (vv + (1 + g * g) * SIGMA_NSQ) * s
    iw = sum(np.log2(1 + (base * lam + SIGMA_NSQ * vv) / SIGMA_NSQ**2) for lam in eigenvalues)
    iw = np.where(iw < EPS, 0.0, iw)
    return iw[4:-4, 4:-4]


def iw_ssim(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """IW-SSIM of the decoded image's luma against the original's (≤ 1, 1 = identical); None below
    :data:`MIN_SIDE` a side."""
    if min(original.shape[:2]) < MIN_SIDE:
        return None
    reference = reference_side(original, "iw_ssim", lambda image: _bands(luma(image)))
    x = luma(decoded)
    low, band = _pyramid_step(x)
    bands = [band]
    for _ in range(3):
        low, band = _pyramid_step(low)
        bands.append(band)
    bands.append(low)
    means = []
    for i, (ref, band) in enumerate(zip(reference, bands)):
        y, mu_y, var_y = ref[:3]
        mu_x = _gauss_valid(band)
        var_x = np.maximum(_gauss_valid(band * band) - mu_x * mu_x, 0.0)
        cs = (2 * (_gauss_valid(band * y) - mu_x * mu_y) + C2) / (var_x + var_y + C2)
        if i == 4:
            means.append(((2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1) * cs).mean())
        else:
            weights = _weights(ref, band)
            means.append((cs * weights).sum() / weights.sum())
    return float(np.prod(np.abs(means) ** WEIGHTS))
