"""Decode bombs: hand-made learned-codec streams whose payload is too small for the size they declare, and
classical streams whose header multiplies a size by components, extra channels or scans.

Each learned decoder knows a lower bound on the payload bytes of a tile
(:meth:`TorchCodec.min_tile_payload`: rANS bits per latent, Deflate's largest
ratio, a JPEG's headers and bits per block, a Huffman bit per residual) and
must reject a stream below it with a DecodeError before any network runs and
before the image is allocated. The bound must also be sound: the smallest
streams the encoders write (flat images) still decode.

The classical decoders bound, from the header, the decoded samples (JPEG
2000: bytes, all components; JPEG XL: colour plus extra channels) by those of
the largest image the harness takes, and a JPEG's scans by MAX_JPEG_SCANS
(streams built in ``tests/hostile_streams.py``).
"""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from codecbench.codecs._common import MAX_DECODED_SAMPLES, MAX_JPEG_SCANS
from codecbench.codecs.learned.container import Container
from codecbench.core.codec import create_codec
from codecbench.core.headers import jpeg2000_image, jpeg_frame, jpeg_scan_count, repeat_jpeg_scan
from codecbench.core.images import MAX_PIXELS
from codecbench.core.jxl_header import add_jpegxl_extra_channels, declare_jpegxl_size, jpegxl_header
from codecbench.codecs.learned.coders import deflate
from codecbench.core.errors import DecodeError
from tests import hostile_streams as hostile
from tests.hostile_streams import rejects_without_allocating

#: far below the declared images (a 9792×9792 RGB image is 274 MiB), far above a header parse


@pytest.fixture(scope="module")
def codecs():
    return {name: create_codec(name, threads=1) for name in ("cnn-ae", "ssdcae", "comcnn", "mlp-huffman", "mlp-ans")}


