"""The bitstream container of learned codecs: a compact, varint-coded header and payload sections.

Every byte counts in bpp, so the header holds only what a decoder needs (16 bytes for a Kodak
image with CRC-32; the field layout is in docs/codecs/learned.md, "Bitstreams"). Decoding
validates everything and raises :class:`~codecbench.core.errors.DecodeError` naming what is
wrong; declared sizes are bounded (``MAX_SIDE``, ``MAX_PIXELS``, ``MAX_SECTIONS``) so that a
corrupt header cannot make the decoder allocate gigabytes. :func:`declare_size` and
:func:`recompute_check` forge headers (decode-bomb tests, the fuzzer).
"""

from __future__ import annotations

import binascii
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from codecbench.core.errors import DecodeError, EncodeError

MAGIC = b"CB"
CONTAINER_VERSION = 1
#: check kinds: flag value -> (name, bytes)
CHECK_NONE, CHECK_CRC16, CHECK_CRC32 = 0, 1, 2
CHECK_BYTES = {CHECK_NONE: 0, CHECK_CRC16: 2, CHECK_CRC32: 4}
#: largest height or width a header may declare
MAX_SIDE = 1 << 17
#: largest H×W a header may declare (as codecbench.core.images.MAX_PIXELS)
MAX_PIXELS = 2 * 48_000_000
MAX_CHANNELS = 4
MAX_SECTIONS = 1 << 16
#: longest str/float setting text in a header
MAX_SETTING_TEXT = 255


def codec_id(name: str) -> int:
    """The 16-bit id that stands for a codec name in the header."""
    return zlib.crc32(name.encode("utf-8")) & 0xFFFF


