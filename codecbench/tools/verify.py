"""Determinism checks: does a codec's stream decode to the same pixels wherever, and however often, it is coded?

:func:`verify_codec` runs :data:`CHECKS` on each point of a spec over a few images; each check is passed
(``ok``), failed (``differs``, with the first difference) or ``not applicable`` (with the reason). Decoded
images are compared sample by sample, streams byte by byte; a decode that fails counts as a difference.
The fresh process is a :class:`~codecbench.engine.isolation.Worker` that builds the codec from its spec alone.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from codecbench.core.codec import Codec, Spec, create_codec, expand_spec, format_value, get_codec_class
from codecbench.core.errors import CodecbenchError
from codecbench.engine.isolation import Worker

#: the checks, in table order ({n}: the thread count compared with one thread)
CHECKS = ("repeated encodes", "fresh-process decode", "same bytes with 1 and {n} threads",
          "encode 1 thread, decode {n}", "encode {n} threads, decode 1", "encode cuda, decode cpu",
          "encode cpu, decode cuda")
OK, DIFFERS, NOT_APPLICABLE = "ok", "differs", "not applicable"
#: seconds one fresh-process call may take (it codes every image of one spec point)
FRESH_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Outcome:
    """One check of one spec point: its status (:data:`OK`, :data:`DIFFERS`, :data:`NOT_APPLICABLE`) and, unless
    it passed, the first difference or the reason it does not apply."""

    check: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Image:
    id: str
    pixels: np.ndarray


def points(spec: str) -> list[str]:
    """The single-point specs checked for ``spec``: as given, value lists expanded; a spec without its rate knob
    at the two ends of the codec's default sweep. SpecError for an unknown codec or a bad setting."""
    parsed = Spec.parse(spec)
    cls, raw = get_codec_class(parsed.name), parsed.raw
    if cls.param is not None and cls.param not in raw and cls.sweep:
        raw[cls.param] = "|".join(dict.fromkeys(format_value(v) for v in (cls.sweep[0], cls.sweep[-1])))
    return expand_spec(str(Spec(parsed.name, tuple(raw.items()))))


def byte_difference(a: bytes, b: bytes, sides: tuple[str, str] = ("a", "b")) -> str | None:
    """None if equal, else where two streams (``sides`` names them) first differ."""
    if a == b:
        return None
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at byte {at} ({sides[0]}: {len(a)} bytes, {sides[1]}: {len(b)} bytes)"


def pixel_difference(a: np.ndarray, b: np.ndarray, sides: tuple[str, str] = ("a", "b")) -> str | None:
    """None if equal, else the first differing sample (row, column, channel) of two decoded images (``sides``
    names them), how many samples differ and by how much."""
    if a.shape != b.shape:
        return f"decoded shapes differ: {sides[0]} {a.shape}, {sides[1]} {b.shape}"
    differ = a != b
    if not differ.any():
        return None
    y, x, c = (int(v) for v in np.argwhere(differ)[0])
    most = int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
    return (f"first difference at row {y}, column {x}, channel {c}: {a[y, x, c]} ({sides[0]}) and {b[y, x, c]} "
            f"({sides[1]}); {int(differ.sum())} of {a.size} samples differ, by up to {most}")


def _decode(codec: Codec, data: bytes) -> np.ndarray | str:
    try:
        return codec.decode(data)
    except CodecbenchError as exc:
        return f"{type(exc).__name__}: {exc}"


def _compare(images: Sequence[Image], pairs: Callable[[Image], tuple[object, object]],
             sides: tuple[str, str]) -> str | None:
    """The first image whose pair (bytes or pixels; a failed decode is its message) differs, described."""
    for image in images:
        a, b = pairs(image)
        for side, name in zip((a, b), sides):
            if isinstance(side, str):
                return f"{image.id}: {name}: {side}"
        found = (byte_difference(a, b, sides) if isinstance(a, bytes)  # type: ignore[arg-type]
                 else pixel_difference(a, b, sides))  # type: ignore[arg-type]
        if found:
            return f"{image.id}: {found}"
    return None


def _outcome(check: str, difference: str | None) -> Outcome:
    return Outcome(check, OK) if difference is None else Outcome(check, DIFFERS, difference)


def fresh_codings(spec: str, module: str, streams: list[bytes], images: list[np.ndarray]) -> tuple[list, list[bytes]]:
    """(In a fresh worker) decode each stream, then encode each image, with a codec built from ``spec`` alone on
    one thread: decodes (an image, or the error's message) and streams. ``module``, the codec class's, is
    imported first: a codec that registers itself there (not through an entry point) is found too."""
    if module != "__main__":
        importlib.import_module(module)
    codec = create_codec(spec, threads=1)
    decoded = [_decode(codec, data) for data in streams]
    return decoded, [codec.encode(image) for image in images]