def _jpeg(width: int, height: int, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(buf, format="JPEG", quality=5, **options)
    return buf.getvalue()


def test_cnn_ae_empty_tiles_declaring_9792_square(codecs):
    """The issue's bomb: 316 bytes, 100 tiles with empty rANS and escape sections (decoded for 247 s)."""
    c = codecs["cnn-ae"]
    data = hostile.learned_stream(c, 9792, 9792, [[b"", b""]] * 100)
    assert len(data) == 316
    rejects_without_allocating(c, data)


def test_cnn_ae_single_tile_with_a_short_payload(codecs):
    c = codecs["cnn-ae"]
    rejects_without_allocating(c, hostile.learned_stream(c, 1024, 1024, [[bytes(200), b""]]))


def test_ssdcae_tiny_deflate_declaring_a_huge_image(codecs):
    c = codecs["ssdcae"]
    ranges = bytes(4 * c.model.latent)
    data = hostile.learned_stream(c, 9792, 9792, [[ranges, deflate(bytes(1000))]])
    rejects_without_allocating(c, data)


def test_comcnn_truncated_jpegs_of_the_compact_size(codecs):
    """16 tiles of 4096×4096, each a 512×512 JPEG header with 10 bytes of scan data."""
    c = codecs["comcnn"]
    full = _jpeg(512, 512)
    short = full[: jpeg_frame(full).scan_start + 10]
    rejects_without_allocating(c, hostile.learned_stream(c, 4096, 4096, [[short]] * 16))


@pytest.mark.parametrize("options, match", [({"progressive": True}, "SOF2"), ({}, "compact JPEG is 4000×4000")])
def test_comcnn_refuses_other_jpegs_before_decoding_them(codecs, options, match):
    """A progressive JPEG (EOB runs: far below 2 bits a block) or one of another size never reaches Pillow."""
    c = codecs["comcnn"]
    jpeg = _jpeg(32, 32, **options) if options else _jpeg(8, 8)
    if not options:  # an 8×8 JPEG whose frame header declares 4000×4000 (a bomb for the JPEG decoder)
        f = jpeg_frame(jpeg)
        jpeg = jpeg[: f.offset + 1] + (4000).to_bytes(2, "big") * 2 + jpeg[f.offset + 5 :]
    rejects_without_allocating(c, hostile.learned_stream(c, 64, 64, [[jpeg]]), match)


def test_mlp_huffman_tiles_below_a_bit_a_residual(codecs):
    c = codecs["mlp-huffman"]
    rejects_without_allocating(c, hostile.learned_stream(c, 4096, 4096, [[b"\x00" * 10] * 3] * 4))


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
    c = codecs["mlp-ans"]
    data = hostile.learned_stream(c, 450, 862, [[bytes(range(0x5A, 0x5A + 34))]])
    assert len(data) == 50
    rejects_without_allocating(c, data)  # "payload bytes": refused from the header, before decoding


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


# -- classical decoders: what multiplies a declared size (issue 21) --------------------------------
@pytest.fixture(scope="module")
def issue_bombs():
    return hostile.issue_streams()


@pytest.mark.parametrize("name, match", [
    ("j2k-64-components-4000.j2k", r"4000×4000, 64 components of 8 bits: 1024000000 decoded bytes, over the limit"),
    ("j2k-16bit-9797.j2k", r"9797×9797, 3 components of 16 bits: 575887254 decoded bytes, over the limit"),
    ("jxl-255-extra-2048.jxl", r"2048×2048 with 255 extra channels: 1082130432 decoded samples, over the limit"),
    ("jpeg-20000-scans.jpg", rf"more than {MAX_JPEG_SCANS} scans"),
])
def test_issue_bombs_are_refused_from_the_header(issue_bombs, name, match):
    """The three streams of the issue (5.2 GB, 2.3 GB, 1.2 GB and 14 s, 25 s to decode before) are refused from
    their headers, before the library sees them."""
    codec_name, data = issue_bombs[name]
    rejects_without_allocating(create_codec(codec_name, threads=1), data, match)


@pytest.mark.parametrize("components, dtype, side", [
    (1, np.uint8, 64), (3, np.uint8, 64), (4, np.uint8, 64), (3, np.uint16, 64), (64, np.uint8, 64),
    (1, np.uint8, 9797), (3, np.uint8, 9797), (1, np.uint16, 9797), (2, np.uint16, 9797), (3, np.uint16, 9797),
    (4, np.uint8, 8485), (18, np.uint8, 4000), (19, np.uint8, 4000), (16384, np.uint8, 133), (16384, np.uint8, 8),
])
def test_jpeg2000_is_refused_exactly_above_the_decoded_bytes_limit(components, dtype, side):
    """Refused for its size iff components × side² × bytes a sample exceeds MAX_DECODED_SAMPLES (or side²
    MAX_PIXELS); under it, refused from the header all the same unless 8-bit gray or RGB, else decoded."""
    data = hostile.jpeg2000_bomb(components, dtype, side, side)
    declared = components * side * side * np.dtype(dtype).itemsize
    assert jpeg2000_image(data).decoded_bytes() == declared
    codec = create_codec("jpeg2000", threads=1)
    if declared > MAX_DECODED_SAMPLES or side * side > MAX_PIXELS:
        rejects_without_allocating(codec, data, "over the limit|pixel limit")
    elif components not in (1, 3) or dtype != np.uint8:
        rejects_without_allocating(codec, data, "decodes 8-bit gray or RGB only")
    elif side == 64:  # cheap to decode
        assert codec.decode(data).shape == (64, 64, components)


def test_jpeg2000_header_counts_subsampled_components_and_reads_jp2_files(tmp_path):
    """Each component's own grid (XRsiz, YRsiz, the image offset) counts; a JP2 file's jp2c box is read."""
    import glymur

    siz = bytearray(hostile.jpeg2000_bomb(3, np.uint8, 1001, 500))
    siz[2 + 14 : 2 + 22] = (3).to_bytes(4, "big") + (1).to_bytes(4, "big")  # XOsiz 3, YOsiz 1
    siz[2 + 6 : 2 + 14] = (1004).to_bytes(4, "big") + (501).to_bytes(4, "big")
    siz[2 + 44 : 2 + 46] = siz[2 + 47 : 2 + 49] = b"\x02\x02"  # chroma at half resolution
    image = jpeg2000_image(bytes(siz))
    assert (image.width, image.height) == (1001, 500)
    assert image.decoded_bytes() == 1001 * 500 + 2 * (502 - 2) * (251 - 1)
    path = tmp_path / "x.jp2"
    glymur.Jp2k(str(path), data=np.full((16, 24, 3), 9, np.uint8), numres=1)
    assert jpeg2000_image(path.read_bytes()) == jpeg2000_image(path.read_bytes()[path.read_bytes().index(b"\xff\x4f"):])


def _jxl(array: np.ndarray, **options) -> bytes:
    import imagecodecs

    return imagecodecs.jpegxl_encode(array, **options)


@pytest.mark.parametrize("label, options", [
    ("rgb lossy", {"level": 75}), ("rgb lossless", {"lossless": True}), ("gray", {"lossless": True}),
    ("rgba", {"lossless": True}), ("16-bit", {"lossless": True}), ("float", {"lossless": True}),
    ("3 extra", {"lossless": True, "planar": True, "photometric": "gray"}),
    ("255 extra", {"lossless": True, "planar": True, "photometric": "gray", "effort": 1}),
])
def test_jpegxl_header_agrees_with_libjxl(label, options):
    """Size and extra-channel count read from the header are what libjxl decodes, bare codestream or container."""
    import imagecodecs

    rng = np.random.default_rng(3)
    shapes = {"gray": (20, 18), "rgba": (16, 24, 4), "3 extra": (4, 16, 8), "255 extra": (256, 8, 8)}
    shape = shapes.get(label, (61, 93, 3))
    dtype = np.uint16 if label == "16-bit" else np.uint8
    array = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype)
    if label == "float":
        array = rng.random(shape, np.float32)
    data = _jxl(array, **options)
    decoded = imagecodecs.jpegxl_decode(data)
    planar = options.get("planar", False)
    height, width = decoded.shape[1:3] if planar else decoded.shape[:2]
    channels = decoded.shape[0] if planar else (decoded.shape[2] if decoded.ndim == 3 else 1)
    head = jpegxl_header(data)
    assert (head.width, head.height) == (width, height)
    assert head.extra_channels == channels - (3 if channels in (3, 4) and not planar else 1)
    forged = jpegxl_header(add_jpegxl_extra_channels(declare_jpegxl_size(data, 3000, 2000), 300))
    assert (forged.width, forged.height) == (3000, 2000) and 300 <= forged.extra_channels < 308


