"""Header-only reads of declared image sizes, for decoders whose library has none, and writers that
forge them (:func:`declare_size`).

A decoder calls these before handing a stream to its library and refuses a
declared size over :data:`codecbench.core.images.MAX_PIXELS`
(:func:`codecbench.codecs._common.check_decoded_size`): a tiny stream that
declares a huge image (a decompression bomb: a constant 12000×9000 image is
a 1.3 kB JPEG-LS or a 23 kB JPEG XL stream) then costs no memory. Each
returns ``(width, height)``, or None where the header cannot be read (the
library then rejects the stream itself).
"""

from __future__ import annotations

import zlib
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


# -- writers: forged declared sizes ---------------------------------------------------
def _be(value: int, nbytes: int) -> bytes:
    """``value`` modulo 2^(8·nbytes), big-endian."""
    return (value % (1 << (8 * nbytes))).to_bytes(nbytes, "big")


def _jxl_bits(value: int, n: int) -> list[int]:
    return [(value >> i) & 1 for i in range(n)]


def _jxl_u32(value: int) -> list[list[int]]:
    """Every U32(BitsOffset(9, 1), …(13, 1), …(18, 1), …(30, 1)) coding of ``value`` (1 … 2³⁰)."""
    return [_jxl_bits(sel, 2) + _jxl_bits(value - 1, n) for sel, n in enumerate((9, 13, 18, 30)) if value - 1 < 1 << n]


def _jpegxl_declare(data: bytes, width: int, height: int) -> bytes:
    """A bare JPEG XL codestream whose SizeHeader declares width×height (each clamped to 1 … 2³⁰).

    The new header is a non-small one; of its codings, one whose length differs from the old one's
    by whole bytes is chosen where there is one, so that the fields after it keep their alignment.
    """
    bits = [(byte >> i) & 1 for byte in data[2:] for i in range(8)]
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        value = sum(bits[pos + i] << i for i in range(n)) if pos + n <= len(bits) else 0
        pos += n
        return value

    def skip_u32() -> None:
        read((9, 13, 18, 30)[read(2)])

    small = read(1)
    read(5) if small else skip_u32()
    if read(3) == 0:
        read(5) if small else skip_u32()
    if pos > len(bits):
        return data
    width, height = (min(max(v, 1), 1 << 30) for v in (width, height))
    codings = [[0] + h + [0, 0, 0] + w for h in _jxl_u32(height) for w in _jxl_u32(width)]
    aligned = [c for c in codings if (len(c) - pos) % 8 == 0]
    new = (aligned or codings)[0] + bits[pos:]
    new += [0] * (-len(new) % 8)
    return data[:2] + bytes(sum(new[i + j] << j for j in range(8)) for i in range(0, len(new), 8))


def _webp_declare(data: bytes, width: int, height: int) -> bytes:
    """A RIFF WebP whose VP8X canvas (24-bit fields) and VP8 or VP8L frame (14-bit fields) declare
    width×height, each taken modulo its field's range."""
    out = bytearray(data)
    vp8x = data.find(b"VP8X", 12)
    if vp8x >= 0 and vp8x + 18 <= len(data):
        out[vp8x + 12 : vp8x + 18] = ((width - 1) % (1 << 24)).to_bytes(3, "little") + (
            (height - 1) % (1 << 24)).to_bytes(3, "little")
    vp8 = data.find(b"VP8 ", 12)
    start = data.find(b"\x9d\x01\x2a", vp8) if vp8 >= 0 else -1
    if start >= 0 and start + 7 <= len(data):  # after the key-frame start code: 14-bit size, 2-bit scale
        for offset, value in ((3, width), (5, height)):
            old = int.from_bytes(data[start + offset : start + offset + 2], "little")
            out[start + offset : start + offset + 2] = ((old & 0xC000) | (value % (1 << 14))).to_bytes(2, "little")
    vp8l = data.find(b"VP8L", 12)
    if vp8l >= 0 and vp8l + 13 <= len(data):  # signature 0x2f, then 14-bit width − 1 and height − 1
        fields = int.from_bytes(data[vp8l + 9 : vp8l + 13], "little")
        fields = (fields & ~((1 << 28) - 1)) | ((width - 1) % (1 << 14)) | (((height - 1) % (1 << 14)) << 14)
        out[vp8l + 9 : vp8l + 13] = fields.to_bytes(4, "little")
    return bytes(out)


def declare_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` with the image size its header declares replaced by width×height.

    Knows JPEG-family frame headers (T.81 SOFn, JPEG-LS SOF55: 16-bit
    fields, values taken mod 2¹⁶), PNG's IHDR (its CRC recomputed), a JPEG
    2000 SIZ (bare codestream or inside a JP2 file), an AVIF/HEIF ``ispe``
    box (32-bit fields, mod 2³²), WebP (VP8X canvas, VP8 and VP8L frame
    headers) and a bare JPEG XL codestream's SizeHeader. Any other data is
    returned unchanged. Used to forge decompression bombs
    (:meth:`codecbench.core.codec.Codec.forge_oversized`) and by the fuzzer's
    resize mutation.
    """
    out = bytearray(data)
    if data[:2] == b"\xff\xd8":
        frame = jpeg_frame(data)
        if frame is not None and frame.offset + 5 <= len(data):
            out[frame.offset + 1 : frame.offset + 5] = _be(height, 2) + _be(width, 2)
        return bytes(out)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 33:
        out[16:24] = _be(width, 4) + _be(height, 4)
        out[29:33] = _be(zlib.crc32(out[12:29]), 4)
        return bytes(out)
    if data[:2] == b"\xff\x0a":
        return _jpegxl_declare(data, width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_declare(data, width, height)
    siz = data.find(b"\xff\x4f\xff\x51")  # SOC, SIZ: Lsiz, Rsiz, Xsiz, Ysiz (offsets XOsiz, YOsiz kept)
    if siz >= 0 and siz + 24 <= len(data):
        x0, y0 = (int.from_bytes(data[siz + k : siz + k + 4], "big") for k in (16, 20))
        out[siz + 8 : siz + 16] = _be(width + x0, 4) + _be(height + y0, 4)
        return bytes(out)
    ispe = data.find(b"ispe")  # box type, version/flags, width, height
    if ispe >= 4 and ispe + 16 <= len(data):
        out[ispe + 8 : ispe + 16] = _be(width, 4) + _be(height, 4)
    return bytes(out)
