"""Metrics follow the documented conventions (checked against independent formulas)."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from codecbench.core import metrics
from codecbench.core import ssim as ssim_module


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    noise = rng.normal(0, 6, a.shape)
    b = np.clip(a + noise, 0, 255).astype(np.uint8)
    return a, b


def test_bpp_counts_every_byte():
    assert metrics.bpp(1000, 100, 80) == pytest.approx(1.0)


def test_psnr_matches_definition(pair):
    a, b = pair
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse))
    assert metrics.psnr(a, a) is None


def test_psnr_y_uses_bt601_luma(pair):
    a, b = pair
    ya = a.astype(float) @ [0.299, 0.587, 0.114]
    yb = b.astype(float) @ [0.299, 0.587, 0.114]
    assert metrics.psnr_y(a, b) == pytest.approx(10 * math.log10(255**2 / np.mean((ya - yb) ** 2)))


def test_ssim_agrees_with_scikit_image_wang_settings(pair):
    a, b = pair
    reference = structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
    assert metrics.ssim(a, b) == pytest.approx(reference, abs=1e-4)
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def _reference_ms_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """MS-SSIM from Wang et al. 2003, written out with scipy: per channel, then averaged."""
    from scipy.ndimage import correlate1d

    t = np.arange(11) - 5
    g = np.exp(-(t**2) / (2 * 1.5**2))
    g /= g.sum()

    def blur(img):  # 'valid' Gaussian filtering
        return correlate1d(correlate1d(img, g, axis=0), g, axis=1)[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    values = []
    for c in range(x.shape[2]):
        a, b = x[..., c].astype(np.float64), y[..., c].astype(np.float64)
        value = 1.0
        for scale, w in enumerate(weights):
            mu_a, mu_b = blur(a), blur(b)
            var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
            cs = (2 * cov + c2) / (var_a + var_b + c2)
            if scale < 4:
                value *= np.mean(cs) ** w
                a = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4
                b = (b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]) / 4
            else:
                luminance = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
                value *= np.mean(luminance * cs) ** w
        values.append(value)
    return float(np.mean(values))


def test_ms_ssim_matches_a_reference_implementation():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:256, 0:320]
    a = np.clip(np.stack([120 + 90 * np.sin(x / (9 + c)) * np.cos(y / 13) for c in range(3)], 2)
                + rng.normal(0, 5, (256, 320, 3)), 0, 255).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim(a, b) == pytest.approx(_reference_ms_ssim(a, b), abs=1e-4)


def test_psnr_hand_computed_case():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # MSE = 100 / 12
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 * 12 / 100), abs=1e-4)


def test_ms_ssim_defined_only_above_160_pixels(pair):
    a, b = pair
    value = metrics.ms_ssim(a, b)
    assert 0 < value < 1 and metrics.ms_ssim(a, a) == pytest.approx(1.0)
    assert metrics.ms_ssim(a[:160], b[:160]) is None
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)


def test_gray_images_are_scored_on_their_one_channel(pair):
    a, b = (x[..., :1] for x in pair)
    assert metrics.psnr_y(a, b) == pytest.approx(metrics.psnr(a, b))
    assert metrics.quality(a, a)["lossless_ok"] is True


@pytest.mark.parametrize("shape", [(200, 240, 3), (170, 300, 1), (60, 80, 3)])
def test_one_pass_ssim_and_ms_ssim_equal_the_library_functions(shape, monkeypatch):
    """quality() filters once for both, with its own float32 filtering: within 1e-5 of pytorch_msssim's public
    functions (float32 rounding of a different summation order), whole or one channel at a time."""
    import torch
    from pytorch_msssim import ms_ssim as lib_ms_ssim, ssim as lib_ssim

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, shape), 0, 255).astype(np.uint8)
    t = lambda im: torch.from_numpy(im.transpose(2, 0, 1).copy()).float()[None]  # noqa: E731
    with torch.inference_mode():
        want_ssim = float(lib_ssim(t(a), t(b), data_range=255.0))
        want_ms = float(lib_ms_ssim(t(a), t(b), data_range=255.0)) if min(shape[:2]) > 160 else None
    got = metrics.quality(a, b)
    assert got["ssim"] == pytest.approx(want_ssim, abs=1e-5)
    assert (got["ms_ssim"] is None) if want_ms is None else got["ms_ssim"] == pytest.approx(want_ms, abs=1e-5)
    assert metrics.ssim(a, b) == got["ssim"] and metrics.ms_ssim(a, b) == got["ms_ssim"]
    monkeypatch.setattr(ssim_module, "PER_CHANNEL_SAMPLES", 1)  # the large-image path: one channel at a time
    per_channel = metrics.ssim_ms_ssim(a, b)
    assert per_channel[0] == pytest.approx(want_ssim, abs=1e-5)
    assert (per_channel[1] is None) if want_ms is None else per_channel[1] == pytest.approx(want_ms, abs=1e-5)


def test_banded_filtering_and_reused_scratch_arrays_change_nothing(monkeypatch):
    """SSIM/MS-SSIM filter in bands of rows with scratch arrays kept between images: one row per band, and
    scratch arrays left over from a larger and a smaller image, give the whole-image values."""
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (203, 171, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-25, 26, a.shape), 0, 255).astype(np.uint8)
    whole = metrics.ssim_ms_ssim(a, b)
    metrics.ssim_ms_ssim(*(rng.integers(0, 256, (400, 500, 3), dtype=np.uint8) for _ in range(2)))
    metrics.ssim_ms_ssim(*(rng.integers(0, 256, (20, 30, 1), dtype=np.uint8) for _ in range(2)))
    assert metrics.ssim_ms_ssim(a, b) == whole
    monkeypatch.setattr(ssim_module, "BAND_SAMPLES_SSIM", 1)
    one_row = metrics.ssim_ms_ssim(a, b)
    assert one_row == pytest.approx(whole, abs=1e-6) and one_row[1] is not None


def test_psnr_y_sums_are_exact_for_extreme_differences():
    a = np.zeros((64, 64, 3), np.uint8)
    b = np.full_like(a, 255)
    b[0, 0] = (0, 255, 0)  # one pixel differs in G only: ΔY = 0.587 · 255
    dy2 = (64 * 64 - 1) * 255.0**2 + (0.587 * 255) ** 2
    assert metrics.psnr_y(a, b) == pytest.approx(10 * math.log10(255**2 * 64 * 64 / dy2), rel=1e-12)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 * a.size / ((a.size - 2) * 255**2)), rel=1e-12)


def test_ssim_filters_each_original_once_and_never_serves_another_originals_side(pair, monkeypatch):
    from codecbench.core import refcache

    a, b = pair
    refcache.clear()
    fresh = []
    for decoded in (b, a, 255 - b):
        refcache.clear()
        fresh.append(ssim_module.ssim_ms_ssim(a, decoded))
    built = []
    real = ssim_module._reference
    monkeypatch.setattr(ssim_module, "_reference", lambda image, scales: built.append(scales) or real(image, scales))
    refcache.clear()
    assert [ssim_module.ssim_ms_ssim(a, decoded) for decoded in (b, a, 255 - b)] == fresh
    assert built == [5]  # one derivation of the original's five scales, three decoded images scored against it
    other = a.copy()
    other[100, 100, 0] ^= 1  # one sample of the original changed: not the same original
    assert ssim_module.ssim_ms_ssim(other, b) != fresh[0]
    assert built == [5, 5]
    assert ssim_module.ssim_ms_ssim(a[:150], b[:150]) == (ssim_module.ssim(a[:150], b[:150]), None)
    assert built[-1] == 1  # below MS-SSIM's size: SSIM's scale only


@pytest.mark.parametrize("shape", [(512, 768, 3), (171, 299, 3), (161, 161, 1)])
def test_average_pooling_is_the_exact_two_by_two_mean_at_every_scale(shape):
    """MS-SSIM's pooling (bilinear at factor 2, padded odd sides) gives the exact 2×2 block means, in float64,
    of 8-bit images shifted by −128 and of their pooled means, four scales down."""
    rng = np.random.default_rng(4)
    got = np.subtract(rng.integers(0, 256, shape, dtype=np.uint8), 128, dtype=np.float32)
    want = got.astype(np.float64)
    for _ in range(4):
        got = ssim_module._average_pool(got)
        ph, pw = want.shape[0] % 2, want.shape[1] % 2
        padded = np.pad(want, ((ph, ph), (pw, pw), (0, 0)), constant_values=-128.0)
        h, w = padded.shape[0] // 2, padded.shape[1] // 2
        want = padded[: 2 * h, : 2 * w].reshape(h, 2, w, 2, -1).mean(axis=(1, 3))
        assert got.dtype == np.float32 and np.array_equal(got, want)
