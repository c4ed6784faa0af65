"""One task: the record of one codec on one image, built wherever the codec runs.

The runner (:mod:`codecbench.engine.runner`) measures in its own process, in
an isolated worker process (:mod:`codecbench.engine.isolation`, which calls
:func:`prepare_isolated` and :func:`isolated_call` by name) or on a Dask worker
(:mod:`codecbench.engine.distributed`); all of them build the record here. A
failure is the record's ``error`` (:func:`error_text`), never an exception.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import numpy as np

from codecbench.core.codec import Codec
from codecbench.core.images import SourceFile
from codecbench.core.results import Record, validate_record
from codecbench.engine.isolation import worker_codec
from codecbench.engine.measure import measure, retime, warm_up


def base_record(codec: Codec, dataset: str, item_id: str, image: np.ndarray | None,
                source: SourceFile | None = None) -> Record:
    """A record of ``codec`` on one image without measurements; ``source`` is the image file it was read from."""
    h, w, c = image.shape if image is not None else (0, 0, 0)
    return Record(
        codec=codec.name,
        spec=codec.spec,
        setting=codec.setting,
        dataset=dataset,
        image=item_id,
        width=w,
        height=h,
        channels=c,
        device=codec.device,
        threads=codec.threads,
        lossless=codec.lossless,
        versions=dict(codec.identity),
        source_bytes=source.bytes if source else None,
        source_format=source.format if source else None,
        knob=codec.param,
    )


def error_text(exc: BaseException) -> str:
    """A record's ``error``: the exception's type and the first line of its message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unreadable_record(codec: Codec, dataset: str, item_id: str, failure: BaseException,
                      source: SourceFile | None = None) -> Record:
    """The failed record of ``codec`` on an image it could not be measured on (``failure``: why, e.g. the image
    could not be loaded)."""
    record = base_record(codec, dataset, item_id, None, source)
    record.error = error_text(failure)
    return record


def record_of(codec: Codec, dataset: str, item_id: str, image: np.ndarray, source: SourceFile | None,
              measured: Callable[[], dict]) -> Record:
    """The record of ``codec`` on one image with the fields ``measured()`` returns; a failure (anything but
    ``KeyboardInterrupt``, a plugin's ``sys.exit`` included) is the record's ``error``, never raised; so is a
    value no real measurement has (NaN, out of range: :func:`~codecbench.core.results.validate_record`)."""
    record = base_record(codec, dataset, item_id, image, source)
    try:
        values = measured()
        validate_record(dataclasses.replace(record, **values))
        for key, value in values.items():
            setattr(record, key, value)
    except BaseException as exc:  # one image's failure must not end the run
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.error = error_text(exc)
    return record


def prepare_isolated(spec: str, device: str, threads: int | None, image: np.ndarray, warmup: int) -> float:
    """(In a worker process, see ``Runner(isolate=True)``) build the codec and run its ``warmup`` rounds on
    ``image``; the seconds the warm-up rounds took."""
    codec = worker_codec(spec, device, threads)
    start = time.perf_counter()
    warm_up(codec, image, warmup)
    return time.perf_counter() - start


def isolated_call(function: str, spec: str, device: str, threads: int | None, image: np.ndarray,
                  args: tuple) -> Any:
    """(In a worker process, see ``Runner(isolate=True)``) run ``function`` (measure or retime) on ``image``."""
    return {f.__name__: f for f in (measure_with, retime)}[function](worker_codec(spec, device, threads), image, *args)


def measure_with(codec: Codec, image: np.ndarray, repeats: int, metrics: Sequence[str]) -> dict:
    """:func:`~codecbench.engine.measure.measure` with positional options (as worker calls pass them)."""
    return measure(codec, image, repeats, metrics=metrics)
