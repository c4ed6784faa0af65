"""Where a run's codec calls run: one small class per way, behind one interface.

The :class:`~codecbench.engine.runner.Runner` keeps resume, the cache and the
store; an executor gets one :class:`~codecbench.engine.tasks.Task` per codec
call (:meth:`Executor.call`) or per-image batches (:meth:`Executor.run`) and
returns the records in serial-run order. :func:`~codecbench.engine.runner.executor_for`
picks one: :class:`SerialExecutor` (in this process), :class:`IsolatedExecutor`
(one worker process; a crash or timeout costs one call), :class:`PoolExecutor`
(``jobs`` pinned workers) and :class:`~codecbench.engine.distributed.DaskExecutor`.
Adding an executor is a class and a line in ``executor_for``. The manual:
``docs/running.md``.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Protocol, TypeVar

from codecbench.core.codec import Codec
from codecbench.core.errors import CodecbenchError
from codecbench.engine.isolation import STARTUP_TIMEOUT, Worker
from codecbench.engine.tasks import Task, run_on, warm_once
from codecbench.engine.time_spent import TimeSpent

T = TypeVar("T")


class Called(NamedTuple):
    """What one codec call gave: its ``value`` and the seconds of warm-up and of building the codec in it."""

    value: Any
    warm_s: float = 0.0
    build_s: float = 0.0


class Executor(Protocol):
    """Runs codec calls; see the module docstring."""

    #: codec calls at once (records say so: ``Record.jobs``)
    jobs: int
    #: whether the tasks run where the images are loaded and the records built (the runner sends image-less tasks)
    remote: bool

    def run(self, work: Iterable[Any], spent: TimeSpent) -> Iterator[Any]:
        """The results of ``work`` in its order (local: batches of calls; remote: tasks, their seconds to ``spent``)."""

    def close(self) -> None:
        """Stop whatever processes the executor started."""


class LocalExecutor(Executor, Protocol):
    """An executor on this machine: the runner loads the images and makes each codec call through it."""

    def call(self, task: Task, codec: Codec) -> Called:
        """``task`` (``codec``: the runner's codec of it) after the codec's warm-up; raises what the call raised."""


def cores() -> list[int]:
    """The CPU cores this process may run on (the workers of a :class:`PoolExecutor` are pinned one to each)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


class SerialExecutor:
    """In this process, one call at a time; each codec is warmed up before its first call."""

    jobs, remote = 1, False

    def __init__(self) -> None:
        self._warm: set[tuple[str, str, int | None]] = set()

    def call(self, task: Task, codec: Codec) -> Called:
        warm_s = warm_once(codec, task.image, task.timing.warmup, self._warm)
        return Called(run_on(codec, task), warm_s)

    def run(self, work: Iterable[list[Callable[[], T]]], spent: TimeSpent) -> Iterator[T]:
        for batch in work:
            while batch:  # pop each call: the image goes with the last one, before the next image loads
                yield batch.pop(0)()

    def close(self) -> None:
        pass


class IsolatedExecutor(SerialExecutor):
    """In a worker process (one per job): a crash costs one call, ``timeout`` seconds bound each call.

    Building a codec (importing its libraries, loading its model) is a call of its own, once per worker
    process, bounded by ``max(STARTUP_TIMEOUT, timeout)``, so the per-image ``timeout`` never counts it. Its
    warm-up rounds code the worker's first image, so they are bounded like measurements: ``timeout`` per round.
    """

    remote = False

    def __init__(self, timeout: float | None = None, jobs: int = 1) -> None:
        self.jobs, self.timeout = jobs, timeout
        #: the worker processes (started on first use, replaced after a crash or timeout)
        self.workers = [self._new_worker(i) for i in range(jobs)]
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        for worker in self.workers:
            self._idle.put(worker)
        #: (spec, worker, worker start) of the codecs built and warmed up in a worker process
        self._prepared: set[tuple[str, int, int]] = set()

    def _new_worker(self, index: int) -> Worker:
        env = {"CODECBENCH_WORKER_CPU": str(cores()[index % len(cores())])} if self.jobs > 1 else {}
        return Worker(label="codec worker process", preload=("codecbench.engine.tasks",), env=env)

    def _bound(self, floor: float, rounds: int = 1) -> float | None:
        """The time limit of a call: ``rounds`` per-image timeouts, at least ``floor`` s; None without a timeout."""
        return None if self.timeout is None else max(floor, self.timeout * max(1, rounds))

    def call(self, task: Task, codec: Codec) -> Called:
        worker = self._idle.get()  # one call per worker at a time; several jobs: one thread per worker
        try:
            worker.start()  # a fresh worker after a crash or timeout: its codecs must be built again
            warm_s = build_s = 0.0
            prepared = (task.spec, id(worker), worker.starts)
            if prepared not in self._prepared:
                start = time.perf_counter()
                worker.call("codecbench.engine.tasks:build", dataclasses.replace(task, image=None),
                            describe=f"{task.spec} (building)", timeout=self._bound(STARTUP_TIMEOUT))
                build_s = time.perf_counter() - start
                # the warm-up codes this image: a codec that hangs on it is stopped as its measurement would be
                warm_s = worker.call("codecbench.engine.tasks:prepare", task, describe=f"{task.spec} (warm-up)",
                                     timeout=self._bound(0.0, rounds=task.timing.warmup))
                self._prepared.add(prepared)
            value = worker.call("codecbench.engine.tasks:perform", task, timeout=self.timeout, describe=task.spec)
            return Called(value, warm_s, build_s)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


class PoolExecutor(IsolatedExecutor):
    """``jobs`` worker processes at once, each pinned to its own core; records in the order of a serial run,
    with at most 2 × jobs images' calls in flight (bounded memory)."""

    def run(self, work: Iterable[list[Callable[[], T]]], spent: TimeSpent) -> Iterator[T]:
        calls = (call for batch in work for call in batch)
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="codecbench-job") as pool:
            yield from in_order((pool.submit(call) for call in calls), 2 * self.jobs)


def in_order(futures: Iterable[Any], depth: int, result: Callable[[Any], Any] | None = None) -> Iterator[Any]:
    """The results of ``futures`` (thread-pool or Dask futures) in submission order, at most ``depth`` ahead.

    ``result(future)`` waits for one (default: ``future.result()``); if it raises a :class:`CodecbenchError`
    (a Dask cluster left without workers), the results that are already there come first, then the error.
    """
    get = result or (lambda future: future.result())
    window: deque[Any] = deque()
    try:
        for future in futures:
            window.append(future)
            if len(window) > depth:
                yield get(window.popleft())
        while window:
            yield get(window.popleft())
    except CodecbenchError:
        for future in [f for f in window if f.done()]:
            try:
                record = get(future)
            except CodecbenchError:
                continue
            yield record
        raise
