"""The codec contract, one function per promise; each raises :class:`ContractFailure` saying what broke.

The checks need no pytest and no data folder: :func:`code` builds a codec at
one point and codes the contract image (:mod:`codecbench.testing.cases`), and
each ``check_*`` function tests one promise of the interface
(:class:`~codecbench.core.codec.Codec`) on the result.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.core.codec import Codec, Spec, create_codec, format_value, get_codec_class
from codecbench.core.errors import CodecbenchError, DecodeError, SpecError
from codecbench.core.images import MAX_PIXELS
from codecbench.testing.cases import SIDE, build_codec, contract_image, is_learned

#: the forged declaration: 4.3 Gpx, far over MAX_PIXELS (narrower header fields take it modulo their range,
#: e.g. WebP's 14 bits: 16383×16383, still 2.8× MAX_PIXELS)
HUGE = 65535
#: a refusal may allocate this much (a header parse), far below the smallest declared image (805 MB)
ALLOCATION_LIMIT = 16 << 20
#: a refusal takes at most this long (seconds); decoding the declared image would take minutes
REFUSAL_SECONDS = 2.0
#: characters a codec name cannot hold: they delimit spec strings (``name:key=value,...``, ``a|b``)
_SPEC_SYNTAX = re.compile(r"[\s:,=|]")


class ContractFailure(AssertionError):
    """A codec broke a promise of the codec interface; the message says which and how."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractFailure(message)


@dataclass
class Coded:
    """One codec at one point: the contract image, its stream and its in-process decode."""

    spec: str
    codec: Codec
    checkpoint: str | None  # an untrained stand-in checkpoint a fresh process must load too
    image: np.ndarray
    data: bytes
    decoded: np.ndarray


def code(spec: str) -> Coded:
    """Build ``spec`` (:func:`~codecbench.testing.cases.build_codec`) and code the contract image with it."""
    codec, checkpoint = build_codec(spec)
    image = contract_image(max(SIDE, codec.min_size))
    data = codec.encode(image)
    return Coded(spec, codec, checkpoint, image, data, codec.decode(data))


def check_declaration(cls: type[Codec]) -> None:
    """The class declares a usable interface: a name that spec strings can carry, defaults and sweep values its
    own settings accept, and a SpecError (not another exception) for an unknown setting."""
    _require(isinstance(cls.name, str) and cls.name and not _SPEC_SYNTAX.search(cls.name),
             f"codec name {cls.name!r} must be non-empty without spaces or any of : , = |")
    _require(isinstance(cls.lossless, bool), f"{cls.name}: lossless must be True or False")
    _require(set(cls.channels) <= {1, 3} and cls.channels, f"{cls.name}: channels {cls.channels} not within (1, 3)")
    try:
        cls.parse_settings({})
        for value in cls.sweep:
            cls.parse_settings({cls.param: value})
    except SpecError as exc:
        raise ContractFailure(f"{cls.name}: its own defaults or sweep are refused: {exc}") from None
    try:
        cls.parse_settings({"no-such-setting": "1"})
    except SpecError:
        return
    raise ContractFailure(f"{cls.name}: an unknown setting was accepted")


def check_round_trip(coded: Coded) -> None:
    """Encoding gives non-empty bytes; decoding gives a uint8 image of the input's shape, equal to it if
    the codec is lossless, not all zeros otherwise."""
    decoded, image, spec = coded.decoded, coded.image, coded.spec
    _require(isinstance(coded.data, bytes) and len(coded.data) > 0, f"{spec}: encode returned no bytes")
    _require(decoded.dtype == np.uint8 and decoded.shape == image.shape,
             f"{spec}: decoded {decoded.dtype} {decoded.shape}, expected uint8 {image.shape}")
    if coded.codec.lossless:
        differ = int(np.count_nonzero(decoded != image))
        _require(differ == 0, f"{spec}: lossless codec changed {differ} sample(s)")
    else:
        _require(bool(decoded.any()), f"{spec}: decoded an all-zero image")


def _foreign(image: np.ndarray, codec: Codec) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG" if codec.name == "png" else "PNG")
    return buf.getvalue()