def _fresh(codec: Codec, streams: list[bytes], images: Sequence[Image]) -> tuple[list, list[bytes]] | str:
    """:func:`fresh_codings` in a new worker process (the caller's import path), or why it failed."""
    path = os.pathsep.join(p for p in sys.path if p)
    with Worker(env={"PYTHONPATH": path}, label="fresh-process check") as worker:
        try:
            return worker.call("codecbench.tools.verify:fresh_codings", codec.spec, type(codec).__module__, streams,
                               [i.pixels for i in images], timeout=FRESH_TIMEOUT, describe=codec.spec)
        except CodecbenchError as exc:
            return f"{type(exc).__name__}: {exc}"


def _cuda_reason(cls: type[Codec]) -> str | None:
    """Why the cuda checks do not apply to ``cls`` here, or None."""
    if "cuda" not in cls.devices:
        return f"{cls.name} runs on the CPU only"
    import torch  # only for a codec that runs on cuda: a learned one, which imports torch anyway

    return None if torch.cuda.is_available() else "no CUDA on this machine"


def verify_point(spec: str, images: Sequence[Image], threads: int) -> list[Outcome]:
    """Every check of :data:`CHECKS` for one single-point ``spec`` on ``images``, compared with ``threads``
    threads. CodecbenchError where the codec cannot be built or cannot encode an image."""
    labels = [check.format(n=threads) for check in CHECKS]
    one, again, many = (create_codec(spec, threads=n) for n in (1, 1, threads))
    streams = {i.id: one.encode(i.pixels) for i in images}
    decoded = {i.id: _decode(one, streams[i.id]) for i in images}
    fresh = _fresh(one, list(streams.values()), images)
    if isinstance(fresh, str):
        fresh_decoded = fresh_streams = {i.id: f"the fresh process failed: {fresh}" for i in images}
    else:
        fresh_decoded, fresh_streams = ({i.id: v for i, v in zip(images, values)} for values in fresh)
    first = "first encode"
    repeated = [(lambda i: (streams[i.id], one.encode(i.pixels)), (first, "second encode")),
                (lambda i: (streams[i.id], again.encode(i.pixels)), (first, "another codec object's")),
                (lambda i: (streams[i.id], fresh_streams[i.id]), (first, "a fresh process's"))]
    many_streams = {i.id: many.encode(i.pixels) for i in images}
    n = f"{threads} threads"
    outcomes = [
        _outcome(labels[0], next(filter(None, (_compare(images, *check) for check in repeated)), None)),
        _outcome(labels[1], _compare(images, lambda i: (decoded[i.id], fresh_decoded[i.id]),
                                     ("decoded here", "in a fresh process"))),
        _outcome(labels[2], _compare(images, lambda i: (streams[i.id], many_streams[i.id]), ("1 thread", n))),
        _outcome(labels[3], _compare(images, lambda i: (decoded[i.id], _decode(many, streams[i.id])),
                                     ("decoded with 1 thread", n))),
        _outcome(labels[4], _compare(images, lambda i: (_decode(many, many_streams[i.id]),
                                                        _decode(one, many_streams[i.id])),
                                     (f"decoded with {n}", "1 thread"))),
    ]
    return outcomes + _cuda_outcomes(spec, images, one, decoded, streams, labels[5:])


def _cuda_outcomes(spec: str, images: Sequence[Image], cpu: Codec, decoded: dict, streams: dict,
                   labels: Sequence[str]) -> list[Outcome]:
    """Encode on cuda and decode on the CPU, and the reverse, each against decoding where it was encoded."""
    reason = _cuda_reason(type(cpu))
    if reason is not None:
        return [Outcome(label, NOT_APPLICABLE, reason) for label in labels]
    gpu = create_codec(spec, device="cuda", threads=1)
    gpu_streams = {i.id: gpu.encode(i.pixels) for i in images}
    return [
        _outcome(labels[0], _compare(images, lambda i: (_decode(gpu, gpu_streams[i.id]),
                                                        _decode(cpu, gpu_streams[i.id])),
                                     ("decoded on cuda", "on cpu"))),
        _outcome(labels[1], _compare(images, lambda i: (decoded[i.id], _decode(gpu, streams[i.id])),
                                     ("decoded on cpu", "on cuda"))),
    ]


def verify_codec(spec: str, images: Sequence[Image], threads: int) -> dict[str, list[Outcome]]:
    """:func:`verify_point` of each of :func:`points` of ``spec``; a point that cannot be coded has every check
    failed with the error's message."""
    results = {}
    for point in points(spec):
        try:
            results[point] = verify_point(point, images, threads)
        except CodecbenchError as exc:
            why = f"could not be coded: {type(exc).__name__}: {exc}"
            results[point] = [Outcome(check.format(n=threads), DIFFERS, why) for check in CHECKS]
    return results
