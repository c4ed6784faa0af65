"""Header-only reads of what a stream declares, for decoders whose library has no such read, and writers
that forge those fields (:func:`declare_size`, :func:`forge_jpeg2000_components`, :func:`repeat_jpeg_scan`;
JPEG XL's in :mod:`codecbench.core.jxl_header`).

A decoder calls these before handing a stream to its library and refuses a
declared size over :data:`codecbench.core.images.MAX_PIXELS`
(:func:`codecbench.codecs._common.check_decoded_size`): a tiny stream that
declares a huge image (a decompression bomb: a constant 12000×9000 image is
a 1.3 kB JPEG-LS or a 23 kB JPEG XL stream) then costs no memory. The same
holds for what multiplies the cost of a size: a JPEG 2000 SIZ's components
and bit depths (:func:`jpeg2000_image`) and a JPEG's scans
(:func:`jpeg_scan_count`). Each returns None (or 0 scans) where the header
cannot be read.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace



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
    ``offset`` (P, Y, X, Nf, …), size, per-component sampling factors (h, v), ``scan_start``, the
    offset of the first scan's entropy-coded data (0: no scan), and ``scan_components``, that scan's Ns."""

    marker: int
    offset: int
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]
    scan_start: int
    scan_components: int = 0

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
    frame, scan_start, scan_components = None, 0, 0
    for marker, segment, end in _jpeg_segments(data):
        is_frame = (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7
        if frame is None and is_frame and len(segment) >= 6:
            n = segment[5]
            comps = segment[6 : 6 + 3 * n]
            sampling = tuple((comps[i + 1] >> 4, comps[i + 1] & 0x0F) for i in range(0, len(comps) - 2, 3))
            width, height = _frame_size(segment) or (0, 0)
            frame = JpegFrame(marker, end - len(segment), width, height, sampling, 0)
        elif marker == 0xDA:
            scan_start, scan_components = end, segment[0] if segment else 0
    return None if frame is None else replace(frame, scan_start=scan_start, scan_components=scan_components)


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


#: progressive frames (SOF2, SOF6, SOF10, SOF14: Huffman or arithmetic, differential or not)
_PROGRESSIVE = (0xC2, 0xC6, 0xCA, 0xCE)
#: a marker inside entropy-coded data: 0xFF not followed by a stuffed zero, a restart marker or a fill byte
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_scans(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each scan of a T.81 stream (its SOS segment and entropy-coded data), walking every
    marker segment up to EOI: APPn and COM bodies are skipped by their length (an Exif thumbnail's scans do
    not count) and stray bytes are skipped to the next marker, as libjpeg does."""
    if data[:2] != b"\xff\xd8":
        return
    pos = 2
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        if data[pos] != 0xFF or marker in (0x00, 0xFF) or 0xD0 <= marker <= 0xD7:
            found = _MARKER.search(data, pos + 1)
            if found is None:
                return
            pos = found.start()
            continue
        if marker == 0xD9:  # EOI
            return
        if marker in (0x01, 0xD8):  # TEM, SOI: no length field
            pos += 2
            continue
        end = pos + 2 + max(int.from_bytes(data[pos + 2 : pos + 4], "big"), 2)
        if marker == 0xDA:  # SOS: the entropy-coded data runs to the next marker
            found = _MARKER.search(data, end)
            yield pos, found.start() if found else len(data)
            pos = found.start() if found else len(data)
        else:
            pos = end


def jpeg_scan_count(data: bytes, stop: int | None = None) -> int:
    """The scans (SOS segments) libjpeg decodes of a T.81 JPEG stream, counted without decoding; counting
    ends at ``stop``.

    A progressive decoder makes a pass over its coefficient buffer per scan, so
    the count bounds the decode time (thousands of tiny repeated scans are a
    known denial of service; libjpeg-turbo's TJPARAM_SCANLIMIT and djpeg's
    ``-maxscans`` exist for it). A sequential frame whose first scan holds
    every component counts 1 without reading on: libjpeg refuses a second
    scan of it. 0 for data that is no JPEG.
    """
    frame = jpeg_frame(data)
    if frame is not None and frame.marker not in _PROGRESSIVE and frame.scan_components == len(frame.sampling) > 0:
        return 1
    count = 0
    for count, _ in enumerate(jpeg_scans(data), 1):
        if stop is not None and count >= stop:
            break
    return count


@dataclass(frozen=True)
class Jpeg2000Image:
    """A JPEG 2000 SIZ segment: the image area and per component (bits, signed, XRsiz, YRsiz)."""

    width: int
    height: int
    components: tuple[tuple[int, bool, int, int], ...]
    offset: tuple[int, int] = (0, 0)

    def decoded_bytes(self) -> int:
        """Bytes of every decoded sample: per component its subsampled grid (ceil(Xsiz/XRsiz) − ceil(XOsiz/XRsiz)
        by the same in y) × ceil(bits/8) bytes, as a decoder returns them (uint8 up to 8 bits, uint16 up to 16)."""
        (x0, y0), total = self.offset, 0
        for bits, _, dx, dy in self.components:
            dx, dy = max(dx, 1), max(dy, 1)
            grid_x = _ceil(x0 + self.width, dx) - _ceil(x0, dx)
            grid_y = _ceil(y0 + self.height, dy) - _ceil(y0, dy)
            total += grid_x * grid_y * _ceil(bits, 8)
        return total


def iso_boxes(data: bytes) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, start, body start, end) of each top-level ISOBMFF/JP2 box, until one is malformed."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1 and pos + 16 <= len(data):
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        end = len(data) if size == 0 else pos + size
        if end < pos + header or end > len(data):
            return
        yield kind, pos, pos + header, end
        pos = end


def _jpeg2000_siz(data: bytes) -> int | None:
    """Offset of the SIZ marker (0xFF51) of a raw codestream (SOC first) or of a JP2 file's ``jp2c`` box."""
    if data[:4] == b"\xff\x4f\xff\x51":
        return 2
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n":
        for kind, _, start, _ in iso_boxes(data):
            if kind == b"jp2c":
                return start + 2 if data[start : start + 4] == b"\xff\x4f\xff\x51" else None
    return None


def jpeg2000_image(data: bytes) -> Jpeg2000Image | None:
    """The SIZ of a JPEG 2000 codestream, raw or in a JP2 file; None without a complete one."""
    siz = _jpeg2000_siz(data)
    if siz is None or siz + 40 > len(data):
        return None
    x1, y1, x0, y0 = (int.from_bytes(data[siz + k : siz + k + 4], "big") for k in (6, 10, 14, 18))
    count = int.from_bytes(data[siz + 38 : siz + 40], "big")
    comps = data[siz + 40 : siz + 40 + 3 * count]
    if count == 0 or len(comps) < 3 * count:
        return None
    sizes = zip(comps[::3], comps[1::3], comps[2::3])  # Ssiz (signed bit, bits − 1), XRsiz, YRsiz
    components = tuple(((s & 0x7F) + 1, bool(s & 0x80), dx, dy) for s, dx, dy in sizes)
    return Jpeg2000Image(max(x1 - x0, 0), max(y1 - y0, 0), components, (x0, y0))


# -- writers: forged declared sizes ---------------------------------------------------
def _be(value: int, nbytes: int) -> bytes:
    """``value`` modulo 2^(8·nbytes), big-endian."""
    return (value % (1 << (8 * nbytes))).to_bytes(nbytes, "big")


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


def _set_jpeg2000_size(out: bytearray, siz: int, width: int, height: int) -> None:
    """Set the SIZ at ``siz`` to declare width×height (image offsets kept); an image that was one tile stays
    one tile (OpenJPEG refuses more than 65535 tiles before allocating anything)."""
    x1, y1, x0, y0, tx, ty, tx0, ty0 = (int.from_bytes(out[siz + k : siz + k + 4], "big") for k in range(6, 38, 4))
    out[siz + 6 : siz + 14] = _be(width + x0, 4) + _be(height + y0, 4)
    if tx0 + tx >= x1 and ty0 + ty >= y1:
        out[siz + 22 : siz + 30] = _be(width + x0 - tx0, 4) + _be(height + y0 - ty0, 4)


def forge_jpeg2000_components(data: bytes, count: int, bits: int) -> bytes:
    """A raw JPEG 2000 codestream whose SIZ declares ``count`` components (clamped to 1 … 16384) of ``bits``
    unsigned bits (1 … 38), each sampled as the first one (Lsiz follows); other data unchanged."""
    siz = _jpeg2000_siz(data)
    if siz != 2 or len(data) < siz + 43:
        return data
    count, bits = min(max(count, 1), 16384), min(max(bits, 1), 38)
    old = int.from_bytes(data[siz + 38 : siz + 40], "big")
    head = bytearray(data[siz : siz + 38])
    head[2:4] = _be(38 + 3 * count, 2)
    body = _be(count, 2) + (bytes([bits - 1]) + data[siz + 41 : siz + 43]) * count
    return data[:siz] + bytes(head) + body + data[siz + 40 + 3 * old :]


def repeat_jpeg_scan(data: bytes, index: int, times: int) -> bytes:
    """A T.81 JPEG with its scan number ``index`` (mod the scan count) repeated ``times`` more times right after
    itself; data without a scan unchanged."""
    scans = list(jpeg_scans(data))
    if not scans:
        return data
    start, end = scans[index % len(scans)]
    return data[:end] + data[start:end] * max(times, 0) + data[end:]


def declare_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` with the image size its header declares replaced by width×height.

    Knows JPEG-family frame headers (T.81 SOFn, JPEG-LS SOF55: 16-bit
    fields, values taken mod 2¹⁶), PNG's IHDR (its CRC recomputed), a JPEG
    2000 SIZ (bare codestream or inside a JP2 file; a single tile stays the
    single tile), an AVIF/HEIF ``ispe`` box (32-bit fields, mod 2³²), WebP
    (VP8X canvas, VP8 and VP8L frame headers) and a JPEG XL SizeHeader (bare
    or in a container). Any other data is
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
    from codecbench.core.jxl_header import declare_jpegxl_size, is_jpegxl  # jxl_header imports this module

    if is_jpegxl(data):
        return declare_jpegxl_size(data, width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_declare(data, width, height)
    siz = _jpeg2000_siz(data)
    if siz is not None and siz + 38 <= len(data):
        _set_jpeg2000_size(out, siz, width, height)
        return bytes(out)
    ispe = data.find(b"ispe")  # box type, version/flags, width, height
    if ispe >= 4 and ispe + 16 <= len(data):
        out[ispe + 8 : ispe + 16] = _be(width, 4) + _be(height, 4)
    return bytes(out)
