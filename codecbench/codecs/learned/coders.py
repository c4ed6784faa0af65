"""Entropy coding for learned codecs: thin wrappers around kept libraries (zlib, constriction).

Deflate (:func:`deflate`, :func:`inflate` with an output limit), Huffman (:class:`HuffmanTable`, the table
sent as code lengths; :func:`huffman_encode` / :func:`huffman_decode`) and rANS (:class:`RansEncoder`,
:class:`RansDecoder` with :func:`categorical` tables or quantized :func:`laplace`, :func:`gaussian`,
:func:`cauchy` models; batches decode in the order they were added). The decoder must be given the
same model parameters (bit-identical floats) and symbol counts as the encoder; corrupt payloads raise
:class:`~codecbench.core.errors.DecodeError`. Payloads are little-endian on every machine.
"""

from __future__ import annotations

import zlib
from typing import Any, Sequence

import constriction
import numpy as np

from codecbench.codecs.learned.container import Reader, write_varint
from codecbench.core.errors import DecodeError, EncodeError

__all__ = [
    "deflate",
    "inflate",
    "HuffmanTable",
    "huffman_encode",
    "huffman_decode",
    "RansEncoder",
    "RansDecoder",
    "rans_min_bytes",
    "categorical",
    "laplace",
    "gaussian",
    "cauchy",
    "words_to_bytes",
    "bytes_to_words",
]


# -- Deflate -------------------------------------------------------------------
def deflate(data: bytes, level: int = 9, *, raw: bool = True) -> bytes:
    """Deflate-compress ``data``. ``raw`` (default) omits zlib's 6-byte header and Adler-32."""
    co = zlib.compressobj(level, zlib.DEFLATED, -15 if raw else 15)
    return co.compress(bytes(data)) + co.flush()


def inflate(data: bytes, max_size: int, *, raw: bool = True) -> bytes:
    """Inverse of :func:`deflate`; DecodeError if corrupt, truncated or longer than ``max_size``."""
    do = zlib.decompressobj(-15 if raw else 15)
    try:
        out = do.decompress(bytes(data), max_size)
    except zlib.error as exc:
        raise DecodeError(f"corrupt Deflate payload ({exc})") from None
    if do.unconsumed_tail:
        raise DecodeError(f"Deflate payload expands beyond the expected {max_size} bytes")
    if not do.eof:
        raise DecodeError("truncated Deflate payload")
    return out


