"""PSNR-HVS-M (Ponomarenko et al., VPQM-07): PSNR of 8×8 DCT differences weighted by a contrast sensitivity table,
each coefficient's error reduced by the block's contrast masking; on BT.601 luma, non-overlapping blocks."""

from __future__ import annotations

import math

import numpy as np

from codecbench.core.iqa.colour import luma
from codecbench.core.refcache import reference_side

#: contrast sensitivity of each DCT basis function (Egiazarian et al., VPQM-06), rows = vertical frequency
CSF = np.array([
    [1.608443, 2.339554, 2.573509, 1.608443, 1.072295, 0.643377, 0.504610, 0.421887],
    [2.144591, 2.144591, 1.838221, 1.354478, 0.989811, 0.443708, 0.428918, 0.467911],
    [1.838221, 1.979622, 1.608443, 1.072295, 0.643377, 0.451493, 0.372972, 0.459555],
    [1.838221, 1.513829, 1.169777, 0.887417, 0.504610, 0.295806, 0.321689, 0.415082],
    [1.429727, 1.169777, 0.695543, 0.459555, 0.378457, 0.236102, 0.249855, 0.334222],
    [1.072295, 0.735288, 0.467911, 0.402111, 0.317717, 0.247453, 0.227744, 0.279729],
    [0.525206, 0.402111, 0.329937, 0.295806, 0.249855, 0.212687, 0.214459, 0.254803],
    [0.357432, 0.279729, 0.270896, 0.262603, 0.229778, 0.257351, 0.249855, 0.259950]])
#: masking weight of each DCT basis function (Ponomarenko et al., VPQM-07)
MASK = np.array([
    [0.390625, 0.826446, 1.000000, 0.390625, 0.173611, 0.062500, 0.038447, 0.026874],
    [0.694444, 0.694444, 0.510204, 0.277008, 0.147929, 0.029727, 0.027778, 0.033058],
    [0.510204, 0.591716, 0.390625, 0.173611, 0.062500, 0.030779, 0.021004, 0.031888],
    [0.510204, 0.346021, 0.206612, 0.118906, 0.038447, 0.013212, 0.015625, 0.026015],
    [0.308642, 0.206612, 0.073046, 0.031888, 0.021626, 0.008417, 0.009426, 0.016866],
    [0.173611, 0.081633, 0.033058, 0.024414, 0.015242, 0.009246, 0.007831, 0.011815],
    [0.041649, 0.024414, 0.016437, 0.013212, 0.009426, 0.006830, 0.006944, 0.009803],
    [0.019290, 0.011815, 0.011080, 0.010412, 0.007972, 0.010000, 0.009426, 0.010203]])
_AC_MASK = MASK.copy()
_AC_MASK[0, 0] = 0.0
BLOCK = 8


def _dct_matrix() -> np.ndarray:
    k, n = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
    d = np.sqrt(2.0 / BLOCK) * np.cos(np.pi * (2 * n + 1) * k / (2 * BLOCK))
    d[0] /= math.sqrt(2.0)
    return d


_DCT = _dct_matrix()


def _blocks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(orthonormal 2-D DCT, masking strength) of every whole 8×8 block of a luma image: shapes (N, 8, 8), (N,)."""
    h, w = (y.shape[0] // BLOCK) * BLOCK, (y.shape[1] // BLOCK) * BLOCK
    blocks = y[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)
    dct = _DCT @ blocks @ _DCT.T
    energy = (dct * dct * _AC_MASK).sum(axis=(1, 2))

    def spread(a: np.ndarray) -> np.ndarray:  # the sample variance times the count (MATLAB var(·)·numel)
        flat = a.reshape(len(a), -1)
        return flat.var(axis=1, ddof=1) * flat.shape[1]

    total = spread(blocks)
    quarters = sum(spread(blocks[:, r:r + 4, c:c + 4]) for r in (0, 4) for c in (0, 4))
    ratio = np.divide(quarters, total, out=np.zeros_like(total), where=total != 0)
    return dct, np.sqrt(energy * ratio) / 32


def psnr_hvs_m(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """PSNR-HVS-M in dB of the luma of two images; None where the masked error is zero (visually identical) or
    the image has no whole 8×8 block."""
    if min(original.shape[:2]) < BLOCK:
        return None
    dct_r, mask_r = reference_side(original, "psnr_hvs_m", lambda image: _blocks(luma(image)))
    dct_d, mask_d = _blocks(luma(decoded))
    masking = np.maximum(mask_r, mask_d)[:, None, None] / MASK
    error = np.abs(dct_r - dct_d)
    masked = np.maximum(error - masking, 0.0)
    masked[:, 0, 0] = error[:, 0, 0]  # the DC coefficient is not masked
    mse = float(((masked * CSF) ** 2).mean())
    return None if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
