"""The one place that turns a codec and an image into measurements: bytes, bpp, metrics, timings.

Every caller measures through these functions — the runner
(``codecbench run``), the pytest plugin, training evaluation, the noise
benchmark and the seed-claims scripts — so a figure means the same wherever
it appears:

- ``bytes`` is the length of the stored stream, ``bpp`` = 8·bytes/(H·W) of
  the image (:func:`codecbench.core.metrics.bpp`);
- the quality fields are :func:`codecbench.core.metrics.score` of the decoded
  image against the *reference* (the input image, unless a caller scores
  against another one: the noise benchmark encodes a noisy image and scores
  against the clean one), plus ``lossless_ok`` for lossless codecs;
- ``enc_s``/``dec_s`` are the median seconds over ``repeats`` calls of the
  codec's ``encode``/``decode`` alone, each followed by
  ``codec.synchronize()`` (a device sync for GPU codecs).

A decoded image whose shape differs from the original's is a
:class:`~codecbench.core.errors.DecodeError`; codec exceptions propagate.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from codecbench.core import metrics as _metrics
from codecbench.core.codec import Codec
from codecbench.core.errors import DecodeError, OptionError


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
    ``image``). ``lossless_ok`` is kept for lossless codecs only.
    """
    check_decoded(decoded, image)
    h, w = image.shape[:2]
    quality = _metrics.quality(image if reference is None else reference, decoded, metrics)
    if not codec.lossless:
        quality["lossless_ok"] = None
    return {"bytes": len(data), "bpp": _metrics.bpp(len(data), h, w), **quality}


def measure(codec: Codec, image: np.ndarray, repeats: int = 1, *, metrics: Sequence[str] | None = None,
            reference: np.ndarray | None = None) -> dict:
    """Encode, decode and score one image (timed as the module says); the measured fields of a Record."""
    data, enc_s = timed(lambda: codec.encode(image), codec, repeats)
    decoded, dec_s = timed(lambda: codec.decode(data), codec, repeats)
    return {**score(codec, image, data, decoded, metrics=metrics, reference=reference), "enc_s": enc_s, "dec_s": dec_s}


def encoded_bpp(codec: Codec, image: np.ndarray) -> float:
    """Bits per pixel of ``codec``'s stream for ``image`` (encode only: for rate searches, untimed, unscored)."""
    return _metrics.bpp(len(codec.encode(image)), *image.shape[:2])


def retime(codec: Codec, image: np.ndarray, repeats: int, expected_bytes: int) -> dict | None:
    """Time encode and decode again (for a cache hit); None if the bitstream size changed."""
    data, enc_s = timed(lambda: codec.encode(image), codec, repeats)
    if len(data) != expected_bytes:  # the codec no longer writes what was cached: measure afresh
        return None
    _, dec_s = timed(lambda: codec.decode(data), codec, repeats)
    return {"enc_s": enc_s, "dec_s": dec_s}


def mean_measures(codec: Codec, images: Sequence[np.ndarray], *, metrics: Sequence[str] | None = None,
                  references: Sequence[np.ndarray] | None = None) -> dict:
    """:func:`measure` of every image, averaged: the arithmetic mean of each numeric field over the images.

    A field that is None on any image is None (e.g. MS-SSIM of small crops);
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
            means[key] = None if None in values else statistics.fmean(values)
    return {**means, "images": len(rows)}
