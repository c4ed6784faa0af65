"""Reading image files into the uint8 arrays every codec takes.

Conversion rules (the README repeats them):

- RGB stays as is; **grayscale** (L, I;16, I, F, 1) becomes 3 equal channels,
  or one channel with ``gray=True``.
- **Alpha** (RGBA, LA, PA, transparency in a palette) is dropped: codecs are
  compared on colour only, and compositing would invent pixels.
- **Palette** (P) and **CMYK** images are converted to RGB by Pillow.
- **16-bit** images are scaled to 8 bits with rounding (v × 255 / 65535).
- **EXIF orientation** is ignored: pixels are taken as stored, as codec
  benchmarks (and CompressAI) do, so that rotation never changes the data.
- **Animated** GIF/WebP/PNG: the first frame is used.
- **Decompression bombs**: an image of more than ``MAX_PIXELS`` pixels is
  refused before its pixels are decoded.
- ``gray=True`` converts colour to luma with ITU-R BT.601 weights
  (0.299, 0.587, 0.114), rounded to 8 bits, as Pillow's ``convert("L")``.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from codecbench.errors import ImageError

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
        stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except OSError as exc:
        raise ImageError(f"{label}: cannot open ({exc.strerror or exc})") from None
    with stream:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(stream) as img:
                    if img.width * img.height > MAX_PIXELS:
                        raise ImageError(f"{label}: {img.width}×{img.height} exceeds the {MAX_PIXELS} pixel limit")
                    img.seek(0)
                    return to_array(img, gray=gray)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{label}: refused as a decompression bomb ({exc})") from None
        except UnidentifiedImageError:
            raise ImageError(f"{label}: not an image file (or an empty one)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"{label}: unreadable image ({exc})") from None


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
