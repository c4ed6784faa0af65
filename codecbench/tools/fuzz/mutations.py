"""The mutations of a bitstream that the fuzzer draws (hypothesis strategies), and the header rewrites they use.

Beyond generic damage (bit flips, truncation, …) they forge what a classical decoder allocates or loops
over: the declared size (``resize``), a JPEG 2000 SIZ's component count and bit depth (``components``), a
JPEG XL header's extra channels (``extra-channels``) and a JPEG's scans (``repeat-scan``); a step that does
not fit the stream's format leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from codecbench.codecs.learned import container
from codecbench.core import headers as _headers
from codecbench.core.jxl_header import add_jpegxl_extra_channels


@dataclass(frozen=True)
class Op:
    """One mutation step. ``kind`` is one of :data:`OPS`; ``at``/``bits``/``data``/``count`` as that kind reads
    them ("components": ``count`` components of ``at`` bits; "repeat-scan": scan ``at`` repeated ``count``
    times; "extra-channels": ``count`` of them)."""

    kind: str
    at: int = 0
    bits: tuple[int, ...] = ()
    data: bytes = b""
    size: tuple[int, int] = (1, 1)  # "resize": the declared (height, width) to write
    count: int = 0

    def apply(self, stream: bytearray) -> bytearray:
        n = len(stream)
        if self.kind == "bitflip":
            for bit in self.bits:
                if n:
                    b = bit % (8 * n)
                    stream[b // 8] ^= 1 << (b % 8)
        elif self.kind == "truncate":
            del stream[self.at % max(n, 1):]
        elif self.kind == "append":
            stream += self.data
        elif self.kind == "random":
            stream[:] = self.data
        elif self.kind == "zero-header":
            stream[: self.at] = bytes(min(self.at, n))
        elif self.kind == "overwrite":
            if n:
                start = self.at % n
                chunk = self.data[: n - start]
                stream[start : start + len(chunk)] = chunk
        elif self.kind == "resize":
            stream[:] = rewrite_declared_size(bytes(stream), *self.size)
        elif self.kind == "components":
            stream[:] = _headers.forge_jpeg2000_components(bytes(stream), self.count, self.at)
        elif self.kind == "extra-channels":
            stream[:] = add_jpegxl_extra_channels(bytes(stream), self.count)
        elif self.kind == "repeat-scan":
            stream[:] = _headers.repeat_jpeg_scan(bytes(stream), self.at, self.count)
        else:  # pragma: no cover - strategies build only the kinds above
            raise ValueError(self.kind)
        return stream

    def describe(self) -> str:
        if self.kind == "bitflip":
            return f"flip bits {list(self.bits)} (mod length)"
        if self.kind == "truncate":
            return f"truncate to {self.at} mod length bytes"
        if self.kind == "append":
            return f"append {len(self.data)} bytes"
        if self.kind == "random":
            return f"replace with {len(self.data)} random bytes"
        if self.kind == "zero-header":
            return f"zero the first {self.at} bytes"
        if self.kind == "resize":
            return f"declare {self.size[1]}×{self.size[0]} (width×height)"
        if self.kind == "components":
            return f"declare {self.count} JPEG 2000 components of {self.at} bits"
        if self.kind == "extra-channels":
            return f"declare {self.count} JPEG XL extra channels"
        if self.kind == "repeat-scan":
            return f"repeat JPEG scan {self.at} (mod scans) {self.count} more times"
        return f"overwrite {len(self.data)} bytes at {self.at} mod length"


OPS = ("bitflip", "truncate", "append", "random", "zero-header", "overwrite", "resize", "components",
       "extra-channels", "repeat-scan")


@dataclass(frozen=True)
class Mutation:
    """Which seed stream, the steps applied in order, and whether to recompute a container CRC."""

    seed: int
    ops: tuple[Op, ...]
    fix_check: bool = False

    def apply(self, stream: bytes) -> bytes:
        out = bytearray(stream)
        for op in self.ops:
            out = op.apply(out)
        if self.fix_check:
            out = bytearray(fix_container_check(bytes(out)))
        return bytes(out)

    def describe(self) -> str:
        steps = "; ".join(op.describe() for op in self.ops)
        return f"seed {self.seed}: {steps}" + ("; recompute the container check" if self.fix_check else "")


def fix_container_check(data: bytes) -> bytes:
    """Recompute the CRC of a codecbench learned-codec container; other data unchanged."""
    return container.recompute_check(data)


def rewrite_declared_size(data: bytes, height: int, width: int) -> bytes:
    """``data`` with the image size its header declares replaced by ``height``×``width``.

    Knows codecbench's learned-codec container (:func:`codecbench.codecs.learned.container.declare_size`: varints, its
    check recomputed, sizes beyond the container's field written as they come) and the classical
    formats of :func:`codecbench.core.headers.declare_size` (JPEG family, PNG, JPEG 2000, AVIF,
    WebP, JPEG XL; narrow fields take the values modulo their range). Any other data is returned unchanged.
    """
    if data[:2] == container.MAGIC:
        return container.declare_size(data, width, height)
    return _headers.declare_size(data, width, height)


#: declared sides for "resize": tiny, odd, off-by-one around tile and stride multiples, huge
_side = st.one_of(
    st.sampled_from([1, 2, 3, 7, 15, 16, 17, 127, 128, 129, 1023, 1024, 1025, 2049, 4096, 9792, 16383, 65535,
                     65536, (1 << 17) - 1, 1 << 17, (1 << 17) + 1]),
    st.integers(1, 1 << 18),
)
#: what multiplies a declared size: component counts, bit depths, extra channels, scan repeats
_components = st.one_of(st.sampled_from([1, 2, 3, 4, 16, 64, 255, 1024, 16384]), st.integers(1, 16384))
_component_bits = st.sampled_from([1, 7, 8, 9, 12, 16, 24, 31, 38])
_extra_channels = st.one_of(st.sampled_from([1, 4, 5, 17, 18, 64, 255, 256, 4096]), st.integers(1, 4096))
_scan_repeats = st.sampled_from([1, 10, 90, 99, 100, 1000, 20000])
_interesting = st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE])
_position = st.one_of(st.integers(0, 32 * 8 - 1), st.integers(0, 1 << 24))  # the header, or anywhere


def ops() -> st.SearchStrategy[Op]:
    """One mutation step of any kind."""
    return st.one_of(
        st.builds(Op, st.just("bitflip"), bits=st.lists(_position, min_size=1, max_size=8).map(tuple)),
        st.builds(Op, st.just("truncate"), at=st.one_of(st.integers(0, 64), st.integers(0, 1 << 24))),
        st.builds(Op, st.just("append"), data=st.binary(min_size=1, max_size=512)),
        st.builds(Op, st.just("random"), data=st.binary(min_size=1, max_size=2048)),
        st.builds(Op, st.just("zero-header"), at=st.integers(1, 64)),
        st.builds(Op, st.just("resize"), size=st.tuples(_side, _side)),
        st.builds(Op, st.just("components"), count=_components, at=_component_bits),
        st.builds(Op, st.just("extra-channels"), count=_extra_channels),
        st.builds(Op, st.just("repeat-scan"), at=st.integers(0, 15), count=_scan_repeats),
        st.builds(
            Op,
            st.just("overwrite"),
            at=_position.map(lambda bit: bit // 8),
            data=st.one_of(st.binary(min_size=1, max_size=16), st.lists(_interesting, min_size=1, max_size=8).map(bytes)),
        ),
    )


def mutations(n_seeds: int) -> st.SearchStrategy[Mutation]:
    """A mutation of one of ``n_seeds`` seed streams: 1–3 stacked steps, maybe a CRC fix-up."""
    return st.builds(
        Mutation,
        seed=st.integers(0, n_seeds - 1),
        ops=st.lists(ops(), min_size=1, max_size=3).map(tuple),
        fix_check=st.booleans(),
    )
