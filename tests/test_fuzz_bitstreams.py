"""Corrupt bitstreams: every registered codec's decoder is fuzzed (hypothesis) in a worker process.

CI runs ``CODECBENCH_FUZZ_EXAMPLES`` (default 60) mutations per codec; the long
campaign is ``codecbench fuzz --examples 1000`` (docs/robustness.md; figures in docs/campaigns.md). The
harness itself is checked against a plugin codec that segfaults and hangs on
corrupt input, and every codec is checked against streams whose header
declares a huge image (decompression bombs).
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

from codecbench.codecs.learned import container as bitstream
from codecbench.tools import fuzz
from codecbench.cli import main as cli_main
from codecbench.core.codec import available_codecs, create_codec
from codecbench.core.headers import jpeg2000_image, jpeg_scan_count, ljpeg_size
from codecbench.core.jxl_header import jpegxl_header
from codecbench.core.errors import DecodeError, EncodeError
from codecbench.tools.fuzz import ACCEPTABLE, FAILURES, Fuzzer, FuzzFailure, Mutation, Op, fix_container_check
from codecbench.core.images import MAX_PIXELS
from codecbench.engine.isolation import Worker
from codecbench.testing.cases import build_codec
from tests import faulty_plugin, hostile_streams as hostile

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


def test_forgery_steps_multiply_what_the_header_declares():
    """The new steps forge a J2K SIZ's components and bit depth, JPEG XL extra channels and JPEG scans (issue 21);
    a stream of another format is left as it is."""
    image = _image(25, 50)
    j2k = bytes(Op("components", count=64, at=16).apply(bytearray(create_codec("jpeg2000").encode(image))))
    components = jpeg2000_image(j2k).components
    assert len(components) == 64 and {c[:2] for c in components} == {(16, False)}
    jxl = bytes(Op("extra-channels", count=255).apply(bytearray(create_codec("jpegxl").encode(image))))
    assert 255 <= jpegxl_header(jxl).extra_channels < 263
    jpeg = bytes(Op("repeat-scan", at=3, count=150).apply(bytearray(hostile.progressive_jpeg())))
    assert jpeg_scan_count(jpeg) == 160
    png = create_codec("png").encode(image)
    for op in (Op("components", count=3, at=8), Op("extra-channels", count=9), Op("repeat-scan", count=9)):
        assert bytes(op.apply(bytearray(png))) == png and op.describe()


def test_jpeg_seeds_include_progressive_streams():
    """Repeated scans of a baseline seed stop at libjpeg's second-scan error; a progressive seed of each image
    lets them reach its scan loop (and the scan limit)."""
    info = fuzz.prepare("jpeg")
    # colour, colour, gray: each baseline seed followed by its progressive twin (6 scans for gray)
    assert [jpeg_scan_count(seed) for seed in info["seeds"]] == [1, 10, 1, 10, 1, 6]
    assert info["shapes"][::2] == info["shapes"][1::2]
    assert all(fuzz.probe("jpeg", seed)["outcome"] == "image" for seed in info["seeds"])


def test_mutations_draw_every_forgery_kind():
    kinds: set[str] = set()

    @settings(max_examples=300, database=None, deadline=None)
    @given(fuzz.mutations(2))
    def draw(m):
        kinds.update(op.kind for op in m.ops)

    draw()
    assert {"components", "extra-channels", "repeat-scan", "resize"} <= kinds


def test_a_decode_over_the_memory_limit_is_a_memory_failure():
    """Peak growth is judged against ``memory``: a decode that grows the worker by ~100 MiB (a real JPEG 2000
    stream of 3000×2000) is a ``memory`` failure at a 16 MiB limit though it returns an image, and so is one
    whose allocation the address-space cap stopped (OpenJPEG: "Size of tile data exceeds system limits")."""
    data = hostile.jpeg2000_bomb(3, np.uint8, 3000, 2000)
    roomy = Worker(memory_limit=4 << 30, label="fuzz worker", preload=("codecbench.tools.fuzz.probe",))
    with Fuzzer(None, timeout=TIMEOUT, memory=16 << 20, worker=roomy) as fuzzer:
        result = fuzzer.decode("jpeg2000", data)
        assert result["outcome"] == "memory" and result["peak_rss"] > 32 << 20, result
        assert "over the 16 MiB limit (then image)" in result["error"]
        assert fuzzer.decode("jpeg2000", create_codec("jpeg2000").encode(_image()))["outcome"] == "image"
    with Fuzzer(None, timeout=TIMEOUT, memory=16 << 20) as fuzzer:  # cap: twice the limit
        result = fuzzer.decode("jpeg2000", data)
        assert result["outcome"] == "memory" and "exceeds system limits" in result["error"], result


@pytest.mark.parametrize("argv, message", [
    (["png", "--examples", "0"], "--examples must be an integer at least 1, got 0"),
    (["png", "--examples", "-5"], "--examples must be an integer at least 1, got -5"),
    (["png", "--memory", "0"], "--memory must be a finite number above 0, got 0.0"),
    (["png", "--memory", "-1"], "--memory must be a finite number above 0"),
    (["png", "--timeout", "nan"], "--timeout must be a finite number above 0, got nan"),
    (["png", "--timeout", "inf"], "--timeout must be a finite number above 0, got inf"),
    (["nosuchcodec"], "unknown codec 'nosuchcodec'"),
    (["png:compress_level=99"], "compress_level"),
    (["--replay", "x.bin", "--codec", "nosuchcodec"], "unknown codec 'nosuchcodec'"),
])
def test_fuzz_command_refuses_bad_options_in_one_line(argv, message, capsys, tmp_path):
    assert cli_main(["fuzz", *argv, "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "f").exists()


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


@pytest.mark.filterwarnings("ignore:Invalid number of tiles")
@pytest.mark.parametrize("name", sorted(available_codecs()))
def test_huge_declared_size_is_refused_before_decoding(fuzzer, name):
    """Each codec's own forged bomb (:meth:`Codec.forge_oversized`: 65535×65535 in its header), decoded in the
    worker under its address-space limit: native allocations count too, not only Python's."""
    codec, _ = build_codec(name)  # an untrained stand-in where no checkpoint ships, as in the worker
    data = codec.encode(_image(25, 50))
    bomb = codec.forge_oversized(data, 65535, 65535)
    assert bomb != data, f"{name}: forge_oversized does not know this format"
    result = fuzzer.decode(name, bomb)
    assert result["outcome"] == "rejected", result
    assert result["seconds"] < 5


def test_learned_container_refuses_huge_declared_size():
    big = bitstream.Container("toy", bitstream.MAX_SIDE, bitstream.MAX_SIDE, 3, [b""], check=bitstream.CHECK_NONE)
    with pytest.raises(EncodeError, match="exceeds the container limit"):
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
        assert meta["outcome"] == "crash"
        assert meta["mutation"]
        assert "--replay" in meta["replay"]
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
    assert report["codec"] == "png"
    assert report["examples"] == 15
    assert report["failures"] == []
    stream = tmp_path / "good.bin"
    stream.write_bytes(create_codec("png").encode(_image()))
    assert cli_main(["fuzz", "--replay", str(stream), "--codec", "png"]) == 0
    assert "good.bin: image" in capsys.readouterr().out


def test_outcome_names_are_consistent():
    assert not set(ACCEPTABLE) & set(FAILURES)
    assert MAX_PIXELS > 0
