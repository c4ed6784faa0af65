"""The JPEG XL codestream header, read and rewritten without decoding (ISO/IEC 18181-1, as libjxl reads it).

:func:`jpegxl_header` reads the SizeHeader and the ImageMetadata up to the
extra-channel count: enough to bound the samples a decoder will allocate
(colour channels plus every extra channel, each the image's size) before
the library sees the stream. :func:`declare_jpegxl_size` and
:func:`add_jpegxl_extra_channels` forge those fields (decode-bomb tests, the
fuzzer). Both a bare codestream and the ISOBMFF container (``jxlc``, or
``jxlp`` parts) are read; the writers edit the first codestream box and fix
its size. Fields are LSB-first bit fields; ``U32`` picks one of four
distributions with a 2-bit selector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codecbench.core.headers import iso_boxes

_SIGNATURE = b"\xff\x0a"
_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
#: U32 distributions: an int is Val(v), a pair (n, offset) is BitsOffset(n, offset)
_Dist = tuple[int | tuple[int, int], ...]
_SIZE: _Dist = ((9, 1), (13, 1), (18, 1), (30, 1))
_PREVIEW_DIV8: _Dist = (16, 32, (5, 1), (9, 33))
_PREVIEW: _Dist = ((6, 1), (8, 65), (10, 321), (12, 1345))
_EXTRA_CHANNELS: _Dist = (0, 1, (4, 2), (12, 1))
#: bytes of codestream enough for every field up to the extra-channel count (at most ~330 bits)
_HEADER_BYTES = 64


@dataclass(frozen=True)
class JxlHeader:
    """What the codestream header declares. Bit positions count from the end of the 2-byte signature:
    ``size_end`` ends the SizeHeader, ``metadata_default`` tells whether ImageMetadata is the 1-bit
    all-default bundle, ``extra_at``/``extra_end`` span the extra-channel count's U32."""

    width: int
    height: int
    extra_channels: int
    size_end: int
    metadata_default: bool
    extra_at: int
    extra_end: int

    def samples(self) -> int:
        """Samples a full decode allocates: width × height × (3 colour channels + the extra channels); colour
        counts as 3 because the colour encoding (gray or not) follows the extra channels in the header."""
        return self.width * self.height * (3 + self.extra_channels)


