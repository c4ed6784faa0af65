"""Header-only reads of declared image sizes, for decoders whose library has none.

A decoder calls these before handing a stream to its library and refuses a
declared size over :data:`codecbench.images.MAX_PIXELS`
(:func:`codecbench.codecs._common.check_decoded_size`): a tiny stream that
declares a huge image (a decompression bomb: a constant 12000×9000 image is
a 1.3 kB JPEG-LS or a 23 kB JPEG XL stream) then costs no memory. Each
returns ``(width, height)``, or None where the header cannot be read (the
library then rejects the stream itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(marker, body, end offset) of each marker segment of a JPEG-family stream (T.81, JPEG-LS), up to
    and including its first scan header (SOS, 0xDA: every frame header comes before it); the body
    starts at ``end - len(body)`` unless the stream is truncated."""
    if data[:2] != b"\xff\xd8":  # SOI
        return
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + max(length, 2)
        yield marker, data[pos + 4 : pos + 2 + length], end
        if marker == 0xDA:
            return
        pos = end


def _frame_size(segment: bytes) -> tuple[int, int] | None:
    """(width, height) of a frame header body (P, Y, X, Nf, …: the layout of every SOFn and of SOF55)."""
    if len(segment) < 5:
        return None
    return int.from_bytes(segment[3:5], "big"), int.from_bytes(segment[1:3], "big")


@dataclass(frozen=True)
class JpegFrame:
    """A frame header: SOFn ``marker`` (0xC0 baseline, 0xC1 extended Huffman, …, 0xF7 JPEG-LS), its body's
    ``offset`` (P, Y, X, Nf, …), size, per-component sampling factors (h, v), and ``scan_start``, the
    offset of the first scan's entropy-coded data (0: no scan)."""

    marker: int
    offset: int
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]
    scan_start: int

    def blocks(self) -> int | None:
        """8×8 blocks of all components (T.81 A.1.1); None for sampling factors outside 1…4."""
        if not self.sampling or any(not (1 <= f <= 4) for hv in self.sampling for f in hv):
            return None
        hmax, vmax = max(h for h, _ in self.sampling), max(v for _, v in self.sampling)
        return sum(
            _ceil(_ceil(self.width * h, hmax), 8) * _ceil(_ceil(self.height * v, vmax), 8) for h, v in self.sampling
        )


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def jpeg_frame(data: bytes) -> JpegFrame | None:
    """The first frame header (T.81 SOF0–SOF15 but DHT, JPG and DAC; JPEG-LS SOF55) before the first
    scan; None without one."""
    frame, scan_start = None, 0
    for marker, segment, end in _jpeg_segments(data):
        is_frame = (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7
        if frame is None and is_frame and len(segment) >= 6:
            n = segment[5]
            comps = segment[6 : 6 + 3 * n]
            sampling = tuple((comps[i + 1] >> 4, comps[i + 1] & 0x0F) for i in range(0, len(comps) - 2, 3))
            width, height = _frame_size(segment) or (0, 0)
            frame = JpegFrame(marker, end - len(segment), width, height, sampling, 0)
        elif marker == 0xDA:
            scan_start = end
    return None if frame is None else replace(frame, scan_start=scan_start)


def jpegls_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG-LS stream: its SOF55 segment, or an LSE oversize-dimension segment (ID 4)."""
    size = None
    for marker, segment, _ in _jpeg_segments(data):
        if marker == 0xF7:  # SOF55
            size = _frame_size(segment) or size
        elif marker == 0xF8 and segment[:1] == b"\x04" and len(segment) >= 2:  # LSE: oversize image dimension
            wxy = segment[1]
            if wxy and len(segment) >= 2 + 2 * wxy:
                height = int.from_bytes(segment[2 : 2 + wxy], "big")
                size = (int.from_bytes(segment[2 + wxy : 2 + 2 * wxy], "big"), height)
    return size


def ljpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the SOF3 frame header of a lossless JPEG (T.81 lossless process); None without one."""
    for marker, segment, _ in _jpeg_segments(data):
        if marker == 0xC3:
            return _frame_size(segment)
    return None


def _jxl_codestream(data: bytes) -> bytes | None:
    """The start of the JPEG XL codestream: the data itself, or the first jxlc/jxlp box of a container."""
    if data[:2] == b"\xff\x0a":
        return data
    if not data.startswith(_JXL_CONTAINER):
        return None
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1 and pos + 16 <= len(data):
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        body = data[pos + header : pos + size] if size else data[pos + header :]
        if kind == b"jxlc":
            return body
        if kind == b"jxlp":
            return body[4:]  # skip the part index
        if size < header:
            return None
        pos += size
    return None


def jpegxl_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG XL SizeHeader (bare codestream or ISOBMFF container)."""
    stream = _jxl_codestream(data)
    if stream is None or stream[:2] != b"\xff\x0a" or len(stream) < 3:
        return None
    bits = int.from_bytes(stream[2:20], "little")  # the SizeHeader is at most 1+2+30+3+2+30 bits
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        value = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return value

    def u32() -> int:  # U32(BitsOffset(9, 1), BitsOffset(13, 1), BitsOffset(18, 1), BitsOffset(30, 1))
        return read((9, 13, 18, 30)[read(2)]) + 1

    small = read(1)
    height = (read(5) + 1) * 8 if small else u32()
    ratio = read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        width = height * num // den
    else:
        width = (read(5) + 1) * 8 if small else u32()
    return width, height
