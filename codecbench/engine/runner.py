"""Evaluate configured codecs over a dataset and produce result records.

The loop streams the dataset (each image loaded once, run through every spec)
and measures each (spec, image) with :func:`codecbench.engine.measure.measure`
after ``warmup`` untimed rounds per codec; only the codec's ``encode`` and
``decode`` are timed. A failure on one image (anything but
``KeyboardInterrupt``) becomes that image's record with ``error`` set; the run
goes on. Records carry the source file's size and format.

Where the calls run is an executor (:func:`executor_for`): in process, isolated
(``isolate``/``timeout``: a crash or hang costs one record, codec start-up is
outside the timeout), ``jobs`` pinned workers (records in serial-run order,
``meta.jobs`` recorded) or Dask. :func:`check_options` refuses bad numeric
options with an :class:`~codecbench.core.errors.OptionError`. See ``docs/running.md``.
"""

from __future__ import annotations

import functools
import math
import time
import threading
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence, cast

import numpy as np

from codecbench.core.codec import Codec, create_codec, expand_spec
from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.images import SourceFile, source_file
from codecbench.core.metrics import default_metrics
from codecbench.core.results import Record
from codecbench.datasets import DatasetItem, get_dataset
from codecbench.engine.cache import RunCache
from codecbench.engine.channels import refused_by, takes_dataset
from codecbench.engine.distributed import DaskExecutor
from codecbench.engine.executors import Executor, IsolatedExecutor, LocalExecutor, PoolExecutor, SerialExecutor, cores
from codecbench.engine.measure import Timing, check_count
from codecbench.engine.records import record_of, unreadable_record
from codecbench.engine.store import ResultsStore
from codecbench.engine.tasks import Task
from codecbench.engine.time_spent import TimeSpent


#: the most threads a codec may be given (torch crashes on absurd counts such as 100000)
MAX_THREADS = 1024


def default_jobs() -> int:
    """The CLI's default ``--jobs``: one per core this process may use."""
    return len(cores())


