"""SSIMULACRA 2.1 against libjxl's C++ tool on the shared reference pair, an independent float64 port, and its
properties; the reference-side cache it uses."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from codecbench.core import metrics, refcache
from codecbench.core import ssimulacra2 as s2
from tests.conftest import REPO, smooth_image

REFERENCE = REPO.parent / "shared" / "references" / "ssimulacra2"
#: libjxl's C++ tool on tank_source.png / tank_distorted.png, and the tolerance rust-av's test allows
CPP_SCORE, CPP_TOLERANCE = 17.398505, 0.25


def _srgb_to_linear(codes: np.ndarray) -> np.ndarray:
    return np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4)


@pytest.fixture(scope="module")
def tank() -> tuple[np.ndarray, np.ndarray]:
    """(source as 8-bit, distorted as 16-bit) of the reference pair."""
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is not there")
    import imagecodecs

    source = np.asarray(Image.open(REFERENCE / "tank_source.png").convert("RGB"))
    distorted = imagecodecs.jpegxl_decode((REFERENCE / "tank_distorted.jxl").read_bytes())
    assert distorted.dtype == np.uint16 and distorted.shape == source.shape
    return source, distorted


def test_reference_pair_scores_as_libjxl_at_16_bits(tank):
    source, distorted = tank
    score = s2.score_linear(_srgb_to_linear(source / 255.0).astype(np.float32),
                            _srgb_to_linear(distorted / 65535.0).astype(np.float32))
    assert score == pytest.approx(CPP_SCORE, abs=CPP_TOLERANCE)  # measured: 17.504


def test_reference_pair_scores_as_libjxl_from_8_bit_images(tank):
    source, distorted = tank
    rounded = np.round(distorted / 257.0).astype(np.uint8)
    assert metrics.ssimulacra2(source, rounded) == pytest.approx(CPP_SCORE, abs=CPP_TOLERANCE)  # measured: 17.233


def test_the_blur_is_libjxls_recursive_gaussian():
    """The 9 taps: libjxl's recursion's impulse response, symmetric, sum 1, variance σ² = 2.25."""
    taps = s2.recursive_gaussian_taps(1.5).astype(np.float64)
    offsets = np.arange(len(taps)) - len(taps) // 2
    assert len(taps) == 9
    np.testing.assert_allclose(taps, taps[::-1], atol=1e-7)
    assert taps.sum() == pytest.approx(1.0, abs=1e-6)
    assert (taps * offsets**2).sum() == pytest.approx(2.25, abs=1e-5)


def _float64_port(original: np.ndarray, decoded: np.ndarray) -> float:
    """SSIMULACRA 2.1 written plainly from libjxl's tools/ssimulacra2.cc, in float64 with scipy (no OpenCV)."""
    from scipy import ndimage

    taps = s2.recursive_gaussian_taps().astype(np.float64)
    opsin, bias = s2._OPSIN, s2._BIAS

    def blur(a):
        return ndimage.correlate1d(ndimage.correlate1d(a, taps, 0, mode="constant"), taps, 1, mode="constant")

    def xyb(lin):
        m = np.cbrt(np.maximum(lin @ opsin.T + bias, 0)) - np.cbrt(bias)
        x, y = 0.5 * (m[..., 0] - m[..., 1]), 0.5 * (m[..., 0] + m[..., 1])
        return np.stack([x * 14 + 0.42, y + 0.01, m[..., 2] - y + 0.55], -1)

    def down(a):
        a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="edge")
        return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])

    l1, l2 = _srgb_to_linear(original / 255.0), _srgb_to_linear(decoded / 255.0)
    total, norms = 0.0, []
    for scale in range(6):
        if scale:
            if min(l1.shape[:2]) < 8:
                break
            l1, l2 = down(l1), down(l2)
        i1, i2 = xyb(l1), xyb(l2)
        m1, m2 = blur(i1), blur(i2)
        num = (1 - (m1 - m2) ** 2) * (2 * (blur(i1 * i2) - m1 * m2) + 0.0009)
        d = np.maximum(1 - num / ((blur(i1 * i1) - m1 * m1) + (blur(i2 * i2) - m2 * m2) + 0.0009), 0)
        r = (1 + np.abs(i2 - m2)) / (1 + np.abs(i1 - m1)) - 1
        maps = [d, np.maximum(r, 0), np.maximum(-r, 0)]
        norms.append([[[m[..., c].mean(), (m[..., c] ** 4).mean() ** 0.25] for m in maps] for c in range(3)])
    weights = iter(s2.WEIGHTS)
    for c in range(3):
        for scale in norms:
            for n in range(2):
                total += sum(next(weights) * scale[c][k][n] for k in range(3))
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.mark.parametrize("shape", [(96, 128), (77, 53), (9, 16)])  # even, odd (edge replication), tiny
@pytest.mark.parametrize("quality", [10, 60, 95])
def test_float32_opencv_path_matches_a_float64_port(shape, quality):
    original = smooth_image(*shape, seed=quality)
    decoded = _jpeg(original, quality)
    assert metrics.ssimulacra2(original, decoded) == pytest.approx(_float64_port(original, decoded), abs=0.01)


