"""Codecs as the registry-parametrized tests build them: every registered codec, a stand-in where no checkpoint ships."""

from __future__ import annotations

import pytest

from codecbench.core.codec import Codec, Spec, available_codecs, create_codec
from codecbench.codecs.learned.base import CheckpointError
from codecbench.core.errors import CodecbenchError


def sweep_points(cls: type[Codec]) -> list[str]:
    """The specs a codec is tested at: its sweep's first and last point, or its defaults."""
    if cls.param is None or not cls.sweep:
        return [cls.name]
    ends = (cls.sweep[0], cls.sweep[-1])
    return list(dict.fromkeys(str(Spec.of(cls.name, {cls.param: v})) for v in ends))


def all_cases() -> list[str]:
    """Every registered codec at its :func:`sweep_points`."""
    return [spec for cls in available_codecs().values() for spec in sweep_points(cls)]


def build_codec(spec: str) -> tuple[Codec, str | None]:
    """The codec of ``spec`` (one thread) and None; for a learned codec whose shipped checkpoint is missing,
    the codec with an untrained stand-in checkpoint exported by its trainable model, and that checkpoint's
    path (a fresh process needs it too). Skips the test, naming the missing file, where neither exists."""
    try:
        return create_codec(spec, threads=1), None
    except CheckpointError as exc:
        if "missing" not in str(exc):
            raise
        from codecbench.tools.fuzz.probe import _standin_codec

        parsed = Spec.parse(spec)
        try:
            standin = _standin_codec(parsed.name)[0]
        except CodecbenchError as why:
            pytest.skip(f"{spec}: {exc}; no stand-in either ({why})")
        codec = type(standin)(checkpoint=standin.checkpoint_file, threads=1, **parsed.raw)
        return codec, str(standin.checkpoint_file)
