"""Checks that every classical codec applies to what its library decodes."""

from __future__ import annotations

import numpy as np

from codecbench.core.errors import DecodeError
from codecbench.core.images import MAX_PIXELS


def check_decoded_size(codec: str, width: int, height: int) -> None:
    """Refuse a bitstream whose header declares more than ``MAX_PIXELS`` pixels.

    Called on the header, before the pixels are decoded, so a tiny stream
    that claims a huge image (a decompression bomb) costs no memory.
    """
    if width * height > MAX_PIXELS:
        raise DecodeError(f"{codec}: bitstream declares {width}×{height}, over the {MAX_PIXELS} pixel limit")


def check_complete(codec: str, data: bytes, end_marker: bytes) -> None:
    """Refuse a stream that does not end with its format's end marker: it was cut off.

    Some libraries decode a cut-off stream with only a warning (OpenJPEG), stop
    reading before the end (Pillow's PNG reader), or spin for many seconds on
    it (CharLS 2.4); checking the end first makes all of them fail fast.
    """
    if not data.endswith(end_marker):
        raise DecodeError(f"{codec}: truncated or foreign stream (no end marker {end_marker.hex()})")


def as_image(codec: str, array: np.ndarray) -> np.ndarray:
    """A library's decoded uint8 H×W (gray) or H×W×3 array as H×W×C; DecodeError otherwise."""
    if array.dtype == np.uint8 and array.ndim == 2:
        return array[..., None]
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        return array
    raise DecodeError(f"{codec}: bitstream holds a {array.dtype} image of shape {array.shape}, not 8-bit gray or RGB")
