"""The ``hevc`` codec: HEVC intra in HEIF through pillow-heif (libheif, x265, libde265)."""

from __future__ import annotations

import io
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from codecbench.core.codec import create_codec, get_codec_class
from codecbench.core.errors import DecodeError
from codecbench.core.images import load_image
from codecbench.core.metrics import bpp, psnr
from tests.conftest import shared_data_root

pillow_heif = pytest.importorskip("pillow_heif")


def _kodak_crop(h: int = 96, w: int = 128) -> np.ndarray:
    root = shared_data_root()
    path = root / "kodak" / "kodim23.png" if root is not None else None
    if path is None or not path.exists():
        pytest.skip("Kodak is not in CODECBENCH_DATA")
    image = load_image(path)
    return np.ascontiguousarray(image[200 : 200 + h, 300 : 300 + w])


def _chroma_format(data: bytes) -> int:
    """chromaFormat of the hvcC box (ISO/IEC 14496-15): 0 = 4:0:0, 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4."""
    body = data.index(b"hvcC") + 4  # configurationVersion, profile (12 bytes), level, segmentation, parallelism
    return data[body + 16] & 0x03


def test_round_trip_and_chroma_formats() -> None:
    image = _kodak_crop()
    for spec, fmt in (("hevc:quality=60", 1), ("hevc:quality=60,subsampling=4:4:4", 3)):
        data = create_codec(spec, threads=1).encode(image)
        assert data[4:8] == b"ftyp"
        assert data[8:12] in (b"heic", b"heix")
        assert _chroma_format(data) == fmt
        decoded = create_codec(spec, threads=1).decode(data)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        assert psnr(image, decoded) > 30
    gray = create_codec("hevc", threads=1).encode(image[..., :1])
    assert _chroma_format(gray) == 0  # monochrome HEVC, not gray stored as colour
    assert create_codec("hevc").decode(gray).shape == (96, 128, 1)


def test_default_bytes_are_pillow_heifs_own_defaults() -> None:
    """preset slow / tune ssim are libheif's defaults, and x265's thread count does not change the bits."""
    image = _kodak_crop()
    from codecbench.codecs.classical.pillow import _heif_plugin

    _heif_plugin()
    plain = io.BytesIO()
    Image.fromarray(image).save(plain, format="HEIF", quality=40)
    assert create_codec("hevc:quality=40", threads=1).encode(image) == plain.getvalue()
    assert create_codec("hevc:quality=40", threads=2).encode(image) == plain.getvalue()
    assert create_codec("hevc:quality=40,tune=psnr", threads=1).encode(image) != plain.getvalue()


def test_bpp_falls_and_psnr_falls_with_quality() -> None:
    image = _kodak_crop()
    cls = get_codec_class("hevc")
    rates, qualities = [], []
    for q in cls.sweep:
        c = create_codec(f"hevc:quality={q}", threads=1)
        data = c.encode(image)
        rates.append(bpp(len(data), *image.shape[:2]))
        qualities.append(psnr(image, c.decode(data)))
    assert rates == sorted(rates) and len(set(rates)) == len(rates), rates
    assert qualities == sorted(qualities) and qualities[-1] - qualities[0] > 10, qualities


def test_444_beats_420_on_chroma_detail() -> None:
    """One-pixel red/blue stripes of equal luma: 4:2:0 halves the chroma resolution and loses them."""
    h, w = 64, 64
    image = np.zeros((h, w, 3), np.uint8)
    image[:, 0::2] = (200, 60, 60)
    image[:, 1::2] = (60, 60, 200)
    image[:, :, 1] += (np.arange(w) % 2).astype(np.uint8) * 14  # near-equal BT.601 luma in both columns
    results = {}
    for ss in ("4:2:0", "4:4:4"):
        c = create_codec(f"hevc:quality=70,subsampling={ss}", threads=1)
        results[ss] = psnr(image, c.decode(c.encode(image)))
    assert results["4:4:4"] > results["4:2:0"] + 5, results


@pytest.mark.parametrize("bad", [b"\x00" * 40, b"ftypheic" * 10, bytes(range(256)) * 3])
def test_garbage_is_a_decode_error(bad: bytes) -> None:
    with pytest.raises(DecodeError, match="^hevc: "):
        create_codec("hevc").decode(bad)


def test_truncated_and_cut_streams_are_decode_errors() -> None:
    data = create_codec("hevc", threads=1).encode(_kodak_crop())
    for bad in (data[:-1], data[: len(data) // 2], data[:40]):
        with pytest.raises(DecodeError, match="^hevc: "):
            create_codec("hevc").decode(bad)


def test_library_versions_name_libheif_x265_and_libde265() -> None:
    versions = create_codec("hevc").library_versions()
    assert set(versions) >= {"pillow", "pillow-heif", "libheif", "x265", "libde265"}
    assert versions["libheif"] == pillow_heif.libheif_version()
    assert all(v[0].isdigit() for k, v in versions.items()), versions


def test_sps_larger_than_ispe_is_refused_without_decoding() -> None:
    """A bomb the ispe check cannot see: the box says 16×16, the HEVC stream inside codes 1024×1024."""
    rng = np.random.default_rng(0)
    big = np.repeat(np.repeat(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), 64, 0), 64, 1)
    data = create_codec("hevc:quality=5", threads=1).encode(big)
    ispe = data.index(b"ispe") + 8
    bomb = data[:ispe] + struct.pack(">II", 16, 16) + data[ispe + 8 :]
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="hevc: corrupt bitstream.*(limit|size)"):
            create_codec("hevc", threads=1).decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # no 1024×1024×3 image was made on the Python side


def test_side_limit_is_libde265s() -> None:
    """32 rows of 65528 pixels code and decode; one pixel more codes but libde265 refuses the SPS."""
    c = create_codec("hevc:quality=0", threads=1)
    assert c.max_size == 65528
    strip = np.zeros((32, c.max_size + 1, 1), np.uint8)
    assert c.decode(c.encode(strip[:, :-1])).shape == (32, c.max_size, 1)
    with pytest.raises(DecodeError, match="SPS picture size"):
        c.decode(c._encode(strip))
