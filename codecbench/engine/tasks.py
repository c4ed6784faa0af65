"""One task: one codec configuration on one image, as a frozen value, and what runs it where the codec lives.

The runner hands a :class:`Task` to an executor (:mod:`codecbench.engine.executors`);
the executor runs it in this process, in a worker process
(:mod:`codecbench.engine.isolation` calls :func:`prepare` and :func:`perform` by
name) or on a Dask worker (:mod:`codecbench.engine.distributed`). Every one of
them warms a codec up through :func:`warm_once` and measures through
:func:`run_on`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from codecbench.core.codec import Codec
from codecbench.engine.isolation import worker_codec
from codecbench.engine.measure import Timing, measure, retime, warm_up


@dataclass(frozen=True)
class Task:
    """Measure codec ``spec`` (on ``device`` with ``threads``) on image ``item_id`` of ``dataset``.

    ``image``: the pixels, for an executor on this machine (None: the worker
    loads ``item_id`` itself). ``expected_bytes``: set for a results-cache hit
    whose timings are taken again (:func:`~codecbench.engine.measure.retime`),
    None for a full measurement.
    """

    spec: str
    device: str
    threads: int | None
    timing: Timing
    metrics: tuple[str, ...]
    dataset: str
    item_id: str
    image: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    expected_bytes: int | None = None

    def retiming(self, expected_bytes: int) -> Task:
        """This task as a re-timing of a cached measurement whose stream was ``expected_bytes`` long."""
        return dataclasses.replace(self, expected_bytes=expected_bytes)


#: (spec, device, threads) of the codecs warmed up in this process (a worker process, a Dask worker)
_WARM: set[tuple[str, str, int | None]] = set()


def warm_once(codec: Codec, image: np.ndarray, rounds: int,
              warm: set[tuple[str, str, int | None]] = _WARM) -> float:
    """Run ``codec``'s ``rounds`` warm-up rounds on ``image`` unless ``warm`` (default: this process's codecs)
    already names it (then add it); the seconds they took (0.0 when it was warm)."""
    key = (codec.spec, codec.device, codec.threads)
    if key in warm:
        return 0.0
    warm.add(key)
    start = time.perf_counter()
    warm_up(codec, image, rounds)
    return time.perf_counter() - start


def run_on(codec: Codec, task: Task) -> dict | None:
    """The measured fields of ``codec`` on ``task.image`` (:func:`~codecbench.engine.measure.measure`), or for a
    re-timing its ``enc_s``/``dec_s`` (None if the stream's size changed)."""
    if task.expected_bytes is not None:
        return retime(codec, task.image, task.timing.repeats, task.expected_bytes)
    return measure(codec, task.image, task.timing.repeats, metrics=task.metrics)


def task_codec(task: Task) -> Codec:
    """The codec of ``task`` in this process, built once (:func:`~codecbench.engine.isolation.worker_codec`)."""
    return worker_codec(task.spec, task.device, task.threads)


def build(task: Task) -> None:
    """(In a worker process) build ``task``'s codec (import its libraries, load its model); ``task.image`` unused."""
    task_codec(task)


def prepare(task: Task) -> float:
    """(In a worker process) warm ``task``'s codec up on ``task.image`` (building it first if needed); the
    warm-up seconds."""
    return warm_once(task_codec(task), task.image, task.timing.warmup)


def perform(task: Task) -> Any:
    """(In a worker process) :func:`run_on` with ``task``'s codec, built here once."""
    return run_on(task_codec(task), task)
