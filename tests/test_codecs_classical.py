"""The classical codecs: round trips, rate knobs, specs, bad bitstreams, OpenJPEG discovery."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codecbench
from codecbench.core.codec import Codec, available_codecs, create_codec, expand_spec, get_codec_class
from codecbench.core.errors import DecodeError, EncodeError, ImageError, SpecError
from codecbench.core.metrics import bpp, psnr

LOSSY = ("jpeg", "webp", "avif", "jpeg2000", "jpegxl", "hevc")
LOSSLESS = ("png", "webp-lossless", "jpeg2000-lossless", "jpegls", "ljpeg", "jpegxl-lossless")
ALL = LOSSY + LOSSLESS


def natural(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like test image: smooth gradients, an edge, texture and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        base = 128 + 60 * np.sin(x / (7 + 3 * c)) * np.cos(y / (11 - 2 * c)) + 40 * (x > width / 2 + c)
        planes.append(base + rng.normal(0, 2, (height, width)))
    return np.clip(np.rint(np.stack(planes, axis=2)), 0, 255).astype(np.uint8)


def noise(height: int, width: int, channels: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def codec(name: str) -> Codec:
    return create_codec(name, threads=1)


# -- registry and declarations -----------------------------------------
def test_every_classical_codec_is_registered_with_its_kind() -> None:
    codecs = available_codecs()
    for name in ALL:
        assert name in codecs
        assert codecs[name].lossless is (name in LOSSLESS)
        assert codecs[name].description


@pytest.mark.parametrize("name", LOSSY)
def test_lossy_sweep_has_eight_valid_increasing_settings(name: str) -> None:
    cls = get_codec_class(name)
    assert len(cls.sweep) >= 8
    assert list(cls.sweep) == sorted(set(cls.sweep))
    assert len(expand_spec(name)) == len(cls.sweep)  # every sweep value passes validation


@pytest.mark.parametrize("name", ALL)
def test_library_versions_name_real_versions(name: str) -> None:
    versions = codec(name).library_versions()
    assert versions and all(v and v != "0.0.0" for v in versions.values())
    assert {"pillow", "glymur", "imagecodecs"} & set(versions)


# -- round trips ---------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(9, 17, 3), (17, 9, 1), (1, 1, 3), (33, 70, 1)], ids=str)
def test_round_trip_keeps_shape_and_dtype(name: str, shape: tuple[int, int, int]) -> None:
    c = codec(name)
    image = natural(*shape)
    if shape[2] not in c.channels:
        with pytest.raises(ImageError, match="3 channels"):
            c.encode(image)
        return
    data = c.encode(image)
    assert isinstance(data, bytes) and data
    decoded = c.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    if c.lossless:
        np.testing.assert_array_equal(decoded, image)
    else:
        quality = psnr(image, decoded)
        assert quality is None or quality > 20  # None: identical


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize("channels", [1, 3])
def test_lossless_is_exact_on_noise(name: str, channels: int) -> None:
    c = codec(name)
    if channels not in c.channels:
        pytest.skip(f"{name} takes {c.channels} channels")
    image = noise(31, 45, channels)
    np.testing.assert_array_equal(c.decode(c.encode(image)), image)


def test_webp_rejects_gray_because_the_format_has_no_gray_mode() -> None:
    for name in ("webp", "webp-lossless"):
        with pytest.raises(ImageError):
            codec(name).encode(natural(8, 8, 1))


# -- rate knobs ----------------------------------------------------------
@pytest.mark.parametrize("name", LOSSY)
@pytest.mark.parametrize("channels", [3, 1])
def test_quality_rises_with_the_rate_knob(name: str, channels: int) -> None:
    cls = get_codec_class(name)
    if channels not in cls.channels:
        pytest.skip(f"{name} takes {cls.channels} channels")
    image = natural(96, 112, channels)
    knobs = (cls.sweep[len(cls.sweep) // 4], cls.sweep[len(cls.sweep) // 2], cls.sweep[-1])
    rates, quality = [], []
    for knob in knobs:
        c = create_codec(f"{name}:{cls.param}={knob}", threads=1)
        data = c.encode(image)
        rates.append(bpp(len(data), 96, 112))
        quality.append(psnr(image, c.decode(data)))
    assert rates == sorted(rates) and len(set(rates)) == 3, rates
    assert quality == sorted(quality) and quality[-1] - quality[0] > 1, quality


def test_jpeg2000_meets_its_target_rate() -> None:
    image = natural(128, 128, 3)
    for target in (0.5, 2.0):
        data = create_codec(f"jpeg2000:bpp={target}").encode(image)
        assert 0.9 * target <= bpp(len(data), 128, 128) <= 1.02 * target


def test_jpeg_default_subsampling_is_pillows_default_420() -> None:
    image = natural(64, 64, 3)
    plain = io.BytesIO()
    Image.fromarray(image).save(plain, format="JPEG", quality=75)
    assert codec("jpeg").encode(image) == plain.getvalue()
    assert codec("jpeg:subsampling=4:2:0").encode(image) == plain.getvalue()
    full = codec("jpeg:subsampling=4:4:4").encode(image)
    half = codec("jpeg:subsampling=4:2:2").encode(image)
    assert len(full) > len(half) > len(plain.getvalue())


def test_avif_codes_gray_as_monochrome() -> None:
    gray = codec("avif").encode(natural(32, 32, 1))
    box = gray.index(b"av1C")
    assert gray[box + 6] & 0x10  # av1C mono_chrome flag


# -- lossless JPEG ---------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_ljpeg_writes_t81_lossless_streams_that_liblj92_reads(channels: int) -> None:
    """Every predictor gives an SOF3 (lossless, Huffman) stream; an independent decoder (liblj92) reads it exactly."""
    import imagecodecs

    image = natural(37, 53, channels)
    sizes = set()
    for predictor in range(1, 8):
        data = codec(f"ljpeg:predictor={predictor}").encode(image)
        assert b"\xff\xc3" in data
        assert b"\xff\xc0" not in data
        assert b"\xff\xc4" in data  # SOF3, no SOF0, DHT
        sos = data.index(b"\xff\xda")
        assert data[sos + 5 + 2 * channels] == predictor  # Ss: the predictor selection value
        other = imagecodecs.ljpeg_decode(data)
        np.testing.assert_array_equal(other.reshape(image.shape), image)
        sizes.add(len(data))
    assert len(sizes) > 1  # the knob changes the coding


def test_ljpeg_refuses_a_lossy_jpeg() -> None:
    lossy = codec("jpeg").encode(natural(16, 16, 3))
    with pytest.raises(DecodeError, match="ljpeg: not a lossless JPEG"):
        codec("ljpeg").decode(lossy)


# -- size limits -------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_images_over_the_formats_side_limit_are_refused_before_the_library(name: str) -> None:
    c = codec(name)
    assert c.max_size is not None, f"{name} declares no largest side"
    channels = 3 if 3 in c.channels else 1

    def library(image: np.ndarray) -> bytes:
        raise AssertionError(f"{name}: the library was called with a {image.shape} image")

    c._encode = library  # type: ignore[method-assign]
    pixel = np.zeros((1, 1, channels), np.uint8)
    for shape in ((1, c.max_size + 1), (c.max_size + 1, 1)):
        image = np.broadcast_to(pixel, (*shape, channels))  # no memory: a 1×(2^32) view is free
        with pytest.raises(EncodeError, match=rf"^{name} codes images of at most {c.max_size} pixels a side, "
                                              rf"got {shape[1]}×{shape[0]}$"):
            c.encode(image)


# hevc: x265 refuses rows under 32 px tall wider than 4216 px; its side limit is tested in tests/test_hevc.py
@pytest.mark.parametrize("name", [n for n in ALL if get_codec_class(n).max_size <= 65536 and n != "hevc"])
def test_the_side_limit_is_the_librarys_own(name: str) -> None:
    """A row of max_size pixels codes and decodes; one more pixel does not, in the library itself."""
    c = codec(name)
    channels = 3 if 3 in c.channels else 1
    row = (np.arange(c.max_size + 1) % 251).astype(np.uint8)
    row = np.ascontiguousarray(np.repeat(row[None, :, None], channels, axis=2))
    np.testing.assert_array_equal(c.decode(c.encode(row[:, :-1])).shape, (1, c.max_size, channels))
    # the library's own error on encoding (Pillow: OSError, ValueError; imagecodecs: a RuntimeError
    # subclass), or for AVIF on decoding (Pillow's UnidentifiedImageError, an OSError)
    with pytest.raises((OSError, ValueError, RuntimeError)):
        c._decode(c._encode(row))


# -- specs -----------------------------------------------------------------
def test_specs_configure_codecs() -> None:
    c = create_codec("jpeg:quality=75,subsampling=4:4:4,optimize=true")
    assert c.config == {"quality": 75, "subsampling": "4:4:4", "optimize": True}
    assert create_codec("webp:quality=80,method=6").config == {"quality": 80, "method": 6}
    assert create_codec("avif:quality=50,speed=8").setting == 50
    assert create_codec("jpeg2000:bpp=0.25").setting == 0.25
    assert create_codec("jpegxl:quality=90,effort=3").config == {"quality": 90, "effort": 3}
    assert create_codec("png:compress_level=9").setting == 9
    assert create_codec("jpegxl-lossless:effort=1").setting == 1
    assert create_codec("jpegls").config == {}
    assert create_codec("ljpeg:predictor=7").setting == 7
    assert create_codec("jpeg2000-lossless").config == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jpeg:subsampling=4:1:1", "allowed values are 4:4:4, 4:2:2, 4:2:0"),
        ("jpeg:quality=0", r"must be in \[1, 100\]"),
        ("jpeg:quality=high", "expected int"),
        ("webp:method=7", r"must be in \[0, 6\]"),
        ("webp-lossless:lossless=false", "settings: quality=0..100"),
        ("avif:speed=11", r"must be in \[0, 10\]"),
        ("avif:subsampling=4:0:0", "allowed values are 4:4:4, 4:2:2, 4:2:0"),
        ("png:quality=5", "settings: compress_level=0..9"),
        ("jpeg2000:bpp=0", r"must be in \[0.01, 24.0\]"),
        ("jpeg2000-lossless:bpp=1", "settings: none"),
        ("jpegls:near=2", "settings: none"),
        ("ljpeg:predictor=8", r"must be in \[1, 7\]"),
        ("jpegxl:quality=100", r"must be in \[0, 99\]"),
        ("jpegxl-lossless:effort=11", r"must be in \[1, 10\]"),
    ],
)
def test_bad_settings_name_what_is_allowed(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        create_codec(spec)


# -- bad bitstreams ----------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_truncated_foreign_and_garbage_bitstreams_raise_decode_error(name: str) -> None:
    c = codec(name)
    image = natural(40, 56, 3)
    data = c.encode(image)
    foreign_format = "JPEG" if name == "png" else "PNG"
    foreign = io.BytesIO()
    Image.fromarray(image).save(foreign, format=foreign_format)
    for bad in (data[: len(data) // 2], data[:-1], data[:12], foreign.getvalue(), noise(1, 300, 1).tobytes()):
        with pytest.raises(DecodeError, match=name):
            c.decode(bad)


@pytest.mark.parametrize(
    "name", ("jpeg", "webp", "avif", "png", "jpeg2000", "webp-lossless", "jpeg2000-lossless", "ljpeg")
)
def test_decoding_refuses_more_pixels_than_the_limit(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    c = codec(name)
    data = c.encode(natural(12, 20, 3))
    monkeypatch.setattr("codecbench.codecs._common.MAX_PIXELS", 200)
    with pytest.raises(DecodeError, match="pixel limit"):
        c.decode(data)


def test_png_header_claiming_a_huge_image_is_refused_before_decoding() -> None:
    png = codec("png")
    data = png.forge_oversized(png.encode(natural(4, 4, 3)), 12_000, 10_000)  # 120 Mpx, IHDR's CRC recomputed
    assert data[16:24] == (12_000).to_bytes(4, "big") + (10_000).to_bytes(4, "big")  # IHDR: width, height
    with pytest.raises(DecodeError, match="pixel limit"):
        png.decode(data)


# -- OpenJPEG for glymur ---------------------------------------------------------
def test_glymur_calls_a_real_openjpeg_with_matching_structures() -> None:
    import glymur
    import glymur.lib.openjp2 as opj2

    import codecbench.codecs.classical.jpeg2000  # noqa: F401  (binds OpenJPEG where glymur found none)

    assert opj2.OPENJP2 is not None
    assert glymur.version.openjpeg_version != "0.0.0"
    assert glymur.version.openjpeg_version_tuple >= (2, 4)
    # structures declared for OpenJPEG ≥ 2.1 (glymur declares them at import, by version)
    assert "alpha" in dict(opj2.ImageCompType._fields_)
    assert "rsiz" in dict(opj2.CompressionParametersType._fields_)


def test_fresh_process_without_a_findable_openjpeg_uses_pillows_copy(tmp_path: Path) -> None:
    """As on a fresh machine: ctypes finds no libopenjp2 and there is no glymurrc."""
    script = (
        "import ctypes.util\n"
        "ctypes.util.find_library = lambda name: None\n"
        "import numpy as np, glymur\n"
        "assert glymur.version.openjpeg_version == '0.0.0'\n"
        "from codecbench.codecs.classical.jpeg2000 import Jpeg2000LosslessCodec\n"
        "c = Jpeg2000LosslessCodec(threads=1)\n"
        "image = np.random.default_rng(0).integers(0, 256, (37, 23, 3), dtype=np.uint8)\n"
        "assert (c.decode(c.encode(image)) == image).all()\n"
        "print(glymur.version.openjpeg_version)\n"
    )
    repo = Path(codecbench.__file__).parents[1]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(".")[0] == "2"