def test_jpegxl_header_is_read_across_jxlp_parts():
    """A container may split the codestream into ``jxlp`` parts anywhere, the header included: they are joined."""
    bomb = hostile.jpegxl_bomb()
    start = bomb.index(b"jxlc") + 4  # the jxlc box is the last one
    stream = bomb[start:]
    parts = [(0).to_bytes(4, "big") + stream[:5], (1 | 1 << 31).to_bytes(4, "big") + stream[5:]]  # index, last flag
    split = bomb[: start - 8] + b"".join((8 + len(p)).to_bytes(4, "big") + b"jxlp" + p for p in parts)
    assert jpegxl_header(split) == jpegxl_header(bomb) and jpegxl_header(bomb).extra_channels == 255
    rejects_without_allocating(create_codec("jpegxl", threads=1), split, "255 extra channels")


@pytest.mark.parametrize("extra, side", [(0, 9797), (1, 8485), (5, 6000), (23, 3000), (24, 3000), (255, 1040),
                                         (255, 1070), (4089, 265)])
def test_jpegxl_is_refused_exactly_above_the_decoded_samples_limit(extra, side):
    """Refused iff side² × (3 + extra channels) exceeds MAX_DECODED_SAMPLES, whatever the pixel count."""
    data = add_jpegxl_extra_channels(declare_jpegxl_size(_jxl(np.zeros((8, 8, 3), np.uint8), lossless=True),
                                                         side, side), extra)
    head = jpegxl_header(data)
    assert head.width == side and 0 <= head.extra_channels - extra < 8  # rounded up to keep the alignment
    codec = create_codec("jpegxl-lossless", threads=1)
    if side * side * (3 + head.extra_channels) > MAX_DECODED_SAMPLES:
        rejects_without_allocating(codec, data, "extra channels: .* over the limit")
    else:
        with pytest.raises(DecodeError, match="corrupt bitstream"):  # reaches libjxl, which finds no such frame
            codec.decode(data)


