"""The one place that turns a codec and an image into measurements: bytes, bpp, metrics, timings.

Every caller (runner, pytest plugin, training evaluation, noise benchmark,
seed-claims scripts) measures here, so a figure means the same everywhere:
``bytes`` is the stored stream's length, ``bpp`` = 8·bytes/(H·W); the quality
fields are :func:`codecbench.core.metrics.score` of the decode against the
reference (the input unless the caller names another); ``enc_s``/``dec_s`` are
median seconds over ``repeats`` of ``encode``/``decode`` alone, each followed by
``codec.synchronize()``. A wrong decoded shape is a ``DecodeError``.

**The reference is never handed to a codec**: each call gets its own copy
(:func:`private_copy`, untimed), and :func:`check_contract` fails the record
(never cached) of a codec that writes into its input or returns it as its
decode. The manual: ``docs/metrics.md``, ``docs/running.md``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from codecbench.core import metrics as _metrics
from codecbench.core.averaging import mean_over_images
from codecbench.core.codec import Codec
from codecbench.core.errors import CodecContractError, DecodeError, OptionError


def check_count(name: str, value: int | None, low: int, high: int | None = None) -> None:
    """Raise :class:`OptionError` unless ``value`` is None or an integer from ``low`` to ``high`` (None: no bound)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise OptionError(f"{name} must be an integer {bound}, got {value!r}")


@dataclass(frozen=True)
class Timing:
    """How codec calls are timed: untimed warm-up rounds per codec (≥ 0), timed repeats per image (≥ 1).

    Raises :class:`OptionError` for other values.
    """

    warmup: int = 1
    repeats: int = 1

    def __post_init__(self) -> None:
        check_count("--warmup", self.warmup, 0)
        check_count("--repeats", self.repeats, 1)


def timed(call: Callable[[], object], codec: Codec, repeats: int = 1) -> tuple[object, float]:
    """Run ``call`` ``repeats`` times, each followed by ``codec.synchronize()``; its last result and the median s."""
    seconds = []
    result = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = call()
        codec.synchronize()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)


def check_decoded(decoded: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``decoded``, or :class:`DecodeError` if its shape is not the original's."""
    if decoded.shape != original.shape:
        raise DecodeError(f"decoded shape {decoded.shape} differs from the original {original.shape}")
    return decoded


def score(codec: Codec, image: np.ndarray, data: bytes, decoded: np.ndarray, *,
          metrics: Sequence[str] | None = None, reference: np.ndarray | None = None) -> dict:
    """The rate and quality fields of a Record for ``data`` (the stream of ``image``) and its decoding.

    ``metrics``: the metric names to compute (None: the defaults);
    ``reference``: the image the decoding is scored against (default:
    ``image``). ``lossless_ok`` is kept for lossless codecs only; ``payload_bpp`` only where the codec tells its
    payload apart (:meth:`~codecbench.core.codec.Codec.payload_bytes`).
    """
    check_decoded(decoded, image)
    h, w = image.shape[:2]
    quality = _metrics.quality(image if reference is None else reference, decoded, metrics)
    if not codec.lossless:
        quality["lossless_ok"] = None
    payload = codec.payload_bytes(data)
    if payload is not None:
        quality["payload_bpp"] = _metrics.bpp(payload, h, w)
    return {"bytes": len(data), "bpp": _metrics.bpp(len(data), h, w), **quality}


def private_copy(image: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``image`` for one codec call (the module says why)."""
    return np.array(image, order="C")


def check_contract(codec: Codec, given: np.ndarray, original: np.ndarray, decoded: object = None) -> None:
    """Raise :class:`CodecContractError` if ``decoded`` is (or shares memory with) ``given``, the codec's copy of
    ``original``, or if ``given`` no longer equals ``original`` (the codec wrote into its input)."""
    if isinstance(decoded, np.ndarray) and (decoded is given or np.shares_memory(decoded, given)):
        raise CodecContractError(f"{codec.name}: decode returned the image given to encode, "
                                 "not a decoding of the stream")
    if not np.array_equal(given, original):
        raise CodecContractError(f"{codec.name}: the codec changed the image it was given to encode")


def warm_up(codec: Codec, image: np.ndarray, rounds: int) -> None:
    """``rounds`` untimed encode and decode calls on a copy of ``image`` (unscored; the contract is checked)."""
    for _ in range(rounds):
        given = private_copy(image)
        check_contract(codec, given, image, codec.decode(codec.encode(given)))


def measure(codec: Codec, image: np.ndarray, repeats: int = 1, *, metrics: Sequence[str] | None = None,
            reference: np.ndarray | None = None) -> dict:
    """Encode, decode and score one image (timed as the module says); the measured fields of a Record.

    The codec codes a copy of ``image``; :class:`CodecContractError` if it changed that copy or decoded to it.
    """
    given = private_copy(image)
    data, enc_s = timed(lambda: codec.encode(given), codec, repeats)
    decoded, dec_s = timed(lambda: codec.decode(data), codec, repeats)
    check_contract(codec, given, image, decoded)
    return {**score(codec, image, data, decoded, metrics=metrics, reference=reference), "enc_s": enc_s, "dec_s": dec_s}


def encoded_bpp(codec: Codec, image: np.ndarray) -> float:
    """Bits per pixel of ``codec``'s stream for ``image`` (encode only: for rate searches, untimed, unscored)."""
    given = private_copy(image)
    bpp = _metrics.bpp(len(codec.encode(given)), *image.shape[:2])
    check_contract(codec, given, image)
    return bpp


def retime(codec: Codec, image: np.ndarray, repeats: int, expected_bytes: int) -> dict | None:
    """Time encode and decode again (for a cache hit); None if the bitstream size changed."""
    given = private_copy(image)
    data, enc_s = timed(lambda: codec.encode(given), codec, repeats)
    if len(data) != expected_bytes:  # the codec no longer writes what was cached: measure afresh
        return None
    decoded, dec_s = timed(lambda: codec.decode(data), codec, repeats)
    check_contract(codec, given, image, decoded)
    return {"enc_s": enc_s, "dec_s": dec_s}


def mean_measures(codec: Codec, images: Sequence[np.ndarray], *, metrics: Sequence[str] | None = None,
                  references: Sequence[np.ndarray] | None = None) -> dict:
    """:func:`measure` of every image, averaged: the arithmetic mean of each numeric field over the images.

    A field that is None or not finite on any image is None (e.g. MS-SSIM of small crops:
    :func:`~codecbench.core.averaging.mean_over_images`);
    ``lossless_ok`` is whether every image decoded bit-exactly (None for a
    lossy codec); ``images`` counts them. ``references[i]`` is what image
    ``i`` is scored against (the noise benchmark's clean images).
    """
    if not images:
        raise ValueError("mean_measures needs at least one image")
    rows = [measure(codec, image, metrics=metrics, reference=None if references is None else references[i])
            for i, image in enumerate(images)]
    means: dict = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        if key == "lossless_ok":
            means[key] = None if None in values else all(values)
        else:
            means[key] = mean_over_images(values)
    return {**means, "images": len(rows)}
