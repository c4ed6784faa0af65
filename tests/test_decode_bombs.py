"""Decode bombs: hand-made learned-codec streams whose payload is too small for the size they declare.

Each learned decoder knows a lower bound on the payload bytes of a tile
(:meth:`TorchCodec.min_tile_payload`: rANS bits per latent, Deflate's largest
ratio, a JPEG's headers and bits per block, a Huffman bit per residual) and
must reject a stream below it with a DecodeError before any network runs and
before the image is allocated. The bound must also be sound: the smallest
streams the encoders write (flat images) still decode.
"""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from codecbench.codecs.learned.container import Container, pack_sections
from codecbench.core.codec import create_codec
from codecbench.core.headers import jpeg_frame
from codecbench.codecs.learned.coders import deflate
from codecbench.core.errors import DecodeError

#: far below the declared images (a 9792×9792 RGB image is 274 MiB), far above a header parse
ALLOCATION_LIMIT = 16 << 20


@pytest.fixture(scope="module")
def codecs():
    return {name: create_codec(name, threads=1) for name in ("cnn-ae", "ssdcae", "comcnn", "mlp-huffman", "mlp-ans")}


def _stream(codec, height: int, width: int, tiles: list[list[bytes]], channels: int = 3) -> bytes:
    """A container as the codec writes it: one tile's sections as they are, several tiles packed."""
    sections = tiles[0] if len(tiles) == 1 else [pack_sections(t) for t in tiles]
    return Container(codec.name, height, width, channels, sections, codec._header_settings(),
                     codec.format_version, codec.check).to_bytes()


def _rejects_without_allocating(codec, data: bytes, match: str = "payload bytes") -> None:
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match=match):
            codec.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < ALLOCATION_LIMIT


def _jpeg(width: int, height: int, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(buf, format="JPEG", quality=5, **options)
    return buf.getvalue()


def test_cnn_ae_empty_tiles_declaring_9792_square(codecs):
    """The issue's bomb: 316 bytes, 100 tiles with empty rANS and escape sections (decoded for 247 s)."""
    c = codecs["cnn-ae"]
    data = _stream(c, 9792, 9792, [[b"", b""]] * 100)
    assert len(data) == 316
    _rejects_without_allocating(c, data)


def test_cnn_ae_single_tile_with_a_short_payload(codecs):
    c = codecs["cnn-ae"]
    _rejects_without_allocating(c, _stream(c, 1024, 1024, [[bytes(200), b""]]))


def test_ssdcae_tiny_deflate_declaring_a_huge_image(codecs):
    c = codecs["ssdcae"]
    ranges = bytes(4 * c.model.latent)
    data = _stream(c, 9792, 9792, [[ranges, deflate(bytes(1000))]])
    _rejects_without_allocating(c, data)


def test_comcnn_truncated_jpegs_of_the_compact_size(codecs):
    """16 tiles of 4096×4096, each a 512×512 JPEG header with 10 bytes of scan data."""
    c = codecs["comcnn"]
    full = _jpeg(512, 512)
    short = full[: jpeg_frame(full).scan_start + 10]
    _rejects_without_allocating(c, _stream(c, 4096, 4096, [[short]] * 16))


@pytest.mark.parametrize("options, match", [({"progressive": True}, "SOF2"), ({}, "compact JPEG is 4000×4000")])
def test_comcnn_refuses_other_jpegs_before_decoding_them(codecs, options, match):
    """A progressive JPEG (EOB runs: far below 2 bits a block) or one of another size never reaches Pillow."""
    c = codecs["comcnn"]
    jpeg = _jpeg(32, 32, **options) if options else _jpeg(8, 8)
    if not options:  # an 8×8 JPEG whose frame header declares 4000×4000 (a bomb for the JPEG decoder)
        f = jpeg_frame(jpeg)
        jpeg = jpeg[: f.offset + 1] + (4000).to_bytes(2, "big") * 2 + jpeg[f.offset + 5 :]
    _rejects_without_allocating(c, _stream(c, 64, 64, [[jpeg]]), match)


def test_mlp_huffman_tiles_below_a_bit_a_residual(codecs):
    c = codecs["mlp-huffman"]
    _rejects_without_allocating(c, _stream(c, 4096, 4096, [[b"\x00" * 10] * 3] * 4))


@pytest.mark.parametrize("name, shape", [("cnn-ae", (48, 80, 3)), ("ssdcae", (128, 256, 3)),
                                         ("comcnn", (30, 44, 3)), ("comcnn", (30, 44, 1)),
                                         ("mlp-huffman", (20, 30, 3)), ("mlp-ans", (20, 30, 3)),
                                         ("mlp-ans", (24, 20, 1))])
def test_the_bound_never_refuses_what_the_encoder_writes(codecs, name, shape):
    """Flat images give the smallest payloads: they stay above the bound and decode."""
    c = codecs[name]
    for value in (0, 128, 255):
        image = np.full(shape, value, np.uint8)
        assert c.decode(c.encode(image)).shape == shape


def test_mlp_ans_50_byte_stream_declaring_862x450(codecs):
    """The fuzz campaign's hang: 34 payload bytes under a header declaring 862×450 (11.3 s before its error).

    Seeded rANS spends at least 0.10 bit a value, so 862×450×3 values need 14.9 kB.
    """
    import time

    c = codecs["mlp-ans"]
    data = _stream(c, 450, 862, [[bytes(range(0x5A, 0x5A + 34))]])
    assert len(data) == 50
    t0 = time.perf_counter()
    _rejects_without_allocating(c, data)
    assert time.perf_counter() - t0 < 1


def test_mlp_ans_real_image_with_a_black_end_stays_above_the_bound(codecs, data_root):
    """A Kodak crop whose last rows (the decoder's last values) are black: once free in rANS, now coded."""
    from codecbench.core.images import load_image

    c = codecs["mlp-ans"]
    image = load_image(data_root / "kodak" / "kodim23.png")[:48, :64].copy()
    image[16:] = 0
    data = c.encode(image)
    payload = sum(len(s) for s in Container.from_bytes(data, c.name, format_versions=(c.format_version,)).sections)
    assert payload >= c.min_tile_payload([], image.shape) > 0
    assert np.array_equal(c.decode(data), image)
