"""Metrics follow the documented conventions (checked against independent formulas)."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from codecbench import metrics


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
    assert metrics.ssim(a, b) == pytest.approx(reference, abs=0.01)
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def test_ms_ssim_defined_only_above_160_pixels(pair):
    a, b = pair
    value = metrics.ms_ssim(a, b)
    assert 0 < value < 1 and metrics.ms_ssim(a, a) == pytest.approx(1.0)
    assert metrics.ms_ssim(a[:160], b[:160]) is None
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)


def test_gray_images_are_scored_on_their_one_channel(pair):
    a, b = (x[..., :1] for x in pair)
    assert metrics.psnr_y(a, b) == pytest.approx(metrics.psnr(a, b))
    assert metrics.quality(a, a)["exact"] is True
