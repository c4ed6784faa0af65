"""Hostile streams: classical decode bombs built from real encodes whose headers are forged (issue 21's
three streams), and learned-codec containers forged around chosen payloads.

Each is small and decodes (or would decode) to far more than its size says:
a JPEG 2000 codestream whose SIZ declares many components or 16-bit samples
at a large size, a JPEG XL stream with 255 extra channels at 2048², and a
progressive JPEG whose scan is repeated thousands of times. The decode-bomb
tests and the fuzzer tests use them; ``python -m tests.hostile_streams DIR``
writes them to DIR (for measuring a decoder from the command line).
"""

from __future__ import annotations

import io
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.codecs.learned.container import Container, pack_sections
from codecbench.core.errors import DecodeError
from codecbench.core.headers import declare_size, jpeg_scans, repeat_jpeg_scan
from codecbench.core.jxl_header import declare_jpegxl_size


def jpeg2000_bomb(components: int, dtype: type = np.uint8, width: int = 4000, height: int = 4000) -> bytes:
    """A raw J2K codestream of a constant mid-grey 8×8 image of ``components`` components of ``dtype``
    (uint8 or uint16), its SIZ forged to declare width×height as one tile. A constant mid-grey image has
    only zero coefficients, so every code-block is empty and the stream stays valid at any declared size."""
    import glymur

    import codecbench.codecs.classical.jpeg2000  # noqa: F401  (points glymur at an OpenJPEG)

    mid = 1 << (8 * np.dtype(dtype).itemsize - 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bomb.j2k"
        glymur.Jp2k(str(path), data=np.full((8, 8, components), mid, dtype).squeeze(), numres=1)
        return declare_size(path.read_bytes(), width, height)


def jpegxl_bomb(extra_channels: int = 255, side: int = 2048) -> bytes:
    """A JPEG XL container (libjxl writes level 10, hence a container, for more than 4 extra channels) of a
    constant 8×8 grey image with ``extra_channels`` extra channels, its SizeHeader forged to side×side."""
    import imagecodecs

    planes = np.zeros((1 + extra_channels, 8, 8), np.uint8)
    data = imagecodecs.jpegxl_encode(planes, planar=True, photometric="gray", lossless=True, effort=1)
    return declare_jpegxl_size(data, side, side)


def progressive_jpeg(height: int = 64, width: int = 64) -> bytes:
    """A progressive JPEG (libjpeg's default script: 10 scans) of a smooth colour gradient."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1)
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="JPEG", quality=75, progressive=True)
    return buffer.getvalue()


def jpeg_scan_bomb(repeats: int = 20_000, base: bytes | None = None) -> bytes:
    """``base`` (default: :func:`progressive_jpeg`) with its last scan, a small AC refinement, repeated
    ``repeats`` more times."""
    return repeat_jpeg_scan(progressive_jpeg() if base is None else base, -1, repeats)


def large_jpeg_scan_bomb(repeats: int = 20_000) -> bytes:
    """A 3000×2000 progressive JPEG (grey with a grid of dots: 1.15 MB) with its smallest scan, 12 bytes of
    end-of-band runs, repeated ``repeats`` more times: each copy is a pass over the whole image."""
    image = np.full((2000, 3000, 3), 120, np.uint8)
    image[::7, ::5] = 200
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=75, progressive=True)
    return repeat_jpeg_scan(buffer.getvalue(), 2, repeats)


def _segment(data: bytes, marker: int) -> bytes:
    """The first ``marker`` segment (marker, length, body) of a JPEG's headers."""
    pos = 2
    while data[pos + 1] != marker:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return data[pos : pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")]


def lossless_jpeg_planes(plane: np.ndarray) -> bytes:
    """A lossless JPEG (SOF3, RGB) of three copies of the uint8 ``plane``, one scan per component: libjpeg-turbo
    then reads on after the first scan, and decodes every scan it finds (repeated ones again)."""
    import imagecodecs

    rgb = imagecodecs.jpeg8_encode(np.zeros((*plane.shape, 3), np.uint8), lossless=True)
    gray = imagecodecs.jpeg8_encode(plane, lossless=True)
    start, end = next(jpeg_scans(gray))
    scans = b"".join(gray[start : start + 5] + bytes([c]) + gray[start + 6 : end] for c in b"RGB")  # Cs of each
    return b"\xff\xd8" + _segment(rgb, 0xEE) + _segment(rgb, 0xC3) + _segment(gray, 0xC4) + scans + b"\xff\xd9"


def learned_stream(codec, height: int, width: int, tiles: list[list[bytes]], channels: int = 3) -> bytes:
    """A container as the learned ``codec`` writes it (its header settings, format version and check) declaring
    height×width×channels around the given payloads: one tile's sections as they are, several tiles packed."""
    sections = tiles[0] if len(tiles) == 1 else [pack_sections(t) for t in tiles]
    return Container(codec.name, height, width, channels, sections, codec._header_settings(),
                     codec.format_version, codec.check).to_bytes()


def issue_streams() -> dict[str, tuple[str, bytes]]:
    """The issue's bombs, by file name: (codec that decodes it, stream)."""
    return {
        "j2k-64-components-4000.j2k": ("jpeg2000", jpeg2000_bomb(64)),
        "j2k-16bit-9797.j2k": ("jpeg2000", jpeg2000_bomb(3, np.uint16, 9797, 9797)),
        "jxl-255-extra-2048.jxl": ("jpegxl-lossless", jpegxl_bomb()),
        "jpeg-20000-scans.jpg": ("jpeg", jpeg_scan_bomb()),
    }


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    streams = {**issue_streams(), "jpeg-3000x2000-20000-scans.jpg": ("jpeg", large_jpeg_scan_bomb())}
    for name, (codec, stream) in streams.items():
        (folder / name).write_bytes(stream)
        print(f"{folder / name}: {len(stream)} bytes, codec {codec}")

ALLOCATION_LIMIT = 16 << 20


def rejects_without_allocating(codec, data: bytes, match: str = "payload bytes") -> None:
    """``codec.decode(data)`` raises :class:`DecodeError` matching ``match`` having allocated under
    :data:`ALLOCATION_LIMIT` in the memory tracemalloc sees (Python objects and numpy arrays): refused from the
    header, before any image-sized buffer exists."""
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match=match):
            codec.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < ALLOCATION_LIMIT