# -- varints ------------------------------------------------------------
def write_varint(value: int, out: bytearray | None = None) -> bytes:
    """LEB128-encode a non-negative int (7 bits a byte); append to ``out`` if given."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    buf = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            buf.append(byte | 0x80)
        else:
            buf.append(byte)
            break
    if out is not None:
        out += buf
    return bytes(buf)


def zigzag(value: int) -> int:
    """Map a signed int to a non-negative one (0, -1, 1, -2 … -> 0, 1, 2, 3 …)."""
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


class Reader:
    """A bounds-checked cursor over bytes; every overrun raises DecodeError naming ``what``."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, *, label: str = "bitstream") -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.label = label

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise DecodeError(f"{self.label}: truncated while reading {what} (needs {n} bytes, {self.remaining} left)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str, limit: int = 1 << 63) -> int:
        value, shift = 0, 0
        while True:
            if self.pos >= self.end:
                raise DecodeError(f"{self.label}: truncated while reading {what}")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise DecodeError(f"{self.label}: corrupt {what} (varint longer than 9 bytes)")
        if value > limit:
            raise DecodeError(f"{self.label}: corrupt {what} ({value} exceeds the limit {limit})")
        return value


def read_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode one varint at ``pos``; return (value, next position). DecodeError if truncated."""
    r = Reader(data, pos)
    return r.varint("varint"), r.pos


# -- nested section lists ----------------------------------------------
def pack_sections(sections: Sequence[bytes]) -> bytes:
    """Concatenate byte strings with varint lengths (count, lengths but the last, data)."""
    out = bytearray()
    write_varint(len(sections), out)
    for s in sections[:-1]:
        write_varint(len(s), out)
    for s in sections:
        out += s
    return bytes(out)


def unpack_sections(data: bytes, *, label: str = "section list") -> list[bytes]:
    """Inverse of :func:`pack_sections`; DecodeError on inconsistent lengths."""
    r = Reader(data, label=label)
    return _read_sections(r, len(data))


def _read_sections(r: Reader, end: int) -> list[bytes]:
    count = r.varint("section count", MAX_SECTIONS)
    if count == 0:
        if r.pos != end:
            raise DecodeError(f"{r.label}: {end - r.pos} unexpected bytes after an empty section list")
        return []
    lengths = [r.varint(f"length of section {i}", end) for i in range(count - 1)]
    total = sum(lengths)
    if r.pos + total > end:
        raise DecodeError(f"{r.label}: truncated: sections declare {total} bytes, {end - r.pos} left")
    sections = []
    for n in lengths:
        sections.append(bytes(r.data[r.pos : r.pos + n]))
        r.pos += n
    sections.append(bytes(r.data[r.pos : end]))
    r.pos = end
    return sections


# -- settings -------------------------------------------------------------
def _write_setting(out: bytearray, key: str, value: Any) -> None:
    if isinstance(value, bool):
        out.append(1 if value else 0)
    elif isinstance(value, int):
        write_varint(zigzag(value), out)
    elif isinstance(value, (float, str)):
        text = (repr(float(value)) if isinstance(value, float) else value).encode("utf-8")
        if len(text) > MAX_SETTING_TEXT:
            raise EncodeError(f"setting {key}: text longer than {MAX_SETTING_TEXT} bytes")
        write_varint(len(text), out)
        out += text
    else:
        raise EncodeError(f"setting {key}: cannot store a {type(value).__name__} in a bitstream header")


def _read_setting(r: Reader, key: str, kind: type) -> Any:
    if kind is bool:
        b = r.byte(f"setting {key}")
        if b > 1:
            raise DecodeError(f"{r.label}: corrupt setting {key} (bool byte {b})")
        return bool(b)
    if kind is int:
        return unzigzag(r.varint(f"setting {key}"))
    n = r.varint(f"length of setting {key}", MAX_SETTING_TEXT)
    raw = r.take(n, f"setting {key}")
    try:
        text = raw.decode("utf-8")
        return float(text) if kind is float else text
    except (UnicodeDecodeError, ValueError):
        raise DecodeError(f"{r.label}: corrupt setting {key} ({raw!r})") from None


# -- the container --------------------------------------------------------
@dataclass
class Container:
    """A parsed or to-be-written bitstream: header fields and payload sections.

    ``settings`` maps setting names to values (int, bool, float or str);
    they are written in sorted key order, so a decoder must know the keys and
    their types (``setting_kinds`` in :meth:`from_bytes`).
    """

    codec: str
    height: int
    width: int
    channels: int
    sections: list[bytes] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    format_version: int = 1
    check: int = CHECK_CRC32

    def to_bytes(self) -> bytes:
        """Serialize; EncodeError for values a header cannot hold."""
        if not (1 <= self.height <= MAX_SIDE and 1 <= self.width <= MAX_SIDE):
            raise EncodeError(f"image {self.width}×{self.height} exceeds the container limit of {MAX_SIDE} a side")
        if self.height * self.width > MAX_PIXELS:
            raise EncodeError(f"image {self.width}×{self.height} exceeds the container limit of {MAX_PIXELS} pixels")
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise EncodeError(f"{self.channels} channels: the container holds 1 to {MAX_CHANNELS}")
        if self.check not in CHECK_BYTES:
            raise EncodeError(f"unknown check kind {self.check}")
        if len(self.sections) > MAX_SECTIONS:
            raise EncodeError(f"{len(self.sections)} sections: the container holds at most {MAX_SECTIONS}")
        out = bytearray(MAGIC)
        out.append(CONTAINER_VERSION | (self.check << 4))
        out += codec_id(self.codec).to_bytes(2, "big")
        write_varint(self.format_version, out)
        write_varint(self.height - 1, out)
        write_varint(self.width - 1, out)
        out.append(self.channels)
        for key in sorted(self.settings):
            _write_setting(out, key, self.settings[key])
        out += pack_sections(self.sections) if self.sections else write_varint(0)
        out += _check_value(self.check, out)
        return bytes(out)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        codec: str,
        *,
        setting_kinds: Mapping[str, type] | None = None,
        format_versions: Sequence[int] | None = None,
    ) -> "Container":
        """Parse and validate a stream written for ``codec``.

        ``setting_kinds`` maps the header setting names to their types (as
        written by the encoder); ``format_versions`` lists the codec format
        versions this decoder reads (any if None). Raises DecodeError for a
        truncated, foreign or corrupt stream.
        """
        label = f"{codec} bitstream"
        data = bytes(data)
        if len(data) < 3:
            raise DecodeError(f"{label}: truncated ({len(data)} bytes, shorter than any header)")
        if data[:2] != MAGIC:
            raise DecodeError(f"{label}: not a codecbench learned-codec stream (magic {data[:2]!r}, expected {MAGIC!r})")
        flags = data[2]
        version, check = flags & 0x0F, (flags >> 4) & 0x03
        if version != CONTAINER_VERSION or flags >> 6 or check not in CHECK_BYTES:
            raise DecodeError(f"{label}: unsupported container version/flags 0x{flags:02x}")
        nbytes = CHECK_BYTES[check]
        end = len(data) - nbytes
        if end < 3:
            raise DecodeError(f"{label}: truncated ({len(data)} bytes)")
        r = Reader(data, 3, end, label=label)
        cid = int.from_bytes(r.take(2, "codec id"), "big")
        if cid != codec_id(codec):
            raise DecodeError(f"{label}: written by another codec (codec id 0x{cid:04x}, {codec} is 0x{codec_id(codec):04x})")
        # verify the check before trusting any length in the header
        if nbytes and data[end:] != _check_value(check, data[:end]):
            raise DecodeError(f"{label}: corrupt or truncated (CRC mismatch)")
        fmt = r.varint("format version", 1 << 16)
        if format_versions is not None and fmt not in format_versions:
            known = ", ".join(map(str, format_versions))
            raise DecodeError(f"{label}: format version {fmt} is not readable by this codecbench ({known})")
        height = r.varint("height", MAX_SIDE - 1) + 1
        width = r.varint("width", MAX_SIDE - 1) + 1
        if height * width > MAX_PIXELS:
            raise DecodeError(f"{label}: declared size {width}×{height} exceeds {MAX_PIXELS} pixels")
        channels = r.byte("channels")
        if not 1 <= channels <= MAX_CHANNELS:
            raise DecodeError(f"{label}: corrupt channel count {channels}")
        settings = {key: _read_setting(r, key, kind) for key, kind in sorted((setting_kinds or {}).items())}
        sections = _read_sections(r, end)
        return cls(codec, height, width, channels, sections, settings, fmt, check)

    def header_size(self) -> int:
        """Bytes of the serialized stream that are not payload (header and check)."""
        return len(self.to_bytes()) - sum(len(s) for s in self.sections)


def _check_value(check: int, data: bytes | bytearray) -> bytes:
    if check == CHECK_CRC32:
        return (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    if check == CHECK_CRC16:
        return binascii.crc_hqx(bytes(data), 0xFFFF).to_bytes(2, "big")
    return b""


def recompute_check(data: bytes) -> bytes:
    """``data`` with the check of its container recomputed over what precedes it; other data unchanged."""
    if len(data) < 3 or data[:2] != MAGIC:
        return data
    nbytes = CHECK_BYTES.get((data[2] >> 4) & 0x03, 0)
    if not nbytes or len(data) < 3 + nbytes:
        return data
    body = data[: len(data) - nbytes]
    return body + _check_value((data[2] >> 4) & 0x03, body)


def declare_size(data: bytes, width: int, height: int) -> bytes:
    """A container ``data`` whose header declares width×height (sides ≥ 1), its check recomputed.

    Sizes beyond the header's bounds (``MAX_SIDE``, ``MAX_PIXELS``) are
    written as they come: this forges streams that :meth:`Container.from_bytes`
    must refuse (decompression bombs, the fuzzer's resize mutation). Data
    that is not a container, or whose header is cut before the width, is
    returned unchanged.
    """
    if data[:2] != MAGIC:
        return data
    r = Reader(data, 5)
    try:
        r.varint("format version")
        start = r.pos
        r.varint("height")
        r.varint("width")
    except DecodeError:
        return data
    sides = write_varint(max(height - 1, 0)) + write_varint(max(width - 1, 0))
    return recompute_check(data[:start] + sides + data[r.pos :])