def test_identical_images_score_exactly_100_and_tiny_images_none():
    a = smooth_image(64, 64)
    assert metrics.ssimulacra2(a, a) == 100.0
    assert metrics.ssimulacra2(a[:7], a[:7]) is None


def test_gray_images_score_as_their_rgb_replica():
    a = smooth_image(64, 80)[..., :1]
    b = _jpeg(np.repeat(a, 3, axis=2), 30)[..., :1]
    assert metrics.ssimulacra2(a, b) == metrics.ssimulacra2(np.repeat(a, 3, 2), np.repeat(b, 3, 2))


def test_scores_fall_with_quality():
    a = smooth_image(128, 128)
    scores = [metrics.ssimulacra2(a, _jpeg(a, q)) for q in (10, 40, 90)]
    assert scores[0] < scores[1] < scores[2] < 100


# -- the reference-side cache ----------------------------------------------------------------
def test_cached_reference_gives_the_same_score_as_a_fresh_one():
    a, b = smooth_image(96, 96), smooth_image(96, 96, seed=5)
    refcache.clear()
    cold = metrics.ssimulacra2(a, b)
    assert metrics.ssimulacra2(a, b) == cold


def test_a_buffer_reused_for_another_image_is_not_taken_for_the_first():
    """The cache goes by content: a loader decoding the next image into the same array must not get the old
    image's reference side (one changed sample is enough)."""
    buffer, decoded = smooth_image(96, 96), smooth_image(96, 96, seed=9)
    first = metrics.ssimulacra2(buffer, decoded)
    buffer[50, 50, 1] ^= 0x80
    changed = metrics.ssimulacra2(buffer, decoded)
    refcache.clear()
    assert changed == metrics.ssimulacra2(buffer, decoded) != first


def test_cache_keeps_a_bounded_number_of_images():
    refcache.clear()
    calls = []
    for seed in range(refcache.MAX_IMAGES + 2):
        refcache.reference_side(smooth_image(16, 16, seed=seed), "k", lambda image: calls.append(1))
    refcache.reference_side(smooth_image(16, 16, seed=0), "k", lambda image: calls.append(1))
    assert len(calls) == refcache.MAX_IMAGES + 3  # the first image was evicted, so built again


@pytest.mark.skipif(shutil.which("ssimulacra2") is None, reason="libjxl's ssimulacra2 tool is not installed")
def test_agrees_with_libjxls_tool_when_installed(tmp_path):
    original = smooth_image(128, 160)
    decoded = _jpeg(original, 30)
    Image.fromarray(original).save(tmp_path / "a.png")
    Image.fromarray(decoded).save(tmp_path / "b.png")
    out = subprocess.run(["ssimulacra2", str(tmp_path / "a.png"), str(tmp_path / "b.png")],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert metrics.ssimulacra2(original, decoded) == pytest.approx(float(out.split()[-1]), abs=CPP_TOLERANCE)
