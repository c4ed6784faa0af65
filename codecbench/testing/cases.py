"""What the contract checks: which codec points, built how, on which image.

A codec is checked at the first and last point of its default sweep (its
defaults where it has none), on a crop of a real photograph that ships with
codecbench's dependencies (the embedded dataset), so the checks run offline
and from any directory.
"""

from __future__ import annotations

import sys
from typing import Iterable

import numpy as np
import pytest

from codecbench.core.codec import Codec, Spec, available_codecs, create_codec, expand_spec, format_value
from codecbench.core.codec import get_codec_class, split_specs
from codecbench.core.errors import CodecbenchError
from codecbench.datasets import get_dataset

#: the embedded image the contract crops (id, top row, left column): skin, cloth, sky and hard edges
IMAGE = ("astronaut", 180, 280)
#: the crop's side in pixels (larger where a codec's ``min_size`` asks for it)
SIDE = 64


def contract_points(spec: str) -> list[str]:
    """The single-point specs the contract checks for ``spec``.

    A codec name gives the first and last points of its default sweep (the
    codec's defaults where it has no sweep); settings given in ``spec`` are
    kept, a missing rate knob takes the sweep's ends, and value lists
    (``quality=10|90``) expand. Raises SpecError for an unknown codec or a bad setting.
    """
    parsed = Spec.parse(spec)
    cls = get_codec_class(parsed.name)
    raw = parsed.raw
    if cls.param is not None and cls.param not in raw and cls.sweep:
        raw[cls.param] = "|".join(dict.fromkeys(format_value(v) for v in (cls.sweep[0], cls.sweep[-1])))
    return expand_spec(str(Spec(parsed.name, tuple(raw.items()))))


def selected_points(codecs: Iterable[str] | None = None) -> list[str]:
    """:func:`contract_points` of every spec in ``codecs`` (comma-separated lists allowed, as ``--codecs``
    takes them); of every registered codec when ``codecs`` is None or empty."""
    specs = [s for text in codecs or () for s in split_specs(text)] or list(available_codecs())
    return list(dict.fromkeys(point for spec in specs for point in contract_points(spec)))


def is_learned(cls: type[Codec]) -> bool:
    """Whether ``cls`` is a :class:`~codecbench.codecs.learned.base.TorchCodec` (never imports torch to say no:
    a class can only derive from the torch base once that module is imported)."""
    base = sys.modules.get("codecbench.codecs.learned.base")
    return base is not None and issubclass(cls, base.TorchCodec)


def build_codec(spec: str) -> tuple[Codec, str | None]:
    """The codec of ``spec`` (one thread) and None; for a learned codec whose shipped checkpoint is missing,
    the codec with an untrained stand-in checkpoint exported by its trainable model, and that checkpoint's
    path (a fresh process needs it too). Skips (``pytest.skip``), naming the missing file, where neither exists."""
    try:
        return create_codec(spec, threads=1), None
    except CodecbenchError as exc:
        base = sys.modules.get("codecbench.codecs.learned.base")
        if base is None or not isinstance(exc, base.CheckpointError) or "missing" not in str(exc):
            raise
        from codecbench.tools.fuzz.probe import _standin_codec  # the fuzz tools need hypothesis: only here

        parsed = Spec.parse(spec)
        try:
            standin = _standin_codec(parsed.name)[0]
        except CodecbenchError as why:
            pytest.skip(f"{spec}: {exc}; no stand-in either ({why})")
        codec = type(standin)(checkpoint=standin.checkpoint_file, threads=1, **parsed.raw)
        return codec, str(standin.checkpoint_file)


def contract_image(side: int = SIDE) -> np.ndarray:
    """A ``side``×``side`` RGB crop of the embedded photograph :data:`IMAGE` (at most its 512 pixels)."""
    name, top, left = IMAGE
    image = next(item for item in get_dataset("embedded") if item.id == name).load()
    top, left = min(top, image.shape[0] - side), min(left, image.shape[1] - side)
    return np.ascontiguousarray(image[max(top, 0) : max(top, 0) + side, max(left, 0) : max(left, 0) + side])
