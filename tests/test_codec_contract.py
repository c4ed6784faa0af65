"""The codec contract, checked for every registered codec (``available_codecs()``): a new codec opts in by registering.

Each codec is tested at the first and last point of its default sweep (its
default settings if it has no sweep) on a 64×64 crop of a real photograph
(Kodak): the round trip gives a uint8 image of the input's shape (bit-exact
for a lossless codec); the bytes alone, decoded in a fresh Python process,
give the same image; empty, truncated, foreign and garbage streams raise
:class:`~codecbench.core.errors.DecodeError` and nothing else; a stream whose
header :meth:`~codecbench.core.codec.Codec.forge_oversized` rewrote to declare a
huge image is refused quickly, without allocating it; the codec names the
library versions that make its bits; its canonical spec re-parses to the
same codec.

A learned codec whose checkpoint is not shipped yet is tested with an
untrained stand-in checkpoint exported by its trainable model (the contract
does not depend on the weights); one without a trainable is skipped, naming
the missing file.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from codecbench.core.codec import Codec, Spec, available_codecs, create_codec, format_value, get_codec_class
from codecbench.codecs.learned.base import TorchCodec
from codecbench.core.errors import DecodeError
from codecbench.core.images import MAX_PIXELS, load_image
from tests.codec_cases import all_cases, build_codec
from tests.conftest import shared_data_root

#: the crop every codec codes (pixels a side; larger where a codec's min_size asks for it)
SIDE = 64
#: the forged declaration: 4.3 Gpx, far over MAX_PIXELS (narrower header fields take it modulo their range,
#: e.g. WebP's 14 bits: 16383×16383, still 2.8× MAX_PIXELS)
HUGE = 65535
#: a refusal may allocate this much (a header parse), far below the smallest declared image (805 MB)
ALLOCATION_LIMIT = 16 << 20
REFUSAL_SECONDS = 2.0

pytestmark = pytest.mark.filterwarnings("ignore:Invalid number of tiles")  # glymur, on the forged J2K SIZ


CASES = all_cases()


@dataclass
class Coded:
    """One codec at one point, the crop's stream and its in-process decode; ``skip`` says why none."""

    codec: Codec | None = None
    checkpoint: str | None = None  # the stand-in checkpoint a fresh process must load too
    image: np.ndarray | None = None
    data: bytes = b""
    decoded: np.ndarray | None = None
    skip: str = ""


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: set CODECBENCH_DATA to a folder holding kodak/")
    return load_image(root / "kodak" / "kodim23.png")


@pytest.fixture(scope="module")
def coded_cache() -> dict[str, Coded]:
    return {}


def _entry(spec: str, photo: np.ndarray, cache: dict[str, Coded]) -> Coded:
    """The codec and stream of ``spec``, built once per module."""
    if spec not in cache:
        entry = Coded()
        try:
            codec, entry.checkpoint = build_codec(spec)
        except pytest.skip.Exception as exc:
            entry.skip = str(exc)
        else:
            side = max(SIDE, codec.min_size)
            entry.codec, entry.image = codec, np.ascontiguousarray(photo[200 : 200 + side, 300 : 300 + side])
            entry.data = codec.encode(entry.image)
            entry.decoded = codec.decode(entry.data)
        cache[spec] = entry
    return cache[spec]


@pytest.fixture
def coded(request, photo, coded_cache) -> Coded:
    """The case's codec and stream (skipped, with the reason, where the codec cannot be built)."""
    entry = _entry(request.node.callspec.params["spec"], photo, coded_cache)
    if entry.skip:
        pytest.skip(entry.skip)
    return entry


FRESH_DECODE = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import numpy as np
    from codecbench.core.codec import Spec, create_codec, get_codec_class

    folder = Path(sys.argv[1])
    for i, case in enumerate(json.loads((folder / "cases.json").read_text())):
        if case["checkpoint"]:
            parsed = Spec.parse(case["spec"])
            codec = get_codec_class(parsed.name)(checkpoint=case["checkpoint"], threads=1, **parsed.raw)
        else:
            codec = create_codec(case["spec"], threads=1)
        np.save(folder / f"{i}.npy", codec.decode((folder / f"{i}.bin").read_bytes()))
