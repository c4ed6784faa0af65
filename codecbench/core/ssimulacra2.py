"""SSIMULACRA 2.1 (libjxl's ``tools/ssimulacra2.cc``) in float32 with OpenCV, the original's side computed once.

As the C++ tool: 8-bit sRGB to linear RGB, 6 scales (each a 2×2 box
downsampling of the previous one in linear RGB, edges replicated), at each
scale XYB rescaled to about 0–1, five blurred maps, per channel the 1- and
4-norms of 1 − SSIM' (SSIM without the luminance denominator) and of the
"ringing" and "blurring" edge maps, a weighted sum of the 108 norms and a
cubic and power mapping to ≤ 100 (100: identical).

The blur is libjxl's: a recursive Gaussian (Charalampidis 2016, σ = 1.5,
radius 5) with zero padding. In exact arithmetic that recursion is a 9-tap
FIR filter, its impulse response, applied here with ``cv2.sepFilter2D``.
Using a sampled Gaussian instead (as the ``ssimulacra2`` Python package
does with scipy) moves the reference pair's score from 17.5 to 21.0.
"""

from __future__ import annotations

import math

import numpy as np

from codecbench.core.refcache import reference_side
from codecbench.core.ssim import one_thread

#: below this side the C++ tool scores no scale; None here
MIN_SIDE = 8
SCALES = 6
SIGMA = 1.5
C2 = 0.0009

#: libjxl's opsin absorbance matrix and bias (lib/jxl/opsin_params.h)
_OPSIN = np.array([[0.30, 0.622, 0.078],
                   [0.23, 0.692, 0.078],
                   [0.24342268924547819, 0.20476744424496821, 0.55180986650955360]])
_BIAS = 0.0037930732552754493

#: the 108 weights of SSIMULACRA 2.1, in the C++ order: channel (X, Y, B), scale, norm (1, 4), map (SSIM', ringing,
#: blurring)
WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
    0.0, 0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666, 0.0,
    0.0007989109436015163, 0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0,
    0.0007289346991508072, 0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0,
    0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
    0.0, 0.0, 0.0, 34.77906344483772, 44.835625328877896, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0008680556573291698, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0,
    0.0020827005846636437, 0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0,
    95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493, 171.2667255897307,
    0.9807858872435379, 0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
])