def check_bad_streams(coded: Coded) -> None:
    """Empty, cut, foreign and garbage streams raise DecodeError and nothing else. A stream cut only in its
    trailer may decode, but then to the very image of the whole stream (a JPEG without its EOI marker whose
    scan data is complete does): never to another image, silently."""
    data, codec, spec = coded.data, coded.codec, coded.spec
    garbage = np.random.default_rng(7).integers(0, 256, 300, dtype=np.uint8).tobytes()
    bad = {"empty": b"", "half": data[: len(data) // 2], "first 12 bytes": data[:12], "last byte cut": data[:-1],
           "garbage": garbage, "another format": _foreign(coded.image, codec)}
    for what, stream in bad.items():
        try:
            out = codec.decode(stream)
        except DecodeError:
            continue
        except Exception as exc:  # the point: anything but DecodeError is a failure
            raise ContractFailure(f"{spec}: {what} stream raised {type(exc).__name__}: {exc}, not DecodeError") from exc
        if what == "last byte cut" and np.array_equal(out, coded.decoded):
            continue
        raise ContractFailure(f"{spec}: {what} stream ({len(stream)} bytes) decoded to a {out.shape} image")


def check_bad_images(codec: Codec) -> None:
    """Arrays that are not uint8 H×W×C images of an allowed channel count, or are smaller than ``min_size``,
    raise a CodecbenchError (ImageError, EncodeError) from ``encode``, never another exception."""
    side = max(codec.min_size, 8)
    bad = {"float64": np.zeros((side, side, 3)), "H×W without channels": np.zeros((side, side), np.uint8),
           "4 channels": np.zeros((side, side, 4), np.uint8),
           "0 rows": np.zeros((0, side, 3), np.uint8), "a list": [[[0, 0, 0]]]}
    if codec.min_size > 1:
        bad[f"smaller than min_size {codec.min_size}"] = np.zeros((codec.min_size - 1,) * 2 + (3,), np.uint8)
    for what, image in bad.items():
        try:
            codec.encode(image)  # type: ignore[arg-type]
        except CodecbenchError:
            continue
        except Exception as exc:  # the point: anything but a named error is a failure
            raise ContractFailure(f"{codec.name}: encoding {what} raised {type(exc).__name__}: {exc}") from exc
        raise ContractFailure(f"{codec.name}: encoding {what} did not raise")


def _refusal_cost(codec: Codec, forged: bytes, spec: str) -> tuple[float, int]:
    """Seconds and peak traced bytes of decoding ``forged``, which must raise DecodeError."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        codec.decode(forged)
    except DecodeError:
        return time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    except Exception as exc:
        raise ContractFailure(f"{spec}: forged header raised {type(exc).__name__}: {exc}, not DecodeError") from exc
    finally:
        tracemalloc.stop()
    raise ContractFailure(f"{spec}: a stream whose header was forged to declare a huge image decoded")


def _require_cheap_refusal(coded: Coded, forged: bytes) -> None:
    seconds, peak = _refusal_cost(coded.codec, forged, coded.spec)
    _require(seconds < REFUSAL_SECONDS and peak < ALLOCATION_LIMIT,
             f"{coded.spec}: refusing the forged header took {seconds:.2f} s and {peak >> 20} MiB "
             f"(limits {REFUSAL_SECONDS} s, {ALLOCATION_LIMIT >> 20} MiB)")


def check_forged_header(coded: Coded) -> None:
    """A stream whose header :meth:`~codecbench.core.codec.Codec.forge_oversized` rewrote to declare
    65535×65535 is refused with DecodeError in under 2 s, allocating under 16 MiB (tracemalloc)."""
    forged = coded.codec.forge_oversized(coded.data, HUGE, HUGE)
    _require(forged != coded.data, f"{coded.spec}: forge_oversized left the stream unchanged; override it for "
             "this format (see Codec.forge_oversized)")
    _require_cheap_refusal(coded, forged)


def check_tile_bomb(coded: Coded) -> None:
    """(Learned codecs) one tile of the codec's tile side (1024 without tiles) declared over the contract
    image's payload is refused as cheaply: the codec's ``min_tile_payload`` bound, or its entropy decoder
    running out of data, stops it before any network runs."""
    if not is_learned(type(coded.codec)):
        pytest.skip(f"{coded.spec}: not a learned codec (no tiles)")
    side = coded.codec.tile_side() or 1024  # type: ignore[attr-defined]
    _require(side * side <= MAX_PIXELS, f"{coded.spec}: tile side {side} over the pixel limit")
    _require_cheap_refusal(coded, coded.codec.forge_oversized(coded.data, side, side))


def check_identity(coded: Coded) -> None:
    """``library_versions()`` names every library that makes the bits, each with a real version string."""
    versions = coded.codec.library_versions()
    _require(bool(versions) and all(isinstance(v, str) and v and v != "0.0.0" for v in versions.values()),
             f"{coded.spec}: library_versions() must name the libraries that make its bits, got {versions!r}")


def check_spec_round_trip(coded: Coded) -> None:
    """``codec.spec`` re-parses to the same class and configuration (and, for a codec that needs no stand-in,
    rebuilds an equal codec); the rate knob's value is the one asked for."""
    codec, spec = coded.codec, coded.spec
    parsed = Spec.parse(codec.spec)
    _require(get_codec_class(parsed.name) is type(codec), f"{spec}: {codec.spec!r} names another codec")
    _require(type(codec).parse_settings(parsed.raw) == codec.config, f"{spec}: {codec.spec!r} parses to "
             f"{type(codec).parse_settings(parsed.raw)}, not {codec.config}")
    if coded.checkpoint is None:  # a shipped codec: the spec alone rebuilds it
        again = create_codec(codec.spec, threads=1)
        _require(again.spec == codec.spec and again.config == codec.config,
                 f"{spec}: rebuilt from {codec.spec!r} it is {again.spec!r}")
    asked = Spec.parse(spec).raw
    if codec.param is not None and codec.param in asked:
        _require(format_value(codec.setting) == asked[codec.param],
                 f"{spec}: rate knob {codec.param} is {codec.setting!r}, asked for {asked[codec.param]}")


_FRESH_DECODE = textwrap.dedent('''
    import importlib, json, sys
    from pathlib import Path
    import numpy as np

    folder = Path(sys.argv[1])
    job = json.loads((folder / "cases.json").read_text())
    sys.path[:0] = [p for p in job["path"] if p not in sys.path]
    from codecbench.core.codec import Spec, create_codec, get_codec_class
    for i, case in enumerate(job["cases"]):
        if case["module"] != "__main__":
            importlib.import_module(case["module"])  # a codec defined outside any entry point registers here too
        if case["checkpoint"]:
            parsed = Spec.parse(case["spec"])
            codec = get_codec_class(parsed.name)(checkpoint=case["checkpoint"], threads=1, **parsed.raw)
        else:
            codec = create_codec(case["spec"], threads=1)
        np.save(folder / f"{i}.npy", codec.decode((folder / f"{i}.bin").read_bytes()))
''')


def fresh_decodes(coded: list[Coded], folder: Path, timeout: float = 600) -> dict[str, np.ndarray]:
    """Each stream decoded in one fresh Python process, from its bytes and its codec's spec only (files in
    ``folder``); by spec. ContractFailure with the process's error output if it fails."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for i, entry in enumerate(coded):
        (folder / f"{i}.bin").write_bytes(entry.data)
        cases.append({"spec": entry.codec.spec, "checkpoint": entry.checkpoint,
                      "module": type(entry.codec).__module__})
    (folder / "cases.json").write_text(json.dumps({"path": [p for p in sys.path if p], "cases": cases}))
    done = subprocess.run([sys.executable, "-c", _FRESH_DECODE, str(folder)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    _require(done.returncode == 0, "decoding in a fresh process failed:\n" + done.stderr[-3000:])
    return {entry.spec: np.load(folder / f"{i}.npy") for i, entry in enumerate(coded)}


def check_fresh_decode(coded: Coded, fresh: np.ndarray) -> None:
    """The fresh process decoded the bytes to the same image: nothing but the bytes (and the configuration)
    carries the image, no state of the encoding process."""
    _require(fresh.shape == coded.decoded.shape and np.array_equal(fresh, coded.decoded),
             f"{coded.spec}: a fresh process decodes the same bytes to another image")