class _Reader:
    """LSB-first bits of ``data``; ``overrun`` once a read went past its end."""

    def __init__(self, data: bytes) -> None:
        self._value, self._size, self.pos = int.from_bytes(data, "little"), 8 * len(data), 0

    @property
    def overrun(self) -> bool:
        return self.pos > self._size

    def bits(self, n: int) -> int:
        value = (self._value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return value

    def u32(self, dist: _Dist) -> int:
        d = dist[self.bits(2)]
        return d if isinstance(d, int) else d[1] + self.bits(d[0])


def _size_header(r: _Reader) -> tuple[int, int]:
    small = r.bits(1)
    height = (r.bits(5) + 1) * 8 if small else r.u32(_SIZE)
    ratio = r.bits(3)
    if ratio:
        num, den = _RATIOS[ratio]
        return height * num // den, height
    return ((r.bits(5) + 1) * 8 if small else r.u32(_SIZE)), height


def _skip_extra_fields(r: _Reader) -> None:
    """Orientation, then the optional intrinsic size, preview and animation headers."""
    r.bits(3)
    if r.bits(1):
        _size_header(r)
    if r.bits(1):
        dist = _PREVIEW_DIV8 if r.bits(1) else _PREVIEW
        r.u32(dist)
        if r.bits(3) == 0:
            r.u32(dist)
    if r.bits(1):
        r.u32((100, 1000, (10, 1), (30, 1)))
        r.u32((1, 1001, (8, 1), (10, 1)))
        r.u32((0, (3, 0), (16, 0), (32, 0)))
        r.bits(1)


def is_jpegxl(data: bytes) -> bool:
    """Whether ``data`` starts as a JPEG XL codestream or container does."""
    return data[:2] == _SIGNATURE or data.startswith(_CONTAINER)


def codestream(data: bytes) -> bytes | None:
    """The codestream: ``data`` itself, a container's ``jxlc`` box, or its ``jxlp`` parts joined; None otherwise."""
    if data[:2] == _SIGNATURE:
        return data
    boxes = list(iso_boxes(data)) if data.startswith(_CONTAINER) else []
    for kind, _, start, end in boxes:
        if kind == b"jxlc":
            return data[start:end]
    parts = [data[start + 4 : end] for kind, _, start, end in boxes if kind == b"jxlp"]  # after the part index
    return b"".join(parts) or None


def jpegxl_header(data: bytes) -> JxlHeader | None:
    """The header of a JPEG XL stream (bare or in a container); None where there is none or it is cut short."""
    stream = codestream(data)
    if stream is None or stream[:2] != _SIGNATURE:
        return None
    r = _Reader(stream[2 : 2 + _HEADER_BYTES])
    width, height = _size_header(r)
    size_end = r.pos
    metadata_default = bool(r.bits(1))
    extra, extra_at = 0, r.pos
    if not metadata_default:
        if r.bits(1):
            _skip_extra_fields(r)
        if r.bits(1):  # BitDepth: floating-point samples (bits, exponent bits), else integer bits
            r.u32((32, 16, 24, (6, 1)))
            r.bits(4)
        else:
            r.u32((8, 10, 12, (6, 1)))
        r.bits(1)  # modular_16_bit_buffer_sufficient
        extra_at = r.pos
        extra = r.u32(_EXTRA_CHANNELS)
    if r.overrun:
        return None
    return JxlHeader(width, height, extra, size_end, metadata_default, extra_at, r.pos)


# -- writers -----------------------------------------------------------------------------
def _edit_codestream(data: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """``data`` with its codestream (bare, or the first ``jxlc``/``jxlp`` box, its size field fixed) edited."""
    if data[:2] == _SIGNATURE:
        return edit(data)
    for kind, head, start, end in iso_boxes(data) if data.startswith(_CONTAINER) else ():
        if kind in (b"jxlc", b"jxlp"):
            skip = 4 if kind == b"jxlp" else 0
            body = data[start : start + skip] + edit(data[start + skip : end])
            header = bytearray(data[head:start])
            grown = len(body) - (end - start)
            if int.from_bytes(header[:4], "big") == 1:
                header[8:16] = (int.from_bytes(header[8:16], "big") + grown).to_bytes(8, "big")
            elif int.from_bytes(header[:4], "big"):
                header[:4] = ((int.from_bytes(header[:4], "big") + grown) % (1 << 32)).to_bytes(4, "big")
            return data[:head] + bytes(header) + body + data[end:]
    return data


def _bits(value: int, n: int) -> list[int]:
    return [(value >> i) & 1 for i in range(n)]


def _u32_codings(value: int, dist: _Dist) -> list[list[int]]:
    """Every coding of ``value`` in the U32 distribution ``dist``."""
    out = []
    for selector, d in enumerate(dist):
        if isinstance(d, int):
            if d == value:
                out.append(_bits(selector, 2))
        elif 0 <= value - d[1] < 1 << d[0]:
            out.append(_bits(selector, 2) + _bits(value - d[1], d[0]))
    return out


def _splice(stream: bytes, start: int, end: int, choices: list[list[int]]) -> bytes:
    """``stream`` with header bits [start, end) (counted after the signature) replaced by one of ``choices``:
    the first whose length differs from ``end - start`` by whole bytes, so that what follows keeps its
    byte alignment, else the first; zero bits pad the end to a byte."""
    bits = [(byte >> i) & 1 for byte in stream[2:] for i in range(8)]
    aligned = [c for c in choices if (len(c) - (end - start)) % 8 == 0]
    new = bits[:start] + (aligned or choices)[0] + bits[end:]
    new += [0] * (-len(new) % 8)
    return stream[:2] + bytes(sum(new[i + j] << j for j in range(8)) for i in range(0, len(new), 8))


def declare_jpegxl_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` whose SizeHeader declares width×height (each clamped to 1 … 2³⁰, a non-small header); other
    data unchanged."""
    width, height = (min(max(v, 1), 1 << 30) for v in (width, height))

    def edit(stream: bytes) -> bytes:
        head = jpegxl_header(stream)
        if head is None:
            return stream
        codings = [[0] + h + [0, 0, 0] + w for h in _u32_codings(height, _SIZE) for w in _u32_codings(width, _SIZE)]
        return _splice(stream, 0, head.size_end, codings)

    return _edit_codestream(data, edit)


def add_jpegxl_extra_channels(data: bytes, count: int) -> bytes:
    """``data`` whose ImageMetadata declares ``count`` extra channels (1 … 4096; rounded up by at most 7 so that
    the frames keep their byte alignment) by inserting all-default (8-bit alpha) channel descriptions before
    the existing ones; an all-default ImageMetadata is written out in full (8-bit, XYB, sRGB) first."""

    def edit(stream: bytes) -> bytes:
        head = jpegxl_header(stream)
        if head is None or not 0 < count <= 4096 or count <= head.extra_channels:
            return stream
        if head.metadata_default:  # all_default=0, extra_fields=0, 8-bit integer samples, modular_16_bit=1
            prefix, suffix, start = [0, 0, 0, 0, 0, 1], [1, 1, 0, 0], head.extra_at - 1  # xyb, colour, extensions
        else:
            prefix, suffix, start = [], [], head.extra_at
        for n in range(count, min(count + 8, 4097)):
            coding = prefix + _u32_codings(n, _EXTRA_CHANNELS)[-1] + [1] * (n - head.extra_channels) + suffix
            if (len(coding) - (head.extra_end - start)) % 8 == 0:
                return _splice(stream, start, head.extra_end, [coding])
        return stream

    return _edit_codestream(data, edit)