def recursive_gaussian_taps(sigma: float = SIGMA) -> np.ndarray:
    """The FIR taps (float32, odd length, sum 1) of libjxl's ``CreateRecursiveGaussian(sigma)`` + ``FastGaussian1D``.

    The filter's constants as libjxl computes them (its eqs. 33–57), then
    its recursion run on a unit impulse: three second-order recursions fed
    with in[n−N−1] + in[n+N−1], whose responses vanish beyond the radius N.
    """
    radius = round(3.2795 * sigma + 0.2546)
    omega = np.array([1.0, 3.0, 5.0]) * math.pi / (2.0 * radius)
    p = np.array([1.0, -1.0, 1.0]) / np.tan(0.5 * omega)
    r = np.array([1.0, -1.0, 1.0]) * p * p / np.sin(omega)
    rho = np.exp(-0.5 * sigma * sigma * omega * omega) / radius
    d13, d35, d51 = p[0] * r[1] - r[0] * p[1], p[1] * r[2] - r[1] * p[2], p[2] * r[0] - r[2] * p[0]
    zeta15, zeta35 = d35 / d13, d51 / d13
    a = np.array([p, r, [zeta15, zeta35, 1.0]])
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]])
    beta = np.linalg.solve(a, gamma)
    n2, d1 = -beta * np.cos(omega * (radius + 1.0)), -2.0 * np.cos(omega)
    size = 4 * radius + 1
    impulse = np.zeros(size)
    impulse[size // 2] = 1.0
    prev, prev2, out = np.zeros(3), np.zeros(3), np.zeros(size)
    for n in range(-radius + 1, size):
        left, right = n - radius - 1, n + radius - 1
        total = (impulse[left] if left >= 0 else 0.0) + (impulse[right] if right < size else 0.0)
        prev, prev2 = n2 * total - d1 * prev - prev2, prev
        if n >= 0:
            out[n] = prev.sum()
    taps = out[size // 2 - radius + 1: size // 2 + radius]  # ±(radius − 1): the response is zero at ±radius
    return taps.astype(np.float32)


_TAPS = recursive_gaussian_taps()
#: 8-bit sRGB code value → linear RGB (the sRGB transfer function, IEC 61966-2-1)
_codes = np.arange(256) / 255.0
_TO_LINEAR = np.where(_codes <= 0.04045, _codes / 12.92, ((_codes + 0.055) / 1.055) ** 2.4).astype(np.float32)
#: linear RGB → opsin mix (the bias folded in as a 4th column)
_MIX = np.hstack([_OPSIN, np.full((3, 1), _BIAS)]).astype(np.float32)
#: cube roots of the mix → rescaled XYB: X·14 + 0.42, Y + 0.01, (B − Y) + 0.55 with X = (m0 − m1)/2, Y = (m0 + m1)/2
_cb = np.cbrt(_BIAS)
_XYB = np.array([[7.0, -7.0, 0.0, 0.42],
                 [0.5, 0.5, 0.0, 0.01 - _cb],
                 [-0.5, -0.5, 1.0, 0.55]], dtype=np.float32)


def _blur(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.sepFilter2D(image, cv2.CV_32F, _TAPS, _TAPS, borderType=cv2.BORDER_CONSTANT)


def _xyb(linear: np.ndarray) -> np.ndarray:
    """Rescaled XYB (float32 H×W×3) of linear RGB, as libjxl's ``ToXYB`` then ``MakePositiveXYB``."""
    import cv2

    mixed = cv2.transform(linear, _MIX)
    np.maximum(mixed, 0.0, out=mixed)
    np.cbrt(mixed, out=mixed)
    return cv2.transform(mixed, _XYB)


def _downsample(linear: np.ndarray) -> np.ndarray:
    """2×2 box means; an odd side's last row or column is repeated first (libjxl's ``Downsample``)."""
    import cv2

    h, w = linear.shape[:2]
    if h % 2 or w % 2:
        linear = cv2.copyMakeBorder(linear, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cv2.resize(linear, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def _linear(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.shape[2] == 1:  # gray: R = G = B, as libjxl reads a gray image
        image = np.repeat(image, 3, axis=2)
    return cv2.LUT(image, _TO_LINEAR)


class _Side:
    """The original's side at one scale: XYB, its blur μ1, variance σ1² and edge strength 1 + |XYB − μ1|."""

    def __init__(self, xyb: np.ndarray) -> None:
        self.xyb = xyb
        self.mu = _blur(xyb)
        self.var = _blur(xyb * xyb)
        self.var -= self.mu * self.mu
        self.edge = np.abs(xyb - self.mu)
        self.edge += 1.0


def _reference(linear: np.ndarray) -> list[_Side]:
    """The original's sides at every scale, from the original in linear RGB."""
    sides = []
    for scale in range(SCALES):
        if scale:
            if min(linear.shape[:2]) < MIN_SIDE:
                break
            linear = _downsample(linear)
        sides.append(_Side(_xyb(linear)))
    return sides


def _norms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (mean, 4-norm) of a non-negative float32 H×W×3 map (overwritten)."""
    import cv2

    count = values.shape[0] * values.shape[1]
    mean = np.array(cv2.sumElems(values)[:3]) / count
    np.square(values, out=values)
    np.square(values, out=values)
    return mean, (np.array(cv2.sumElems(values)[:3]) / count) ** 0.25


def _scale_norms(ref: _Side, xyb: np.ndarray) -> np.ndarray:
    """The 18 norms of one scale, shape (3 channels, 2 norms, 3 maps: SSIM', ringing, blurring)."""
    mu2 = _blur(xyb)
    s12 = _blur(ref.xyb * xyb)
    var2 = _blur(xyb * xyb)
    var2 -= mu2 * mu2
    # 1 − SSIM' = 1 − (1 − (μ1 − μ2)²)·(2·(σ12 − μ1μ2) + C2) / (σ1² + σ2² + C2), at least 0
    s12 -= ref.mu * mu2
    s12 *= 2.0
    s12 += C2
    num_m = np.subtract(ref.mu, mu2)
    np.square(num_m, out=num_m)
    np.subtract(1.0, num_m, out=num_m)
    s12 *= num_m
    var2 += ref.var
    var2 += C2
    np.divide(s12, var2, out=s12)
    d = np.subtract(1.0, s12, out=s12)
    np.maximum(d, 0.0, out=d)
    ssim = _norms(d)
    # edge ratio − 1 = (1 + |XYB2 − μ2|) / (1 + |XYB1 − μ1|) − 1: > 0 ringing, < 0 blurring
    ratio = np.subtract(xyb, mu2, out=mu2)
    np.abs(ratio, out=ratio)
    ratio += 1.0
    ratio /= ref.edge  # a division, not a kept reciprocal: identical images must give exactly 0
    ratio -= 1.0
    blurring = np.negative(ratio, out=var2)
    np.maximum(blurring, 0.0, out=blurring)
    np.maximum(ratio, 0.0, out=ratio)
    ringing = _norms(ratio)
    blurred = _norms(blurring)
    return np.stack([np.stack(ssim, 1), np.stack(ringing, 1), np.stack(blurred, 1)], 2)


def _score(norms: list[np.ndarray]) -> float:
    """The weighted sum of the norms (C++ order: channel, scale, norm, map) mapped as ``Msssim::Score``."""
    stacked = np.abs(np.stack(norms, 1))  # (channel, scale, norm, map)
    total = float(stacked.reshape(-1) @ WEIGHTS[: stacked.size])
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0


def _distorted_norms(sides: list[_Side], linear: np.ndarray) -> list[np.ndarray]:
    norms = []
    for scale, side in enumerate(sides):
        if scale:
            linear = _downsample(linear)
        norms.append(_scale_norms(side, _xyb(linear)))
    return norms


def ssimulacra2(original: np.ndarray, decoded: np.ndarray) -> float | None:
    """SSIMULACRA 2.1 score (≤ 100, 100 = identical) of two uint8 H×W×C sRGB images (C = 1 or 3).

    None if the shorter side is below :data:`MIN_SIDE`. The original's side
    is computed once per image (:mod:`codecbench.core.refcache`).
    """
    if min(original.shape[:2]) < MIN_SIDE:
        return None
    with one_thread():
        sides = reference_side(original, "ssimulacra2", lambda image: _reference(_linear(image)))
        return _score(_distorted_norms(sides, _linear(decoded)))


def score_linear(original: np.ndarray, distorted: np.ndarray) -> float:
    """SSIMULACRA 2.1 of two images given in linear RGB (float32 H×W×3, 0–1), for inputs deeper than 8 bits."""
    if min(original.shape[:2]) < MIN_SIDE:
        raise ValueError(f"SSIMULACRA 2 needs images of at least {MIN_SIDE}×{MIN_SIDE} pixels")
    return _score(_distorted_norms(_reference(original), distorted))
