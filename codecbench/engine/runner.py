"""Evaluate configured codecs over a dataset and produce result records.

The loop streams the dataset: each image is loaded once, run through every
codec spec, and dropped. For each (spec, image) the runner calls
:func:`codecbench.engine.measure.measure` (encode, decode, shape check, the
selected metrics of :mod:`codecbench.core.metrics`, the two codec calls timed
separately):

- before its first timed call each codec gets ``warmup`` untimed encode and
  decode rounds (on the first image it meets), so one-off set-up (library
  initialisation, kernel selection, allocator growth) is not timed;
- ``enc_s``/``dec_s`` are the median over ``repeats`` calls of the codec's
  ``encode``/``decode`` alone, each followed by ``codec.synchronize()`` (a
  device sync for GPU codecs). Image loading, model loading and metric
  computation are outside the timed region.

A failure on one image (unreadable image, codec exception, wrong decoded
shape) becomes a record with ``error`` set; the run goes on.

Each record also carries the size and format of the image file the pixels
were read from (``source_bytes``, ``source_format``; None for a CIFAR-10
pickle), read from the file's header on every run, cache hit or not.

With ``isolate=True`` (``codecbench run --isolate``) the codec calls of each
(spec, image) — warm-up, encode, decode, metrics — run in a worker process
(:mod:`codecbench.engine.isolation`): a native crash there (segfault, abort) costs
that one record (``CodecCrashError``) and a fresh worker takes the next one.
``timeout=SECONDS`` (``--timeout``) bounds each such call; a codec that
exceeds it is stopped by killing its worker and whatever processes it started
(``CodecTimeoutError``), so a timeout implies isolation. Timings are taken
inside the worker, exactly as in-process; worker start-up, building the codec
(model loading) and its warm-up rounds are never inside the per-image timeout
or a timed region: each fresh worker builds and warms a codec in a separate
call bounded by ``max(STARTUP_TIMEOUT, timeout)`` (a warm-up that hangs is
stopped then).

With ``jobs=N`` (``codecbench run --jobs N``; default 1 through the API,
all cores from the CLI) the (spec, image) calls run in N worker processes at
once, each pinned to its own core and given ``cores // N`` threads (unless
``threads`` says otherwise); the records come back to this process, the one
writer, in the order of a serial run, and the record set is the serial
run's. Resume, the results cache, timeouts and crash isolation work as
with one worker. Timing honesty: each timed call runs alone on its core, so
no two codecs share a core, but they do share the memory bus and the last
level cache while N calls run; results files say so (``meta.jobs``) and
reports print it next to the timed region. For the cleanest timings run
``--jobs 1`` (or time only with ``--retime`` after a parallel run).

A codec that raises anything but ``KeyboardInterrupt`` — ``SystemExit`` from
a plugin's ``sys.exit()`` included — costs that image's record only.

Numeric options are checked up front (:func:`check_options`,
:class:`Timing`): ``threads`` from 1 to :data:`MAX_THREADS`, a finite
``timeout`` above 0, ``repeats`` ≥ 1, ``warmup`` ≥ 0; anything else is an
:class:`~codecbench.core.errors.OptionError`.
"""

from __future__ import annotations

import functools
import math
import os
import queue
import threading
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from codecbench.engine.cache import RunCache
from codecbench.engine.channels import refused_by, takes_dataset
from codecbench.core.codec import Codec, create_codec, expand_spec
from codecbench.datasets import DatasetItem, get_dataset
from codecbench.engine.measure import Timing, check_count, retime, warm_up
from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.images import SourceFile, source_file
from codecbench.engine.isolation import STARTUP_TIMEOUT, Worker
from codecbench.core.metrics import default_metrics
from codecbench.core.results import Record
from codecbench.engine.store import ResultsStore
from codecbench.engine.tasks import measure_with, record_of, unreadable_record
from codecbench.engine.time_spent import TimeSpent


#: the most threads a codec may be given (torch crashes on absurd counts such as 100000)
MAX_THREADS = 1024


def _cores() -> list[int]:
    """The CPU cores this process may run on (worker processes of several jobs are pinned one to each)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def default_jobs() -> int:
    """The CLI's default ``--jobs``: one per core this process may use."""
    return len(_cores())