def test_jpeg_scans_are_counted_as_libjpeg_reads_them():
    """Baseline 1, progressive colour 10 and gray 6 (libjpeg's scripts); restart markers, 0xFF stuffing and the
    scans of an Exif thumbnail do not count, nor scans after a sequential frame's all-component first scan."""
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 256, (64, 64, 3), np.uint8)  # entropy-coded data full of stuffed 0xFF bytes

    def jpeg(image, **options):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=95, **options)
        return buffer.getvalue()

    assert jpeg_scan_count(jpeg(noise)) == 1
    assert jpeg_scan_count(jpeg(noise, progressive=True)) == 10
    assert jpeg_scan_count(jpeg(noise[..., 0], progressive=True)) == 6
    assert jpeg_scan_count(jpeg(noise, progressive=True, restart_marker_blocks=1)) == 10
    thumbnail = jpeg(noise[:16, :16], progressive=True)
    exif = b"Exif\x00\x00" + thumbnail  # not a valid TIFF: only the segment's length matters here
    with_app1 = (b"\xff\xd8\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif) + jpeg(noise, progressive=True)[2:]
    assert jpeg_scan_count(with_app1) == 10
    assert jpeg_scan_count(b"not a jpeg") == 0 and jpeg_scan_count(with_app1, stop=3) == 3
    baseline = jpeg(noise)  # one scan of every component: libjpeg refuses a second one, so no more count
    assert jpeg_scan_count(repeat_jpeg_scan(baseline, 0, 500)) == 1
    with pytest.raises(DecodeError):
        create_codec("jpeg").decode(repeat_jpeg_scan(baseline, 0, 500))


def test_jpeg_scan_limit_is_the_boundary():
    """Up to MAX_JPEG_SCANS scans decode (a repeated scan is legal T.81, libjpeg only warns); one more is refused,
    by the lossless JPEG decoder (libjpeg-turbo too, which re-decodes repeated non-interleaved scans) as well."""
    codec = create_codec("jpeg", threads=1)
    base = hostile.progressive_jpeg()
    at_limit = repeat_jpeg_scan(base, -1, MAX_JPEG_SCANS - jpeg_scan_count(base))
    assert jpeg_scan_count(at_limit) == MAX_JPEG_SCANS
    assert codec.decode(at_limit).shape == (64, 64, 3)
    rejects_without_allocating(codec, repeat_jpeg_scan(at_limit, -1, 1), rf"more than {MAX_JPEG_SCANS} scans")
    ljpeg = create_codec("ljpeg", threads=1)
    plane = np.arange(256, dtype=np.uint8).reshape(16, 16)
    lossless = repeat_jpeg_scan(hostile.lossless_jpeg_planes(plane), -1, MAX_JPEG_SCANS - 3)
    assert jpeg_scan_count(lossless) == MAX_JPEG_SCANS
    assert np.array_equal(ljpeg.decode(lossless), np.repeat(plane[..., None], 3, 2))
    rejects_without_allocating(ljpeg, repeat_jpeg_scan(lossless, -1, 1), rf"more than {MAX_JPEG_SCANS} scans")


def test_a_plugin_jpeg_on_the_public_pillow_base_gets_the_scan_limit():
    """The limit lives in ``PillowCodec`` for every JPEG it opens, not only in the built-in ``jpeg`` codec."""
    from codecbench.codecs import PillowCodec

    class Jpeg444(PillowCodec):  # what a plug-in author writes (not registered here: no decorator)
        name = "jpeg444-test"
        format = "JPEG"

    codec = Jpeg444()
    base = hostile.progressive_jpeg()
    too_many = repeat_jpeg_scan(base, -1, MAX_JPEG_SCANS + 1 - jpeg_scan_count(base))
    rejects_without_allocating(codec, too_many, rf"more than {MAX_JPEG_SCANS} scans")
