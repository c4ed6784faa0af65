"""Reading image files into the uint8 arrays every codec takes.

RGB stays as is; grayscale becomes 3 equal channels (one with ``gray=True``, BT.601 luma as Pillow's
``convert("L")``); alpha is dropped; palette and CMYK go through Pillow; 16-bit is scaled to 8 bits
with rounding (16-bit colour PNGs decoded at full depth by imagecodecs' libpng first); EXIF
orientation is ignored; animations give their first frame; more than ``MAX_PIXELS`` pixels is
refused from the header. The full table with every bad input: docs/robustness.md.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from codecbench.core.errors import ImageError

#: Largest image (in pixels) that :func:`load_image` decodes: 2 × 48 Mpx.
MAX_PIXELS = 2 * 48_000_000

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


def load_image(source: str | os.PathLike | bytes, *, gray: bool = False) -> np.ndarray:
    """Read an image file (path or bytes) as uint8 H×W×3 (H×W×1 with ``gray``).

    Raises :class:`ImageError` with the file name and the reason for any file
    that is empty, not an image, truncated, or larger than ``MAX_PIXELS``.
    """
    label = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open_regular(source)
    except OSError as exc:
        raise ImageError(f"{label}: cannot open ({exc.strerror or exc})") from None
    with stream:
        try:
            with warnings.catch_warnings():
                # MAX_PIXELS (checked below) replaces Pillow's lower warning threshold; Pillow's own
                # DecompressionBombError (at twice its threshold) still stops larger headers in open().
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(stream) as img:
                    if img.width * img.height > MAX_PIXELS:
                        raise ImageError(f"{label}: {img.width}×{img.height} exceeds the {MAX_PIXELS} pixel limit")
                    img.seek(0)
                    if img.format == "PNG" and img.tile and str(img.tile[0][3]).endswith(";16B") and img.mode != "I;16":
                        stream.seek(0)
                        return _png16_to_array(stream.read(), gray=gray)
                    return to_array(img, gray=gray)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{label}: refused as a decompression bomb ({exc})") from None
        except UnidentifiedImageError:
            raise ImageError(f"{label}: not an image file (or an empty one)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"{label}: unreadable image ({exc})") from None


def open_regular(path: str | os.PathLike) -> io.BufferedReader:
    """Open ``path`` for reading without blocking; :class:`OSError` unless it is a regular file.

    The file is opened with ``O_NONBLOCK``, so a FIFO or device never makes the caller wait for a writer.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _png16_to_array(data: bytes, *, gray: bool) -> np.ndarray:
    """A 16-bit colour or gray+alpha PNG at full depth: alpha dropped, v × 255 / 65535 rounded."""
    import imagecodecs

    try:
        arr = imagecodecs.png_decode(data)
    except Exception as exc:  # imagecodecs.PngError and friends
        raise ValueError(f"16-bit PNG: {exc}") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    arr = arr[..., :1] if arr.shape[2] in (1, 2) else arr[..., :3]
    image = np.rint(arr.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if image.shape[2] == 1:
        return image if gray else np.repeat(image, 3, axis=2)
    return to_gray(image) if gray else image


def to_array(img: Image.Image, *, gray: bool = False) -> np.ndarray:
    """Convert a Pillow image to uint8 H×W×3 (H×W×1 with ``gray``) by the module's rules."""
    img.load()
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 1.0
        luma = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
        return luma[..., None] if gray else np.repeat(luma[..., None], 3, axis=2)
    if mode == "F":
        luma = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        return luma[..., None] if gray else np.repeat(luma[..., None], 3, axis=2)
    if mode in ("1", "L", "LA", "La"):
        luma = np.asarray(img.convert("L"), dtype=np.uint8)
        return luma[..., None] if gray else np.repeat(luma[..., None], 3, axis=2)
    rgb = img.convert("RGB")  # P, PA, RGBA, RGBa, CMYK, YCbCr, LAB, HSV: alpha dropped
    if gray:
        return np.asarray(rgb.convert("L"), dtype=np.uint8)[..., None]
    return np.asarray(rgb, dtype=np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Convert a uint8 H×W×3 array to H×W×1 BT.601 luma, as :func:`load_image` with ``gray``."""
    if image.shape[2] == 1:
        return image
    return np.asarray(Image.fromarray(image).convert("L"), dtype=np.uint8)[..., None]


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has one of the image suffixes that folder datasets read."""
    return path.suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class SourceFile:
    """The image file an image was read from: its size on disk and its format as Pillow names it."""

    bytes: int  # size of the file in bytes
    format: str  # "PNG", "JPEG", …


def source_file(path: str | os.PathLike | None) -> SourceFile | None:
    """Size and format of ``path`` if it is an image file (one image); None otherwise.

    Only the header is read, never the pixels. Never raises: a missing,
    unreadable or unrecognised file — such as a CIFAR-10 pickle, which holds
    many images — gives None (loading the image reports its own errors).
    """
    if path is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the image's load warns, if anything is wrong
            with open_regular(path) as f, Image.open(f) as img:
                fmt = img.format
                size = os.fstat(f.fileno()).st_size
    except Exception:  # any failure of Pillow's format probes just means "not an image file"
        return None
    return SourceFile(size, fmt) if fmt else None
