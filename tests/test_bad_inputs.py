"""Bad images: each gets a documented conversion or a clear, named error, in load_image and in a real run.

The inputs are generated here (nothing is committed): a zero-byte file, a file
that is not an image, truncated PNG and JPEG, 1×1, 1×N and N×1 images,
1-bit, grayscale, gray+alpha, RGBA, palette (with and without transparency),
16-bit gray and 16-bit colour PNGs, a CMYK JPEG, a JPEG with an EXIF
orientation, animated GIF/WebP/PNG, and decompression bombs (a header
declaring 60000×60000, and one just over ``MAX_PIXELS``). The conversion rules
are those of :mod:`codecbench.core.images` (docs/robustness.md has the table).
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageFile

from codecbench.core import images as images_module
from codecbench.core.codec import available_codecs, get_codec_class
from codecbench.codecs.learned.base import CheckpointError, TorchCodec
from codecbench.core.errors import EncodeError, ImageError
from codecbench.core.images import MAX_PIXELS, load_image
from codecbench.core.results import read_records

REPO = Path(__file__).resolve().parents[1]


# -- generators ------------------------------------------------------------------------
def _save(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 7 + y * 3 + 40 * c) % 256 for c in range(3)], axis=2)
    return np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width×height RGB (the pixel data is a few bytes of zeros)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


RGB = _rgb(24, 40)
GRAY = RGB[..., 1]
ALPHA = ((np.arange(24 * 40).reshape(24, 40) * 5) % 256).astype(np.uint8)  # includes alpha 0 pixels
PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 250, 10)]
INDICES = (np.arange(24 * 40).reshape(24, 40) // 7 % 4).astype(np.uint8)
WIDE16 = (np.arange(24 * 40 * 3, dtype=np.uint64) * 997 % 65536).astype(np.uint16).reshape(24, 40, 3)


def palette_image(transparency: bool) -> bytes:
    img = Image.fromarray(INDICES, "P")
    img.putpalette([v for rgb in PALETTE for v in rgb])
    return _save(img, "PNG", **({"transparency": 1} if transparency else {}))


def cmyk_jpeg() -> bytes:
    cmyk = np.zeros((24, 40, 4), np.uint8)
    cmyk[:, :20] = (255, 0, 0, 0)  # cyan
    cmyk[:, 20:] = (0, 0, 0, 0)  # white
    return _save(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)


def exif_rotated_jpeg() -> bytes:
    img = np.full((24, 40, 3), 255, np.uint8)
    img[:8, :8] = (255, 0, 0)  # a red corner at the top left, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return _save(Image.fromarray(img), "JPEG", quality=95, exif=exif.tobytes())


FRAMES = [np.full((16, 20, 3), c, np.uint8) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]


def animation(fmt: str) -> bytes:
    frames = [Image.fromarray(f) for f in FRAMES]
    options = {"lossless": True} if fmt == "WEBP" else {}
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bad_inputs() -> dict[str, bytes]:
    """File name -> bytes of every bad input."""
    return {
        "zero-bytes.png": b"",
        "not-an-image.jpg": b"GIF89a? no: this is a text file that pretends to be an image\n" * 3,
        "truncated.png": truncated(_save(Image.fromarray(_rgb(64, 64, 1)), "PNG")),
        "truncated.jpg": truncated(_save(Image.fromarray(_rgb(64, 64, 2)), "JPEG", quality=90)),
        "one-by-one.png": _save(Image.fromarray(RGB[:1, :1]), "PNG"),
        "one-row.png": _save(Image.fromarray(RGB[:1, :37]), "PNG"),
        "one-column.png": _save(Image.fromarray(RGB[:23, :1]), "PNG"),
        "bilevel.png": _save(Image.fromarray(GRAY > 128), "PNG"),
        "gray.png": _save(Image.fromarray(GRAY, "L"), "PNG"),
        "gray-alpha.png": _save(Image.fromarray(np.stack([GRAY, ALPHA], 2), "LA"), "PNG"),
        "rgba.png": _save(Image.fromarray(np.dstack([RGB, ALPHA]), "RGBA"), "PNG"),
        "palette.png": palette_image(False),
        "palette-transparent.png": palette_image(True),
        "gray16.png": _save(Image.fromarray(WIDE16[..., 0]), "PNG"),
        "rgb16.png": imagecodecs.png_encode(WIDE16),
        "cmyk.jpg": cmyk_jpeg(),
        "exif-orientation.jpg": exif_rotated_jpeg(),
        "animated.gif": animation("GIF"),
        "animated.webp": animation("WEBP"),
        "animated.png": animation("PNG"),
        "bomb.png": bomb_png(60000, 60000),
    }


#: inputs that must be refused, and what the ImageError must say
REFUSED = {
    "zero-bytes.png": "not an image file",
    "not-an-image.jpg": "not an image file",
    "truncated.png": "unreadable image",
    "truncated.jpg": "unreadable image",
    "bomb.png": "decompression bomb|pixel limit",
}


def expected(name: str) -> np.ndarray:
    """The documented conversion of each accepted input (uint8 H×W×3)."""
    gray3 = lambda g: np.repeat(g[..., None], 3, axis=2)  # noqa: E731
    if name == "one-by-one.png":
        return RGB[:1, :1]
    if name == "one-row.png":
        return RGB[:1, :37]
    if name == "one-column.png":
        return RGB[:23, :1]
    if name == "bilevel.png":
        return gray3(np.where(GRAY > 128, 255, 0).astype(np.uint8))
    if name in ("gray.png", "gray-alpha.png"):
        return gray3(GRAY)  # alpha dropped, never composited
    if name == "rgba.png":
        return RGB  # alpha dropped: pixels with alpha 0 keep their stored colour
    if name in ("palette.png", "palette-transparent.png"):
        return np.array(PALETTE, np.uint8)[INDICES]
    if name == "gray16.png":
        return gray3(np.rint(WIDE16[..., 0] / 257.0).astype(np.uint8))
    if name == "rgb16.png":
        return np.rint(WIDE16 / 257.0).astype(np.uint8)
    if name in ("animated.gif", "animated.webp", "animated.png"):
        return FRAMES[0]
    raise KeyError(name)


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-images")
    for name, data in bad_inputs().items():
        (folder / name).write_bytes(data)
    return folder


# -- load_image ------------------------------------------------------------------------
def test_truncated_images_are_never_padded_silently():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_inputs_raise_named_error(bad_folder, name):
    path = bad_folder / name
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=REFUSED[name]) as exc:
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(exc.value)  # the error names the file
    assert peak < 16 << 20, f"{name}: refusing it allocated {peak} bytes"
    with pytest.raises(ImageError):  # the same from bytes
        load_image(path.read_bytes())


@pytest.mark.parametrize("name", ["one-by-one.png", "one-row.png", "one-column.png", "bilevel.png", "gray.png",
                                  "gray-alpha.png", "rgba.png", "palette.png", "palette-transparent.png",
                                  "gray16.png", "rgb16.png", "animated.gif", "animated.webp", "animated.png"])
def test_documented_conversion(bad_folder, name):
    image = load_image(bad_folder / name)
    want = expected(name)
    assert image.dtype == np.uint8 and image.shape == want.shape
    assert np.array_equal(image, want)


def test_gray_view_of_converted_inputs(bad_folder):
    assert np.array_equal(load_image(bad_folder / "gray-alpha.png", gray=True)[..., 0], GRAY)
    assert load_image(bad_folder / "rgb16.png", gray=True).shape == (24, 40, 1)
    gray16 = load_image(bad_folder / "gray16.png", gray=True)
    assert np.array_equal(gray16[..., 0], np.rint(WIDE16[..., 0] / 257.0).astype(np.uint8))


def test_cmyk_jpeg_converted_to_rgb(bad_folder):
    image = load_image(bad_folder / "cmyk.jpg")
    assert image.shape == (24, 40, 3)
    cyan, white = image[:, 2:16].reshape(-1, 3).mean(0), image[:, 24:].reshape(-1, 3).mean(0)
    assert np.allclose(cyan, (0, 255, 255), atol=8) and np.allclose(white, (255, 255, 255), atol=8)


def test_exif_orientation_is_ignored_pixels_as_stored(bad_folder):
    path = bad_folder / "exif-orientation.jpg"
    with Image.open(path) as img:
        assert img.getexif()[0x0112] == 6  # the file really says "rotate"
    image = load_image(path)
    assert image.shape == (24, 40, 3)  # not rotated to 40×24
    assert np.allclose(image[:6, :6].reshape(-1, 3).mean(0), (255, 0, 0), atol=12)


def test_animations_use_the_first_frame(bad_folder):
    for name in ("animated.gif", "animated.webp", "animated.png"):
        with Image.open(bad_folder / name) as img:
            assert getattr(img, "n_frames", 1) == 3, name
        assert np.array_equal(load_image(bad_folder / name), FRAMES[0]), name


def test_pixel_limit_is_codecbenchs_own(monkeypatch):
    """MAX_PIXELS applies (not Pillow's lower warning threshold), checked from the header."""
    assert Image.MAX_IMAGE_PIXELS is None or MAX_PIXELS <= 2 * Image.MAX_IMAGE_PIXELS
    just_over = bomb_png(10_000, MAX_PIXELS // 10_000 + 1)
    with pytest.raises(ImageError, match=f"exceeds the {MAX_PIXELS} pixel limit"):
        load_image(just_over)
    monkeypatch.setattr(images_module, "MAX_PIXELS", 30 * 30)
    small = _save(Image.fromarray(_rgb(30, 30)), "PNG")
    assert load_image(small).shape == (30, 30, 3)
    with pytest.raises(ImageError, match="exceeds the 900 pixel limit"):
        load_image(_save(Image.fromarray(_rgb(30, 31)), "PNG"))


# -- a real run over all of them -------------------------------------------------------
def _cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_run_over_bad_images_records_every_failure_and_goes_on(bad_folder, tmp_path):
    out = tmp_path / "results.json"
    done = _cli("run", "jpeg:quality=75", "png", "-d", f"folder:{bad_folder}", "-o", str(out), "--no-cache",
                "--warmup", "0", "--report-dir", str(tmp_path / "report"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = read_records(out)
    names = sorted(bad_inputs())
    assert len(records) == 2 * len(names) and len({r.key for r in records}) == len(records)
    by_image: dict[str, list] = {}
    for r in records:
        by_image.setdefault(r.image, []).append(r)
    stems = {Path(n).stem for n in names} | set(names)
    assert set(by_image) <= stems
    failed = {image for image, rs in by_image.items() if any(not r.ok for r in rs)}
    refused_ids = {image for image in by_image if any(image in (n, Path(n).stem) for n in REFUSED)}
    assert failed == refused_ids, (failed, refused_ids)
    for image in refused_ids:
        reason = next(v for n, v in REFUSED.items() if image in (n, Path(n).stem))
        for r in by_image[image]:
            assert r.error.startswith("ImageError") and any(part in r.error for part in reason.split("|")), r.error
            assert r.bpp is None and r.psnr is None
    ok = [r for r in records if r.ok]
    assert all(r.bytes and r.bpp > 0 for r in ok)
    assert all(r.lossless_ok for r in ok if r.codec == "png")  # converted pixels round-trip exactly
    tiny = [r for r in ok if min(r.width, r.height) < 11]
    assert tiny and all(r.ssim is None and r.ms_ssim is None for r in tiny)  # SSIM undefined, not made up
    # the report states n ok / n total per codec and lists each failure with its reason
    reports = list((tmp_path / "report").glob("*.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    n_ok, n_total = len(names) - len(REFUSED), len(names)
    assert text.count(f"{n_ok}/{n_total}") >= 2, text
    for image in refused_ids:
        assert image in text
    assert f"{2 * len(REFUSED)} failed" in done.stderr


# -- images smaller than a learned codec's minimum ---------------------------------------
def _learned_codecs() -> list[str]:
    return [name for name, cls in available_codecs().items() if issubclass(cls, TorchCodec)]


def _learned(name: str) -> TorchCodec:
    try:
        return get_codec_class(name)(threads=1)
    except CheckpointError as exc:
        if "missing" not in str(exc):
            raise
        from codecbench.tools.fuzz.probe import _standin_codec

        return _standin_codec(name)[0]


@pytest.mark.parametrize("name", _learned_codecs() or [pytest.param("none", marks=pytest.mark.skip("no learned codec"))])
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 13, 3), (13, 1, 3), (2, 3, 3), (3, 2, 1), (5, 2, 3), (9, 2, 1), (7, 5, 3)])
def test_tiny_images_are_padded_or_refused_by_learned_codecs(name, shape):
    codec = _learned(name)
    if shape[2] not in codec.channels:
        pytest.skip(f"{name} takes {codec.channels} channels")
    image = _rgb(shape[0], shape[1], 5)[..., : shape[2]].copy()
    try:
        data = codec.encode(image)
    except EncodeError as exc:  # refused clearly, naming the minimum
        assert name in str(exc)
        return
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    if codec.lossless:
        assert np.array_equal(decoded, image)


def test_codec_minimum_size_is_enforced_before_the_network():
    """A codec declaring ``min_size`` refuses smaller images with EncodeError, never reaching _encode."""
    from codecbench.core.codec import Codec

    class Picky(Codec):
        min_size = 8

        def _encode(self, image):  # pragma: no cover - must not be reached
            raise AssertionError("reached the network")

        def _decode(self, data):  # pragma: no cover
            raise AssertionError

    Picky.name = "picky-test"  # not registered: set after class creation
    with pytest.raises(EncodeError, match="at least 8×8, got 5×3"):
        Picky().encode(np.zeros((3, 5, 3), np.uint8))