def threads_per_job(threads: int | None, jobs: int) -> int | None:
    """The threads each codec gets: ``threads`` if given; with several jobs, the cores shared out (≥ 1);
    else None (the codec's default: all cores)."""
    if threads is not None or jobs == 1:
        return threads
    return max(1, len(_cores()) // jobs)


def check_options(*, threads: int | None = None, timeout: float | None = None, max_images: int | None = None,
                  jobs: int | None = None) -> None:
    """Raise :class:`OptionError` for a thread or job count outside 1..MAX_THREADS, a timeout that is not a
    finite number of seconds above 0, or ``max_images`` below 1 (None: not set, always accepted)."""
    check_count("--threads", threads, 1, MAX_THREADS)
    check_count("--jobs", jobs, 1, MAX_THREADS)
    check_count("--max-images", max_images, 1)
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise OptionError(f"--timeout must be a finite number of seconds above 0, got {timeout!r}")


def _version_change(old: dict[str, str], new: dict[str, str]) -> str:
    return ", ".join(f"{k} {old.get(k, '-')} → {new.get(k, '-')}" for k in sorted(old.keys() | new.keys())
                     if old.get(k) != new.get(k))


class Runner:
    """Runs codec specs over datasets, appending records to an optional store.

    ``specs`` may contain sweeps (``jpeg``, ``jpeg:quality=10|90``); they are
    expanded and validated before anything runs, so a bad spec fails fast;
    so are ``threads``, ``timeout`` and ``jobs`` (:func:`check_options`).
    ``metrics`` names the metrics to compute (default: the table's default
    ones); ``jobs`` runs that many codec processes at once (module docstring).
    """

    def __init__(
        self,
        specs: Iterable[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
        timing: Timing = Timing(),
        store: ResultsStore | None = None,
        cache: RunCache | None = None,
        timeout: float | None = None,
        isolate: bool = False,
        metrics: Sequence[str] | None = None,
        jobs: int = 1,
        dask: Any = None,
    ) -> None:
        check_options(threads=threads, timeout=timeout, jobs=jobs)
        #: the metric names every record gets (:func:`codecbench.core.metrics.select_metrics`; None: the defaults)
        self.metrics = tuple(metrics) if metrics is not None else default_metrics()
        self.specs = [single for spec in specs for single in expand_spec(spec)]
        if not self.specs:
            raise CodecbenchError("no codec specs to run")
        self.device = device
        #: codec processes at once (1: in this process, or one worker under ``isolate``)
        self.jobs = jobs
        #: threads per codec; with several jobs, the cores are shared out (each worker is pinned to its own)
        self.threads = threads_per_job(threads, jobs)
        self.timing = timing
        self.store = store
        self.cache = cache
        self._codecs: dict[str, Codec] = {}
        self._warm: set[str] = set()
        #: (spec, worker start) pairs whose codec is built and warmed up in the worker process
        self._prepared: set[tuple[str, int]] = set()
        self._stale: set[str] = set()
        #: where the time of this runner's work went so far
        self.time_spent = TimeSpent(processes=jobs, dask=dask is not None)
        #: per thread, the seconds of warm-up and of codec building (in a worker) within the current measurement
        self._here = threading.local()
        #: seconds one codec call (warm-up, encode, decode, metrics of one image) may take
        self.timeout = timeout
        #: codec calls run in worker processes (always with a timeout: only a process can be stopped; always
        #: with several jobs: one worker per job)
        if dask is not None and (isolate or timeout is not None or cache is not None):
            raise OptionError("Dask runs take neither the results cache (use --no-cache) nor --isolate/--timeout")
        self.isolate = (isolate or timeout is not None or jobs > 1) and dask is None
        self._all_workers = [self._new_worker(i) for i in range(jobs)] if self.isolate else []
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        for worker in self._all_workers:
            self._idle.put(worker)
        #: a :class:`distributed.Client` (:mod:`codecbench.engine.distributed`): tasks run on its workers
        self.dask = dask
        #: guards the shared state that worker threads touch (cache, time accounting, prepared codecs)
        self._lock = threading.Lock()

    def _new_worker(self, index: int) -> Worker:
        env = {"CODECBENCH_WORKER_CPU": str(_cores()[index % len(_cores())])} if self.jobs > 1 else {}
        return Worker(label="codec worker process", preload=("codecbench.engine.tasks",), env=env)

    def close(self) -> None:
        """Stop the worker processes of ``isolate`` mode and of several jobs (if any)."""
        for worker in self._all_workers:
            worker.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def codec(self, spec: str) -> Codec:
        """The configured codec for ``spec``, built (and its model loaded) once."""
        if spec not in self._codecs:
            self._codecs[spec] = create_codec(spec, device=self.device, threads=self.threads)
        return self._codecs[spec]

    def _warm_up(self, codec: Codec, image: np.ndarray) -> None:
        if codec.spec in self._warm:
            return
        self._warm.add(codec.spec)
        start = time.perf_counter()
        warm_up(codec, image, self.timing.warmup)
        self._here.warm += time.perf_counter() - start

    def evaluate(self, codec: Codec, dataset: str, item_id: str, image: np.ndarray,
                 source: SourceFile | None = None) -> Record:
        """One record for ``codec`` on one image (read from ``source``); failures are recorded, not raised."""
        return record_of(codec, dataset, item_id, image, source, lambda: self._measure(codec, image))

    def _measure(self, codec: Codec, image: np.ndarray) -> dict:
        here, start = self._here, time.perf_counter()
        here.warm = here.build = 0.0
        measured, timed_calls = self._measure_cached(codec, image)
        codec_s = timed_calls * self.timing.repeats + here.warm
        with self._lock:
            self.time_spent.codec += codec_s
            self.time_spent.scoring += max(0.0, time.perf_counter() - start - codec_s - here.build)
        return measured

    def _measure_cached(self, codec: Codec, image: np.ndarray) -> tuple[dict, float]:
        """The measured fields, and the seconds of one timed encode plus one decode that this call ran (0 on a hit)."""
        # results cache (codecbench.engine.cache): look up before encoding ...
        if self.cache is not None:
            with self._lock:
                hit = self.cache.lookup(codec, image)
            if hit is not None and not set(self.metrics) <= hit.measurements.keys():
                hit = None  # measured without a metric asked for now: measure again (and store all of them)
            if hit is not None and not hit.needs_timing:
                return hit.fields(), 0.0  # the record says it was reused (cached, retimed=False)
            if hit is not None:
                times = self._codec_call(retime, codec, image, self.timing.repeats, hit.measurements["bytes"])
                if times is not None:
                    return hit.fields(times), times["enc_s"] + times["dec_s"]
        measured = self._codec_call(measure_with, codec, image, self.timing.repeats, self.metrics)
        if self.cache is not None:  # ... and store after measuring
            with self._lock:
                self.cache.store(codec, image, measured)
        return measured, measured["enc_s"] + measured["dec_s"]

    def _codec_call(self, function: Callable, codec: Codec, image: np.ndarray, *args: object) -> Any:
        """``function(codec, image, *args)`` after the codec's warm-up: here, or in the worker process.

        In the worker, building and warming the codec is a call of its own (once per worker process), so
        the per-image ``timeout`` bounds ``function`` alone.
        """
        if not self.isolate:
            self._warm_up(codec, image)
            return function(codec, image, *args)
        worker = self._idle.get()  # one call per worker at a time; several jobs: one thread per worker
        try:
            worker.start()  # a fresh worker after a crash or timeout: its codecs must be built again
            prepared = (codec.spec, id(worker), worker.starts)
            if prepared not in self._prepared:
                start = time.perf_counter()
                warm_s = worker.call(
                    "codecbench.engine.tasks:prepare_isolated", codec.spec, self.device, self.threads, image,
                    self.timing.warmup, timeout=None if self.timeout is None else max(STARTUP_TIMEOUT, self.timeout),
                    describe=f"{codec.spec} (building and warm-up)",
                )
                self._prepared.add(prepared)
                self._here.warm += warm_s
                self._here.build += time.perf_counter() - start - warm_s
            return worker.call(
                "codecbench.engine.tasks:isolated_call", function.__name__, codec.spec, self.device, self.threads,
                image, args, timeout=self.timeout, describe=codec.spec,
            )
        finally:
            self._idle.put(worker)

    def run_dataset(self, dataset: str, *, max_images: int | None = None, download: bool = False) -> Iterator[Record]:
        """Yield the records of every spec on every image of ``dataset`` (resuming a store)."""
        data = get_dataset(dataset, max_images=max_images, download=download)
        specs = [s for s in self.specs if takes_dataset(type(self.codec(s)), data.name)]
        if len(specs) < len(self.specs):
            refused = refused_by((type(self.codec(s)) for s in self.specs), data.name)
            warnings.warn(f"skipped on {data.name}: {refused}", stacklevel=2)
        if self.dask is not None:
            yield from self._run_on_dask(data, specs)
            return
        if self.jobs == 1:
            for item in data:
                pending = self._item_tasks(data.name, item, specs)
                while pending:  # pop each call: the image goes with the last one, before the next image loads
                    yield self._keep(pending.pop(0)())
            return
        tasks = (task for item in data for task in self._item_tasks(data.name, item, specs))
        # several jobs: tasks run on a thread per worker process; records come back in task order (the order
        # of a serial run), and at most 2 × jobs images' tasks are in flight (bounded memory)
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="codecbench-job") as pool:
            for record in _in_order((pool.submit(task) for task in tasks), 2 * self.jobs):
                yield self._keep(record)

    def _run_on_dask(self, data: Any, specs: list[str]) -> Iterator[Record]:
        """Every pending (spec, image) as a Dask task; records in task order, at most 4 × jobs in flight."""
        from codecbench.engine import distributed

        lost: dict[str, Callable[[BaseException], Record]] = {}  # a task's failed record, should Dask give it up

        def futures() -> Iterator[Any]:
            for item in data:
                for spec in [s for s in specs if not self._done(self.codec(s), data.name, item.id)]:
                    future = distributed.submit(self.dask, spec, self.device, self.threads, data.name, item.id,
                                                self.timing.warmup, self.timing.repeats, self.metrics)
                    lost[future.key] = functools.partial(unreadable_record, self.codec(spec), data.name, item.id)
                    yield future

        get = functools.partial(distributed.result, self.dask, lost)
        for record, seconds in _in_order(futures(), 4 * self.jobs, get):
            self.time_spent.add(seconds)  # as the worker measured them
            yield self._keep(record)

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

    def _keep(self, record: Record) -> Record:
        if record.ok and record.jobs is None and not (record.cached and not record.retimed):
            record.jobs = self.jobs  # timed in this run (times reused from the cache keep their own, or unknown)
        if self.store is not None:
            self.store.append(record)
        return record


def _in_order(futures: Iterable[Any], depth: int, result: Callable[[Any], Any] | None = None) -> Iterator[Any]:
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