# -- word packing ------------------------------------------------------------------
def words_to_bytes(words: np.ndarray, nbits: int | None = None) -> bytes:
    """uint32 words -> little-endian bytes; with ``nbits``, only the bytes that hold them."""
    data = np.asarray(words, dtype="<u4").tobytes()
    if nbits is not None:
        data = data[: (nbits + 7) // 8]
    return data


def bytes_to_words(data: bytes) -> np.ndarray:
    """Little-endian bytes (zero-padded to a multiple of 4) -> native uint32 words."""
    pad = (-len(data)) % 4
    return np.frombuffer(bytes(data) + b"\0" * pad, dtype="<u4").astype(np.uint32)


# -- Huffman -------------------------------------------------------------------
MAX_HUFFMAN_ALPHABET = 1 << 16
MAX_CODE_LENGTH = 63


class HuffmanTable:
    """A Huffman code over the alphabet {0 … n−1}, described by code lengths.

    ``lengths[s] == 0`` means symbol s is unused (cannot be coded). Build one
    from counts with :meth:`from_counts`; serialize it with :meth:`to_bytes`
    (varint n, one byte b = bits per length, then n lengths packed in b bits
    each, LSB first; about 5/8 byte per symbol of the alphabet) and read it
    back with :meth:`read`. Put likely symbols at small indices (e.g. zigzag
    residuals) so that n stays small.

    A table with a single used symbol codes it in zero bits.
    """

    def __init__(self, lengths: np.ndarray) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.used = np.flatnonzero(self.lengths)
        if len(self.used) == 0:
            raise ValueError("a Huffman table needs at least one used symbol")
        # index of each symbol in the compact alphabet of used symbols
        self._index = np.full(len(self.lengths), -1, dtype=np.int64)
        self._index[self.used] = np.arange(len(self.used))
        probs = np.ldexp(1.0, -self.lengths[self.used]).astype(np.float64)
        self._probs = probs if len(self.used) > 1 else None

    @classmethod
    def from_counts(cls, counts: Sequence[int] | np.ndarray) -> "HuffmanTable":
        """The optimal code for these symbol counts (constriction's Huffman tree builder)."""
        counts = np.asarray(counts, dtype=np.float64)
        used = np.flatnonzero(counts > 0)
        if len(used) == 0:
            raise EncodeError("Huffman: no symbols to code")
        # trim the alphabet to the last used symbol
        lengths = np.zeros(used[-1] + 1, dtype=np.int64)
        if len(used) == 1:
            lengths[used[0]] = 1
            return cls(lengths)
        tree = constriction.symbol.huffman.EncoderHuffmanTree(counts[used] / counts[used].sum())
        for i, s in enumerate(used):
            enc = constriction.symbol.QueueEncoder()
            enc.encode_symbol(i, tree)
            lengths[s] = enc.get_compressed_and_bitrate()[1]
        if lengths.max() > MAX_CODE_LENGTH:
            raise EncodeError(f"Huffman code longer than {MAX_CODE_LENGTH} bits")
        return cls(lengths)

    def to_bytes(self) -> bytes:
        out = bytearray()
        write_varint(len(self.lengths), out)
        bits = max(1, int(self.lengths.max()).bit_length())
        out.append(bits)
        shifts = np.arange(bits)
        packed = ((self.lengths[:, None] >> shifts) & 1).astype(np.uint8).ravel()
        out += np.packbits(packed, bitorder="little").tobytes()
        return bytes(out)

    @classmethod
    def read(cls, reader: Reader) -> "HuffmanTable":
        n = reader.varint("Huffman table size", MAX_HUFFMAN_ALPHABET)
        bits = reader.byte("Huffman length width")
        if not 1 <= bits <= 6 or n < 1:
            raise DecodeError(f"{reader.label}: corrupt Huffman table header (n={n}, width={bits})")
        raw = np.frombuffer(reader.take((n * bits + 7) // 8, "Huffman table"), dtype=np.uint8)
        flat = np.unpackbits(raw, bitorder="little")[: n * bits].reshape(n, bits).astype(np.int64)
        lengths = (flat << np.arange(bits)).sum(axis=1)
        used = lengths[lengths > 0]
        if len(used) == 0 or (len(used) > 1 and not np.isclose(np.ldexp(1.0, -used).sum(), 1.0)):
            raise DecodeError(f"{reader.label}: corrupt Huffman table (code lengths violate Kraft's equality)")
        return cls(lengths)

    def bits(self, counts: np.ndarray) -> int:
        """Payload size in bits for these symbol counts (for rate estimates)."""
        if len(self.used) == 1:
            return 0
        n = min(len(counts), len(self.lengths))
        return int((np.asarray(counts[:n]) * self.lengths[:n]).sum())

    def encode(self, symbols: np.ndarray) -> bytes:
        """Code symbols (each must have a nonzero length); the payload only, no table."""
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        if symbols.size and (symbols.min() < 0 or symbols.max() >= len(self.lengths)):
            raise EncodeError("Huffman: symbol outside the table's alphabet")
        idx = self._index[symbols]
        if symbols.size and idx.min() < 0:
            raise EncodeError("Huffman: symbol with no code in the table")
        if self._probs is None:
            return b""
        tree = constriction.symbol.huffman.EncoderHuffmanTree(self._probs)
        enc = constriction.symbol.QueueEncoder()
        encode = enc.encode_symbol
        for i in idx.tolist():
            encode(i, tree)
        words, nbits = enc.get_compressed_and_bitrate()
        return words_to_bytes(words, nbits)

    def decode(self, data: bytes, count: int) -> np.ndarray:
        """Decode ``count`` symbols from a payload written by :meth:`encode`."""
        if self._probs is None:
            return np.full(count, self.used[0], dtype=np.int64)
        # every symbol costs at least one bit: a short payload is corrupt, not a long loop
        if count > 8 * len(data):
            raise DecodeError(f"Huffman payload too short for {count} symbols ({len(data)} bytes)")
        tree = constriction.symbol.huffman.DecoderHuffmanTree(self._probs)
        dec = constriction.symbol.QueueDecoder(bytes_to_words(data))
        decode = dec.decode_symbol
        try:
            idx = np.fromiter((decode(tree) for _ in range(count)), dtype=np.int64, count=count)
        except BaseException as exc:  # constriction raises on exhausted data
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise DecodeError(f"corrupt Huffman payload ({exc})") from None
        return self.used[idx]


def huffman_encode(symbols: np.ndarray, alphabet_size: int | None = None, *, min_used: int = 1) -> bytes:
    """Table (from the symbols' own counts) followed by the payload; see :class:`HuffmanTable`.

    ``min_used=2`` gives the table a second (unused) code when only one symbol
    occurs, so that every symbol costs at least one bit: a decoder can then
    refuse a declared symbol count that the payload cannot hold.
    """
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    if symbols.size == 0:
        return b""
    if symbols.min() < 0:
        raise EncodeError("Huffman: symbols must be non-negative (map signed values with zigzag)")
    counts = np.bincount(symbols, minlength=alphabet_size or 0)
    for s in range(len(counts) + min_used):
        if np.count_nonzero(counts) >= min_used:
            break
        if s >= len(counts):
            counts = np.append(counts, 0)
        if counts[s] == 0:
            counts[s] = 1
    table = HuffmanTable.from_counts(counts)
    return table.to_bytes() + table.encode(symbols)


def huffman_decode(data: bytes, count: int, *, min_used: int = 1) -> np.ndarray:
    """Inverse of :func:`huffman_encode` for ``count`` symbols (DecodeError for a table with fewer codes)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    reader = Reader(data, label="Huffman stream")
    table = HuffmanTable.read(reader)
    if len(table.used) < min_used:
        raise DecodeError(f"corrupt Huffman table ({len(table.used)} codes, at least {min_used} expected)")
    return table.decode(data[reader.pos :], count)


# -- rANS ----------------------------------------------------------------------
def categorical(probabilities: np.ndarray | None = None) -> Any:
    """A categorical model over {0 … K−1}: fixed (K,) table, or None for per-symbol (N, K) tables."""
    if probabilities is None:
        return constriction.stream.model.Categorical(perfect=False)
    return constriction.stream.model.Categorical(np.asarray(probabilities, dtype=np.float64), perfect=False)


def laplace(low: int, high: int) -> Any:
    """Quantized Laplace on the integers low…high; params per symbol: mean, scale (> 0)."""
    return constriction.stream.model.QuantizedLaplace(int(low), int(high))


def gaussian(low: int, high: int) -> Any:
    """Quantized Gaussian on low…high; params per symbol: mean, std (> 0)."""
    return constriction.stream.model.QuantizedGaussian(int(low), int(high))


def cauchy(low: int, high: int) -> Any:
    """Quantized Cauchy on low…high; params per symbol: loc, scale (> 0)."""
    return constriction.stream.model.QuantizedCauchy(int(low), int(high))


#: the words a seeded rANS coder starts from: state 2^32, the least state the coder keeps while it codes
RANS_SEED = np.array([0, 1], dtype=np.uint32)
#: the most a seeded coder's encode step loses against −log2 p: its state is at least 2^8 times the
#: symbol's frequency, so the integer division costs at most log2(1 / (1 − 2^-8)) bits
RANS_ROUNDING_BITS = -float(np.log2(1 - 2.0**-8))


def rans_quantized_pmax(p: float) -> float:
    """An upper bound on the probability constriction's 24-bit quantization gives a symbol of model probability ``p``."""
    return min(1.0, p * (1 + 2**-8) + 2**-16)


def rans_min_bytes(count: int, pmax: float) -> int:
    """A lower bound on the bytes of a *seeded* rANS payload holding ``count`` symbols, none of whose
    models gives any symbol a probability above ``pmax`` (before quantization).

    Each symbol multiplies the coded number by at least 1 / q · (1 − 2^-8), q =
    :func:`rans_quantized_pmax` (``pmax``), starting from the seed's 2^32;
    the payload's bytes must hold that number.
    """
    bits = -float(np.log2(rans_quantized_pmax(pmax))) - RANS_ROUNDING_BITS
    return 4 + int(count * max(0.0, bits) // 8)


class RansEncoder:
    """Collects batches of symbols with their models; :meth:`finish` returns the rANS payload.

    ``add(symbols, model, *params)``: ``model`` is a model family from
    :func:`laplace` etc. with per-symbol parameter arrays (float64, one entry
    per symbol), or a fixed model (:func:`categorical` with a table) with no
    params. The decoder calls :meth:`RansDecoder.decode` with the same models
    and params, batch by batch, in the same order.
    """

    def __init__(self, *, seeded: bool = False) -> None:
        """``seeded``: start from the state 2^32 (:data:`RANS_SEED`) instead of the empty coder.

        An empty coder codes a run of its model's lowest symbol for free while
        its state is small, so a payload can be arbitrarily short for the
        symbols it holds. From the seed every symbol costs at least
        −log2 of its quantized probability less :data:`RANS_ROUNDING_BITS`,
        which makes :func:`rans_min_bytes` a sound lower bound; the payload
        grows by about 4 bytes. The decoder must be seeded too.
        """
        self._batches: list[tuple[np.ndarray, Any, tuple[np.ndarray, ...]]] = []
        self._seeded = seeded

    def add(self, symbols: np.ndarray, model: Any, *params: np.ndarray) -> None:
        symbols = np.ascontiguousarray(symbols, dtype=np.int32).ravel()
        params = tuple(_param(p, len(symbols)) for p in params)
        self._batches.append((symbols, model, params))

    def finish(self) -> bytes:
        ans = constriction.stream.stack.AnsCoder
        coder = ans(RANS_SEED.copy()) if self._seeded else ans()
        try:
            for symbols, model, params in reversed(self._batches):
                if len(symbols):
                    coder.encode_reverse(symbols, model, *params)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise EncodeError(f"rANS: cannot encode ({exc})") from None
        data = words_to_bytes(coder.get_compressed())
        # the last word is the top of the ANS head: drop its zero high bytes (restored on read)
        trim = 0
        while trim < 3 and data and data[-1 - trim] == 0:
            trim += 1
        return data[: len(data) - trim]


class RansDecoder:
    """Decodes what :class:`RansEncoder` wrote, batch by batch; :meth:`finish` checks the end."""

    def __init__(self, data: bytes, *, seeded: bool = False) -> None:
        """``seeded``: the payload of a seeded :class:`RansEncoder` (it must end on :data:`RANS_SEED`)."""
        self._seeded = seeded
        words = bytes_to_words(data)
        try:
            self._coder = constriction.stream.stack.AnsCoder(words)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise DecodeError(f"corrupt rANS payload ({exc})") from None

    def decode(self, model: Any, *params: np.ndarray, count: int | None = None) -> np.ndarray:
        """Decode one batch: with params, one symbol per param entry; a fixed model needs ``count``."""
        try:
            if params:
                n = len(params[0])
                if n == 0:
                    return np.zeros(0, dtype=np.int32)
                return self._coder.decode(model, *(_param(p, n) for p in params))
            if count is None:
                raise ValueError("a fixed model needs count")
            if count == 0:
                return np.zeros(0, dtype=np.int32)
            return np.asarray(self._coder.decode(model, int(count)), dtype=np.int32)
        except ValueError:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise DecodeError(f"corrupt rANS payload ({exc})") from None

    def is_empty(self) -> bool:
        """Whether no data is left; from then on every decode gives the lowest symbol of the model."""
        return bool(self._coder.is_empty())

    def finish(self) -> None:
        """DecodeError unless all data was consumed, down to the seed if seeded (a cheap check against corruption)."""
        if self._seeded:
            if not np.array_equal(self._coder.get_compressed(), RANS_SEED):
                raise DecodeError("corrupt rANS payload (it does not end on the coder's seed state)")
        elif not self._coder.is_empty():
            raise DecodeError("corrupt rANS payload (data left over after the last symbol)")


def _param(p: Any, n: int) -> np.ndarray:
    a = np.ascontiguousarray(p, dtype=np.float64)
    if a.ndim == 1 and len(a) != n:
        raise ValueError(f"parameter array has {len(a)} entries for {n} symbols")
    return a