def threads_per_job(threads: int | None, jobs: int) -> int | None:
    """The threads each codec gets: ``threads`` if given; with several jobs, the cores shared out (≥ 1);
    else None (the codec's default: all cores)."""
    if threads is not None or jobs == 1:
        return threads
    return max(1, len(cores()) // jobs)


def check_options(*, threads: int | None = None, timeout: float | None = None, max_images: int | None = None,
                  jobs: int | None = None) -> None:
    """Raise :class:`OptionError` for a thread or job count outside 1..MAX_THREADS, a timeout that is not a
    finite number of seconds above 0, or ``max_images`` below 1 (None: not set, always accepted)."""
    check_count("--threads", threads, 1, MAX_THREADS)
    check_count("--jobs", jobs, 1, MAX_THREADS)
    check_count("--max-images", max_images, 1)
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise OptionError(f"--timeout must be a finite number of seconds above 0, got {timeout!r}")


def executor_for(*, jobs: int = 1, isolate: bool = False, timeout: float | None = None, dask: Any = None,
                 cached: bool = False) -> Executor:
    """The executor (:mod:`codecbench.engine.executors`) of a run's options: Dask with a client; worker processes
    with several jobs, ``isolate`` or a ``timeout`` (only a process can be stopped); else this process.
    :class:`OptionError` for Dask with the local results cache (``cached``) or ``isolate``/``timeout``."""
    if dask is not None:
        if isolate or timeout is not None or cached:
            raise OptionError("Dask runs take neither the results cache (use --no-cache) nor --isolate/--timeout")
        return DaskExecutor(dask, jobs)
    if jobs > 1:
        return PoolExecutor(timeout, jobs)
    if isolate or timeout is not None:
        return IsolatedExecutor(timeout)
    return SerialExecutor()


def _version_change(old: dict[str, str], new: dict[str, str]) -> str:
    return ", ".join(f"{k} {old.get(k, '-')} → {new.get(k, '-')}" for k in sorted(old.keys() | new.keys())
                     if old.get(k) != new.get(k))


class Runner:
    """Runs codec specs over datasets, appending records to an optional store.

    ``specs`` may contain sweeps (``jpeg``, ``jpeg:quality=10|90``); they are
    expanded and validated before anything runs, so a bad spec fails fast;
    so are ``threads``, ``timeout`` and ``jobs`` (:func:`check_options`).
    ``metrics`` names the metrics to compute (default: the table's default
    ones); ``jobs``, ``isolate``, ``timeout`` and ``dask`` pick where the codec
    calls run (:func:`executor_for`; module docstring).
    """

    def __init__(self, specs: Iterable[str], *, device: str = "cpu", threads: int | None = None,
                 timing: Timing = Timing(), store: ResultsStore | None = None, cache: RunCache | None = None,
                 timeout: float | None = None, isolate: bool = False, metrics: Sequence[str] | None = None,
                 jobs: int = 1, dask: Any = None) -> None:
        check_options(threads=threads, timeout=timeout, jobs=jobs)
        #: the metric names every record gets (:func:`codecbench.core.metrics.select_metrics`; None: the defaults)
        self.metrics = tuple(metrics) if metrics is not None else default_metrics()
        self.specs = [single for spec in specs for single in expand_spec(spec)]
        if not self.specs:
            raise CodecbenchError("no codec specs to run")
        self.device = device
        #: threads per codec; with several jobs, the cores are shared out (each worker is pinned to its own)
        self.threads = threads_per_job(threads, jobs)
        self.timing, self.store, self.cache, self.timeout = timing, store, cache, timeout
        #: where the codec calls run
        self.executor = executor_for(jobs=jobs, isolate=isolate, timeout=timeout, dask=dask, cached=cache is not None)
        self._codecs: dict[str, Codec] = {}
        self._stale: set[str] = set()
        #: where the time of this runner's work went so far
        self.time_spent = TimeSpent(processes=jobs, dask=self.executor.remote)
        #: per thread, the seconds of warm-up and of codec building (in a worker) within the current measurement
        self._here = threading.local()
        #: guards the shared state that worker threads touch (cache, time accounting)
        self._lock = threading.Lock()

    @property
    def jobs(self) -> int:
        """Codec calls at once (1: in this process, or one worker under ``isolate``)."""
        return self.executor.jobs

    @property
    def isolate(self) -> bool:
        """Whether codec calls run in worker processes of this machine (``isolate``, a timeout, several jobs)."""
        return isinstance(self.executor, IsolatedExecutor)

    def close(self) -> None:
        """Stop the executor's worker processes (if any)."""
        self.executor.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def codec(self, spec: str) -> Codec:
        """The configured codec for ``spec``, built (and its model loaded) once."""
        if spec not in self._codecs:
            self._codecs[spec] = create_codec(spec, device=self.device, threads=self.threads)
        return self._codecs[spec]

    def task(self, codec: Codec, dataset: str, item_id: str, image: np.ndarray | None = None) -> Task:
        """The task of measuring ``codec`` on one image with this runner's options (``image``: the pixels, if
        they are here)."""
        return Task(codec.spec, self.device, self.threads, self.timing, self.metrics, dataset, item_id, image)

    def evaluate(self, codec: Codec, dataset: str, item_id: str, image: np.ndarray,
                 source: SourceFile | None = None) -> Record:
        """One record for ``codec`` on one image (read from ``source``); failures are recorded, not raised."""
        task = self.task(codec, dataset, item_id, image)
        return record_of(codec, dataset, item_id, image, source, lambda: self._measure(codec, task))

    def _measure(self, codec: Codec, task: Task) -> dict:
        here, start = self._here, time.perf_counter()
        here.warm = here.build = 0.0
        measured, timed_calls = self._measure_cached(codec, task)
        codec_s = timed_calls * self.timing.repeats + here.warm
        with self._lock:
            self.time_spent.codec += codec_s
            self.time_spent.scoring += max(0.0, time.perf_counter() - start - codec_s - here.build)
        return measured

    def _measure_cached(self, codec: Codec, task: Task) -> tuple[dict, float]:
        """The measured fields, and the seconds of one timed encode plus one decode that this call ran (0 on a hit)."""
        # results cache (codecbench.engine.cache): look up before encoding ...
        if self.cache is not None:
            with self._lock:
                hit = self.cache.lookup(codec, task.image, self.metrics)
            if hit is not None and not hit.needs_timing:
                return hit.fields(), 0.0  # the record says it was reused (cached, retimed=False)
            if hit is not None:
                times = self._call(codec, task.retiming(hit.measurements["bytes"]))
                if times is not None:
                    return hit.fields(times), times["enc_s"] + times["dec_s"]
        measured = self._call(codec, task)
        if self.cache is not None:  # ... and store after measuring
            with self._lock:
                self.cache.store(codec, task.image, measured)
        return measured, measured["enc_s"] + measured["dec_s"]

    def _call(self, codec: Codec, task: Task) -> Any:
        """``task`` run by the executor; its warm-up and codec-building seconds noted for :meth:`_measure`."""
        called = cast(LocalExecutor, self.executor).call(task, codec)  # images are here: a local executor
        self._here.warm += called.warm_s
        self._here.build += called.build_s
        return called.value

    def run_dataset(self, dataset: str, *, max_images: int | None = None, download: bool = False) -> Iterator[Record]:
        """Yield the records of every spec on every image of ``dataset`` (resuming a store)."""
        data = get_dataset(dataset, max_images=max_images, download=download)
        specs = [s for s in self.specs if takes_dataset(type(self.codec(s)), data.name)]
        if len(specs) < len(self.specs):
            refused = refused_by((type(self.codec(s)) for s in self.specs), data.name)
            warnings.warn(f"skipped on {data.name}: {refused}", stacklevel=2)
        work = (self._remote_work if self.executor.remote else self._local_work)(data, specs)
        for record in self.executor.run(work, self.time_spent):
            yield self.keep(record)

    def _local_work(self, data: Any, specs: list[str]) -> Iterator[list[Callable[[], Record]]]:
        """Per image, the calls that return the records the store does not hold yet (image loaded here)."""
        for item in data:
            yield self._item_tasks(data.name, item, specs)

    def _remote_work(self, data: Any, specs: list[str]) -> Iterator[tuple[Task, Callable[[BaseException], Record]]]:
        """Each pending (spec, image) as an image-less task, with the failed record to give should it be lost."""
        for item in data:
            for codec in [self.codec(s) for s in specs if not self._done(self.codec(s), data.name, item.id)]:
                yield (self.task(codec, data.name, item.id),
                       functools.partial(unreadable_record, codec, data.name, item.id))

    def _item_tasks(self, dataset: str, item: DatasetItem, specs: list[str]) -> list[Callable[[], Record]]:
        """The work on one image: one call per spec that the store does not hold yet, each returning its record.

        The image is loaded here (once, in the caller's thread); an unreadable image gives failed records.
        """
        pending = [s for s in specs if not self._done(self.codec(s), dataset, item.id)]
        if not pending:
            return []
        source = source_file(item.path)  # from the file, so cache hits get it too; None for a CIFAR-10 pickle
        start = time.perf_counter()
        try:
            image, failure = item.load(), None
        except CodecbenchError as exc:
            image, failure = None, exc
        self.time_spent.loading += time.perf_counter() - start
        if failure is not None:
            return [functools.partial(unreadable_record, self.codec(s), dataset, item.id, failure, source)
                    for s in pending]
        return [functools.partial(self.evaluate, self.codec(s), dataset, item.id, image, source) for s in pending]

    def _done(self, codec: Codec, dataset: str, item_id: str) -> bool:
        """Whether the store already holds a successful record made by this very codec (same versions)."""
        if self.store is None:
            return False
        record = self.store.get((codec.spec, dataset, item_id, codec.device))
        if record is None or not record.ok:
            return False
        if record.versions != codec.identity:  # e.g. a retrained checkpoint or an upgraded library
            if codec.spec not in self._stale:
                self._stale.add(codec.spec)
                warnings.warn(f"{codec.spec}: stored records were made by other versions "
                              f"({_version_change(record.versions, codec.identity)}); measuring again", stacklevel=2)
            return False
        return True

    def keep(self, record: Record) -> Record:
        """Store ``record`` (if there is a store), saying how many codec calls ran at once while it was timed."""
        if record.ok and record.jobs is None and not (record.cached and not record.retimed):
            record.jobs = self.jobs  # timed in this run (times reused from the cache keep their own, or unknown)
        if self.store is not None:
            self.store.append(record)
        return record