''')


@pytest.fixture(scope="module")
def fresh_decodes(photo, coded_cache, tmp_path_factory) -> dict[str, np.ndarray]:
    """Every case's stream decoded in one fresh Python process, from its bytes and spec only."""
    folder = tmp_path_factory.mktemp("fresh-decode")
    cases = []
    for spec in CASES:
        entry = _entry(spec, photo, coded_cache)
        if entry.codec is None:
            continue
        (folder / f"{len(cases)}.bin").write_bytes(entry.data)
        cases.append({"spec": entry.codec.spec, "checkpoint": entry.checkpoint, "case": spec})
    (folder / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run([sys.executable, "-c", FRESH_DECODE, str(folder)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return {case["case"]: np.load(folder / f"{i}.npy") for i, case in enumerate(cases)}


@pytest.mark.parametrize("spec", CASES)
def test_round_trip_keeps_shape_and_dtype_lossless_is_exact(spec, coded):
    decoded, image = coded.decoded, coded.image
    assert isinstance(coded.data, bytes) and coded.data
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    if coded.codec.lossless:
        np.testing.assert_array_equal(decoded, image)
    else:
        assert not np.array_equal(decoded, np.zeros_like(image))


@pytest.mark.parametrize("spec", CASES)
def test_fresh_process_decodes_the_bytes_alike(spec, coded, fresh_decodes):
    """Nothing but the bytes (and the configuration) carries the image: no state of the encoding process."""
    np.testing.assert_array_equal(fresh_decodes[spec], coded.decoded)


def _foreign(image: np.ndarray, codec: Codec) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG" if codec.name == "png" else "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("spec", CASES)
def test_bad_streams_raise_decode_error_only(spec, coded):
    """Empty, cut, foreign and garbage streams raise DecodeError, never another exception. A stream cut
    only in its trailer may decode, but then to the very image of the whole stream (a JPEG without its
    EOI marker whose scan data is complete does): never to another image, silently."""
    data, codec = coded.data, coded.codec
    garbage = np.random.default_rng(7).integers(0, 256, 300, dtype=np.uint8).tobytes()
    bad = {"empty": b"", "half": data[: len(data) // 2], "first 12 bytes": data[:12], "last byte cut": data[:-1],
           "garbage": garbage, "another format": _foreign(coded.image, codec)}
    for what, stream in bad.items():
        try:
            out = codec.decode(stream)
        except DecodeError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point: anything but DecodeError is a failure
            pytest.fail(f"{spec}: {what} stream raised {type(exc).__name__}: {exc}, not DecodeError")
        if what == "last byte cut" and np.array_equal(out, coded.decoded):
            continue
        pytest.fail(f"{spec}: {what} stream ({len(stream)} bytes) decoded to a {out.shape} image")


def _refused_quickly_without_allocating(codec: Codec, forged: bytes) -> tuple[float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DecodeError):
            codec.decode(forged)
        return time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("spec", CASES)
def test_forged_oversized_header_is_refused_without_allocating(spec, coded):
    forged = coded.codec.forge_oversized(coded.data, HUGE, HUGE)
    assert forged != coded.data, f"{spec}: forge_oversized left the stream unchanged; override it for this format"
    seconds, peak = _refused_quickly_without_allocating(coded.codec, forged)
    assert seconds < REFUSAL_SECONDS and peak < ALLOCATION_LIMIT, (seconds, peak)


@pytest.mark.parametrize("spec", [s for s in CASES if issubclass(get_codec_class(Spec.parse(s).name), TorchCodec)])
def test_learned_payload_too_small_for_a_declared_tile_is_refused(spec, coded):
    """Within the container's bounds, one tile of the codec's tile side over a 64×64 payload: a decode bomb
    the container accepts, which the codec must refuse before any network runs (its
    :meth:`TorchCodec.min_tile_payload` bound, or its entropy decoder running out of data)."""
    side = coded.codec.tile_side() or 1024
    assert side * side <= MAX_PIXELS
    seconds, peak = _refused_quickly_without_allocating(coded.codec, coded.codec.forge_oversized(coded.data, side, side))
    assert seconds < REFUSAL_SECONDS and peak < ALLOCATION_LIMIT, (seconds, peak)


@pytest.mark.parametrize("spec", CASES)
def test_identity_names_library_versions(spec, coded):
    versions = coded.codec.library_versions()
    assert versions and all(isinstance(v, str) and v and v != "0.0.0" for v in versions.values()), versions


@pytest.mark.parametrize("spec", CASES)
def test_spec_round_trip(spec, coded):
    codec = coded.codec
    parsed = Spec.parse(codec.spec)
    assert get_codec_class(parsed.name) is type(codec)
    assert type(codec).parse_settings(parsed.raw) == codec.config
    if coded.checkpoint is None:  # a shipped codec: the spec alone rebuilds it
        again = create_codec(codec.spec, threads=1)
        assert again.spec == codec.spec and again.config == codec.config
    if codec.param is not None and Spec.parse(spec).raw:
        assert format_value(codec.setting) == Spec.parse(spec).raw[codec.param]


def test_every_registered_codec_is_a_case():
    assert {Spec.parse(s).name for s in CASES} == set(available_codecs())
