"""Corrupt bitstreams: every registered codec's decoder is fuzzed (hypothesis) in a worker process.

CI runs ``CODECBENCH_FUZZ_EXAMPLES`` (default 60) mutations per codec; the long
campaign is ``codecbench fuzz --examples 1000`` (the README's robustness section). The
harness itself is checked against a plugin codec that segfaults and hangs on
corrupt input, and every codec is checked against streams whose header
declares a huge image (decompression bombs).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

from codecbench import bitstream, fuzz
from codecbench.cli import main as cli_main
from codecbench.codec import available_codecs, create_codec
from codecbench.codecs._headers import ljpeg_size
from codecbench.errors import DecodeError
from codecbench.fuzz import ACCEPTABLE, FAILURES, Fuzzer, FuzzFailure, Mutation, Op, fix_container_check
from codecbench.images import MAX_PIXELS
from codecbench.isolation import Worker
from tests import faulty_plugin

EXAMPLES = int(os.environ.get("CODECBENCH_FUZZ_EXAMPLES", "60"))
#: per-decode limit in CI: far above any decode of the small seeds, far below the test timeout
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def failures_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-failures")


@pytest.fixture(scope="module")
def fuzzer(failures_dir):
    with Fuzzer(failures_dir, timeout=TIMEOUT) as f:
        yield f


# -- the mutations ------------------------------------------------------------------------------
def test_mutation_ops():
    seed = bytes(range(10))
    assert Op("truncate", at=3).apply(bytearray(seed)) == seed[:3]
    assert Op("truncate", at=13).apply(bytearray(seed)) == seed[:3]  # mod length
    assert Op("append", data=b"xy").apply(bytearray(seed)) == seed + b"xy"
    assert Op("random", data=b"zz").apply(bytearray(seed)) == b"zz"
    assert Op("zero-header", at=4).apply(bytearray(seed)) == bytes(4) + seed[4:]
    assert Op("zero-header", at=40).apply(bytearray(seed)) == bytes(10)
    assert Op("overwrite", at=8, data=b"\xff\xff\xff").apply(bytearray(seed)) == seed[:8] + b"\xff\xff"
    flipped = Op("bitflip", bits=(0, 9, 80)).apply(bytearray(seed))  # bit 80 wraps to bit 0
    assert flipped == bytes([0, 3]) + seed[2:]
    m = Mutation(0, (Op("append", data=b"!"), Op("truncate", at=4)))
    assert m.apply(seed) == seed[:4] and "append 1 bytes; truncate" in m.describe()


def test_crc_fix_up_reaches_the_payload_decoder():
    box = bitstream.Container("toy", 4, 5, 3, [b"payload"])
    data = bytearray(box.to_bytes())
    data[-6] ^= 0x10  # corrupt the payload: the CRC catches it ...
    with pytest.raises(DecodeError, match="CRC"):
        bitstream.Container.from_bytes(bytes(data), "toy")
    fixed = fix_container_check(bytes(data))  # ... unless it is recomputed, as the fuzzer may do
    assert bitstream.Container.from_bytes(fixed, "toy").sections != [b"payload"]
    assert fix_container_check(b"\xff\xd8not a container") == b"\xff\xd8not a container"


def test_resize_rewrites_the_declared_size_of_each_known_format():
    """The header-size mutation: the container (CRC recomputed), JPEG SOF, PNG IHDR (CRC recomputed), J2K SIZ."""
    box = bitstream.Container("toy", 24, 40, 3, [b"payload"])
    resized = Op("resize", size=(9792, 17)).apply(bytearray(box.to_bytes()))
    back = bitstream.Container.from_bytes(bytes(resized), "toy")  # the CRC holds
    assert (back.height, back.width, back.sections) == (9792, 17, [b"payload"])
    image = _image(25, 50)
    for name in ("jpeg", "png", "jpeg2000", "ljpeg"):
        data = bytes(Op("resize", size=(4097, 3)).apply(bytearray(create_codec(name).encode(image))))
        if name == "ljpeg":
            size = ljpeg_size(data)
        elif name == "jpeg2000":
            siz = data.index(b"\xff\x51")
            size = struct.unpack(">II", data[siz + 6 : siz + 14])
        else:
            with Image.open(io.BytesIO(data)) as im:  # header only: PNG's CRC was recomputed
                size = im.size
        assert tuple(size) == (3, 4097), name
    assert fuzz.rewrite_declared_size(b"unknown data", 5, 5) == b"unknown data"


def test_mutations_include_header_size_rewrites():
    """The strategy draws resize steps, with large and odd sizes (it did not before)."""
    seen: list[tuple[int, int]] = []

    @settings(max_examples=300, database=None, deadline=None)
    @given(fuzz.mutations(2))
    def draw(m):
        seen.extend(op.size for op in m.ops if op.kind == "resize")

    draw()
    assert len(seen) >= 20
    assert any(max(s) >= 4096 for s in seen) and any(min(s) % 2 for s in seen)


# -- every registered codec ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(available_codecs()))
def test_decoder_survives_mutated_bitstreams(fuzzer, name):
    report = fuzzer.fuzz(name, EXAMPLES, stop_on_failure=True)  # FuzzFailure names the saved input
    if report.skipped:
        pytest.skip(f"{name}: {report.skipped}")
    assert report.examples >= EXAMPLES
    assert report.failed == 0 and sum(report.outcomes[o] for o in ACCEPTABLE) == report.examples
    assert report.outcomes["rejected"] > 0  # the mutations do damage streams
    assert report.max_seconds < TIMEOUT


# -- streams declaring a huge image (decompression bombs) ------------------------------------------
def _image(h=24, w=40):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _replace(data: bytes, start: int, new: bytes) -> bytes:
    return data[:start] + new + data[start + len(new):]


def _bomb_png(data: bytes) -> bytes:
    ihdr = data.index(b"IHDR")
    body = struct.pack(">II", 60000, 60000) + data[ihdr + 12 : ihdr + 17]
    data = _replace(data, ihdr + 4, body)
    return _replace(data, ihdr + 17, struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF))


def _bomb_jpeg(data: bytes) -> bytes:
    sof = data.index(b"\xff\xc0")
    return _replace(data, sof + 5, struct.pack(">HH", 65535, 65535))


def _bomb_j2k(data: bytes) -> bytes:
    siz = data.index(b"\xff\x51")  # SIZ: Lsiz, Rsiz, Xsiz, Ysiz
    return _replace(data, siz + 6, struct.pack(">II", 60000, 60000))


def _bomb_jpegls(data: bytes) -> bytes:
    sof = data.index(b"\xff\xf7")  # SOF55: Lf, P, Y, X
    return _replace(data, sof + 5, struct.pack(">HH", 65535, 65535))


def _bomb_ljpeg(data: bytes) -> bytes:
    sof = data.index(b"\xff\xc3")  # SOF3: Lf, P, Y, X
    return _replace(data, sof + 5, struct.pack(">HH", 65535, 65535))


def _bomb_webp(data: bytes) -> bytes:
    vp8 = data.index(b"VP8 ")
    start = data.index(b"\x9d\x01\x2a", vp8) + 3  # after the key-frame start code: 14-bit width, height
    return _replace(data, start, struct.pack("<HH", 16383, 16383))


def _bomb_webp_lossless(data: bytes) -> bytes:
    vp8l = data.index(b"VP8L") + 8  # signature 0x2f, then 14-bit width-1 and height-1
    bits = int.from_bytes(data[vp8l + 1 : vp8l + 5], "little")
    bits = (bits & ~((1 << 28) - 1)) | 16383 | (16383 << 14)
    return _replace(data, vp8l + 1, bits.to_bytes(4, "little"))


def _bomb_avif(data: bytes) -> bytes:
    ispe = data.index(b"ispe") + 8  # version/flags, then 32-bit width and height
    return _replace(data, ispe, struct.pack(">II", 60000, 60000))


def _bomb_jpegxl(data: bytes) -> bytes:
    """Rewrite the SizeHeader of a 25×50 stream (non-small, 9-bit height, ratio 2:1: 15 bits) to declare
    512 × 1,000,000 (47 bits: the shift is 32 bits, so everything after keeps its alignment)."""
    bits = [(byte >> i) & 1 for byte in data[2:] for i in range(8)]
    read = lambda pos, n: sum(bits[pos + i] << i for i in range(n))  # noqa: E731
    assert (bits[0], read(1, 2), read(3, 9) + 1, read(12, 3)) == (0, 0, 25, 7)
    enc = lambda v, n: [(v >> i) & 1 for i in range(n)]  # noqa: E731
    new = [0] + enc(3, 2) + enc(1_000_000 - 1, 30) + enc(0, 3) + enc(0, 2) + enc(511, 9) + bits[15:]
    new += [0] * (-len(new) % 8)
    return b"\xff\x0a" + bytes(sum(new[i + j] << j for j in range(8)) for i in range(0, len(new), 8))


BOMBS = {
    "png": _bomb_png,
    "jpeg": _bomb_jpeg,
    "jpeg2000": _bomb_j2k,
    "jpeg2000-lossless": _bomb_j2k,
    "jpegls": _bomb_jpegls,
    "ljpeg": _bomb_ljpeg,
    "webp": _bomb_webp,
    "webp-lossless": _bomb_webp_lossless,
    "avif": _bomb_avif,
    "hevc": _bomb_avif,  # the same HEIF ispe box
    "jpegxl": _bomb_jpegxl,
    "jpegxl-lossless": _bomb_jpegxl,
}


def test_every_classical_codec_has_a_bomb_test():
    classical = {n for n, c in available_codecs().items() if c.__module__.startswith("codecbench.codecs.")
                 and ".learned." not in c.__module__}
    assert classical <= set(BOMBS), classical - set(BOMBS)


@pytest.mark.filterwarnings("ignore:Invalid number of tiles")
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_huge_declared_size_is_refused_before_decoding(fuzzer, name):
    codec = create_codec(name)
    bomb = BOMBS[name](codec.encode(_image(25, 50)))
    result = fuzzer.decode(name, bomb)  # in the worker, under its memory limit
    assert result["outcome"] == "rejected", result
    assert result["seconds"] < 5
    with pytest.raises(DecodeError, match="limit|too large|exceed|invalid|corrupt"):  # and in-process too
        codec.decode(bomb)


def test_learned_container_refuses_huge_declared_size():
    big = bitstream.Container("toy", bitstream.MAX_SIDE, bitstream.MAX_SIDE, 3, [b""], check=bitstream.CHECK_NONE)
    with pytest.raises(Exception):
        big.to_bytes()  # the writer refuses; so does the reader for a forged header:
    head = bytearray(b"CB\x01") + bitstream.codec_id("toy").to_bytes(2, "big")
    bitstream.write_varint(1, head)
    bitstream.write_varint(60000, head)
    bitstream.write_varint(60000, head)
    head += b"\x03\x00"
    with pytest.raises(DecodeError, match="exceeds"):
        bitstream.Container.from_bytes(bytes(head), "toy")


# -- the harness catches crashes and hangs and saves the input -------------------------------------
@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    return faulty_plugin.install(tmp_path_factory.mktemp("plugin"))


def test_fuzzer_catches_a_segfault_and_saves_the_input(plugin_dir, tmp_path):
    worker = Worker(memory_limit=2 << 30, env={"PYTHONPATH": str(plugin_dir)}, label="fuzz worker")
    with Fuzzer(tmp_path / "found", timeout=5, worker=worker) as fuzzer:
        with pytest.raises(FuzzFailure, match="segv-demo: crash .*SIGSEGV") as exc:
            fuzzer.fuzz("segv-demo", 200, stop_on_failure=True)
        saved = sorted((tmp_path / "found").glob("segv-demo-crash-*.bin"))
        assert len(saved) == 1 and str(saved[0]) in str(exc.value)
        meta = json.loads(saved[0].with_suffix(".json").read_text())
        assert meta["outcome"] == "crash" and meta["mutation"] and "--replay" in meta["replay"]
        assert saved[0].read_bytes()[:2] != b"FD"
        ((_, again),) = fuzzer.replay("segv-demo", saved)  # the saved input reproduces it
        assert again["outcome"] == "crash"
        hang = b"FD\xff\xff\x00\x01\x03" + bytes(3)
        result = fuzzer.decode("segv-demo", hang)
        assert result["outcome"] == "hang" and 5 <= result["seconds"] < 60
        ok = fuzzer.decode("segv-demo", b"FD\x00\x01\x00\x01\x03abc")  # a fresh worker took over
        assert ok["outcome"] == "image" and tuple(ok["shape"]) == (1, 1, 3)


def test_fuzz_command(tmp_path, capsys):
    rc = cli_main(["fuzz", "png", "--examples", "15", "--out", str(tmp_path / "f"), "--json", str(tmp_path / "r.json"),
                   "--timeout", "30"])
    out = capsys.readouterr().out
    assert rc == 0 and "| png | 15 |" in out
    (report,) = json.loads((tmp_path / "r.json").read_text())
    assert report["codec"] == "png" and report["examples"] == 15 and report["failures"] == []
    stream = tmp_path / "good.bin"
    stream.write_bytes(create_codec("png").encode(_image()))
    assert cli_main(["fuzz", "--replay", str(stream), "--codec", "png"]) == 0
    assert "good.bin: image" in capsys.readouterr().out


def test_outcome_names_are_consistent():
    assert not set(ACCEPTABLE) & set(FAILURES)
    assert MAX_PIXELS > 0
