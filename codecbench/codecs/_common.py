"""Checks that every classical codec applies to what its library decodes."""

from __future__ import annotations

import numpy as np

from codecbench.core.errors import DecodeError
from codecbench.core.headers import jpeg_scan_count
from codecbench.core.images import MAX_PIXELS

#: decoded samples a header may declare, all components and extra channels together: those of the largest
#: image the harness takes (MAX_PIXELS 8-bit RGB pixels); JPEG 2000 counts bytes (a 16-bit sample is 2)
MAX_DECODED_SAMPLES = 3 * MAX_PIXELS
#: scans a JPEG may hold. libjpeg's progressive scripts write 10 (colour) or 6 (gray), mozjpeg's optimized
#: ones a dozen or so; libjpeg-turbo's fuzzers stop at 500 and nvImageCodec at 256. Each scan is a pass over
#: the coefficients, so the limit bounds a decode at 100 passes.
MAX_JPEG_SCANS = 100


def check_decoded_size(codec: str, width: int, height: int) -> None:
    """Refuse a bitstream whose header declares more than ``MAX_PIXELS`` pixels.

    Called on the header, before the pixels are decoded, so a tiny stream
    that claims a huge image (a decompression bomb) costs no memory.
    """
    if width * height > MAX_PIXELS:
        raise DecodeError(f"{codec}: bitstream declares {width}×{height}, over the {MAX_PIXELS} pixel limit")


def check_decoded_samples(codec: str, count: int, what: str, unit: str = "samples") -> None:
    """Refuse a header declaring more than ``MAX_DECODED_SAMPLES`` decoded samples (or bytes: ``unit``);
    ``what`` says what it declares (e.g. "4000×4000, 64 components of 8 bits"). A few hundred bytes can
    declare gigabytes through the component count, the bit depth or extra channels, not only the size."""
    if count > MAX_DECODED_SAMPLES:
        raise DecodeError(f"{codec}: bitstream declares {what}: {count} decoded {unit}, over the limit of "
                          f"{MAX_DECODED_SAMPLES} (those of a {MAX_PIXELS}-pixel 8-bit RGB image)")


def check_scan_count(codec: str, data: bytes) -> None:
    """Refuse a JPEG of more than ``MAX_JPEG_SCANS`` scans (counted in its markers, before decoding)."""
    if jpeg_scan_count(data, stop=MAX_JPEG_SCANS + 1) > MAX_JPEG_SCANS:
        raise DecodeError(f"{codec}: stream holds more than {MAX_JPEG_SCANS} scans (real JPEGs have at most a "
                          "few dozen; each costs a pass over the image)")


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
