"""Reference-side reuse: what a metric computes of the original image, computed once per image and thread.

A sweep scores every setting of every codec against the same original, so
a metric's reference-side work (colour transforms, filtered means and
variances of the original) would otherwise be repeated for each of them.
:func:`reference_side` keeps the last :data:`MAX_IMAGES` originals each
thread scored, with what each metric derived from them. An original is
recognised by its content, not its identity (a loader may decode the next
image into the same buffer): a sparse fingerprint finds the candidate and a
full comparison with the kept copy confirms it, cheaper than hashing the
image. Worker processes each keep their own (the runner sends one image's
settings to a worker in a row, so each worker derives an image once).
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

#: originals kept per thread (the runner scores every setting of an image before the next image)
MAX_IMAGES = 2
#: samples of an original read for its fingerprint
FINGERPRINT_SAMPLES = 4096


class _Entry:
    def __init__(self, original: np.ndarray) -> None:
        self.original = np.array(original, order="C")
        self.derived: dict[str, Any] = {}


class _Cache(threading.local):
    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, _Entry] = OrderedDict()


_cache = _Cache()


def _fingerprint(image: np.ndarray) -> tuple:
    flat = image.reshape(-1)
    step = max(1, flat.size // FINGERPRINT_SAMPLES)
    return image.shape, image.dtype.str, zlib.crc32(np.ascontiguousarray(flat[::step]).data)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    import cv2

    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] <= 4:  # OpenCV's SIMD comparison, no temporary array
        return cv2.norm(a, b, cv2.NORM_INF) == 0
    return bool(np.array_equal(a, b))


def reference_side(original: np.ndarray, key: str, build: Callable[[np.ndarray], Any]) -> Any:
    """``build(original)``, computed once per distinct ``original`` (by content) and ``key`` in this thread.

    ``key`` names what ``build`` derives (a metric's name and whatever
    changes its result); the value returned is shared, so callers must not
    modify it. Exceptions from ``build`` propagate and nothing is kept.
    """
    fingerprint = _fingerprint(original)
    entries = _cache.entries
    entry = entries.get(fingerprint)
    if entry is None or not _same(entry.original, original):
        entry = _Entry(original)
        entries[fingerprint] = entry
        while len(entries) > MAX_IMAGES:
            entries.popitem(last=False)
    entries.move_to_end(fingerprint)
    if key not in entry.derived:
        entry.derived[key] = build(entry.original)
    return entry.derived[key]


def clear() -> None:
    """Forget every original this thread kept (tests, and callers that must bound memory now)."""
    _cache.entries.clear()
