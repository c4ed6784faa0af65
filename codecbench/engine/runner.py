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
exceeds it is stopped by killing its worker (``CodecTimeoutError``), so a
timeout implies isolation. Timings are taken inside the worker, exactly as
in-process; worker start-up, building the codec (model loading) and its
warm-up rounds are never inside the per-image timeout or a timed region: each
fresh worker builds and warms a codec in a separate call bounded by
``max(STARTUP_TIMEOUT, timeout)`` (a warm-up that hangs is stopped then).

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
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from codecbench.engine.cache import RunCache
from codecbench.core.codec import Codec, create_codec, expand_spec
from codecbench.datasets import DatasetItem, get_dataset
from codecbench.engine.measure import Timing, check_count, measure, retime
from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.images import SourceFile, source_file
from codecbench.engine.isolation import STARTUP_TIMEOUT, Worker
from codecbench.core.metrics import default_metrics
from codecbench.core.results import Record
from codecbench.engine.store import ResultsStore


@dataclass
class TimeSpent:
    """Where a run's wall time went, in seconds (see :meth:`Runner.time_spent`).

    ``codec``: the timed encode and decode calls (every repeat) and the
    warm-up rounds; ``scoring``: the rest of each image's measurement
    (metrics, the decoded-shape check, results-cache look-ups and writes,
    the worker round trip under ``isolate``); ``loading``: reading and
    decoding the dataset's images.
    """

    codec: float = 0.0
    scoring: float = 0.0
    loading: float = 0.0

    def summary(self, wall: float) -> str:
        """One line: each part in seconds and as a share of ``wall`` (seconds), the rest as "other"."""
        other = max(0.0, wall - self.codec - self.scoring - self.loading)
        parts = [("codec calls", self.codec), ("metrics and cache", self.scoring),
                 ("image loading", self.loading), ("other (model loading, results files)", other)]
        share = ", ".join(f"{name} {sec:.1f} s ({100 * sec / wall if wall > 0 else 0:.0f}%)" for name, sec in parts)
        return f"time: {wall:.1f} s wall; {share}"


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


def takes_dataset(codec: type[Codec], dataset: str) -> bool:
    """Whether a codec takes the images of ``dataset`` (a ``:gray`` view has one channel)."""
    return 1 in codec.channels if dataset.endswith(":gray") else 3 in codec.channels


def error_text(exc: BaseException) -> str:
    """A record's ``error``: the exception's type and the first line of its message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unreadable_record(codec: Codec, dataset: str, item_id: str, failure: BaseException,
                      source: SourceFile | None = None) -> Record:
    """The failed record of ``codec`` on an image that could not be loaded (``failure``: the loading error)."""
    record = base_record(codec, dataset, item_id, None, source)
    record.error = error_text(failure)
    return record


def record_of(codec: Codec, dataset: str, item_id: str, image: np.ndarray, source: SourceFile | None,
              measured: Callable[[], dict]) -> Record:
    """The record of ``codec`` on one image with the fields ``measured()`` returns; a failure (anything but
    ``KeyboardInterrupt``, a plugin's ``sys.exit`` included) is the record's ``error``, never raised."""
    record = base_record(codec, dataset, item_id, image, source)
    try:
        for key, value in measured().items():
            setattr(record, key, value)
    except BaseException as exc:  # one image's failure must not end the run
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.error = error_text(exc)
    return record


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
        #: where the wall time of this runner's work went so far
        self.time_spent = TimeSpent()
        self._warmup_s = 0.0
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
        return Worker(label="codec worker process", preload=("codecbench.engine.runner",), env=env)

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
        for _ in range(self.timing.warmup):
            codec.decode(codec.encode(image))
        self._warmup_s += time.perf_counter() - start

    def evaluate(self, codec: Codec, dataset: str, item_id: str, image: np.ndarray,
                 source: SourceFile | None = None) -> Record:
        """One record for ``codec`` on one image (read from ``source``); failures are recorded, not raised."""
        return record_of(codec, dataset, item_id, image, source, lambda: self._measure(codec, image))

    def _measure(self, codec: Codec, image: np.ndarray) -> dict:
        start, warmup_before = time.perf_counter(), self._warmup_s
        measured, timed_calls = self._measure_cached(codec, image)
        codec_s = timed_calls * self.timing.repeats + (self._warmup_s - warmup_before)
        with self._lock:
            self.time_spent.codec += codec_s
            self.time_spent.scoring += time.perf_counter() - start - codec_s
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
                return hit.measurements, 0.0
            if hit is not None:
                times = self._codec_call(retime, codec, image, self.timing.repeats, hit.measurements["bytes"])
                if times is not None:
                    return {**hit.measurements, **times}, times["enc_s"] + times["dec_s"]
        measured = self._codec_call(_measure_with, codec, image, self.timing.repeats, self.metrics)
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
                worker.call(
                    "codecbench.engine.runner:prepare_isolated", codec.spec, self.device, self.threads, image,
                    self.timing.warmup, timeout=None if self.timeout is None else max(STARTUP_TIMEOUT, self.timeout),
                    describe=f"{codec.spec} (building and warm-up)",
                )
                self._prepared.add(prepared)
            return worker.call(
                "codecbench.engine.runner:isolated_call", function.__name__, codec.spec, self.device, self.threads, image,
                args, timeout=self.timeout, describe=codec.spec,
            )
        finally:
            self._idle.put(worker)

    def run_dataset(self, dataset: str, *, max_images: int | None = None, download: bool = False) -> Iterator[Record]:
        """Yield the records of every spec on every image of ``dataset`` (resuming a store)."""
        data = get_dataset(dataset, max_images=max_images, download=download)
        specs = [s for s in self.specs if takes_dataset(type(self.codec(s)), data.name)]
        skipped = sorted({self.codec(s).name for s in self.specs} - {self.codec(s).name for s in specs})
        if skipped:
            warnings.warn(f"{', '.join(skipped)} take colour images only: skipped on {data.name}", stacklevel=2)
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

        futures = (distributed.submit(self.dask, spec, self.device, self.threads, data.name, item.id,
                                      self.timing.warmup, self.timing.repeats, self.metrics)
                   for item in data for spec in specs if not self._done(self.codec(spec), data.name, item.id))
        for record in _in_order(futures, 4 * self.jobs):
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
        if self.store is not None:
            self.store.append(record)
        return record


def _in_order(futures: Iterable[Any], depth: int) -> Iterator[Record]:
    """The results of ``futures`` (thread-pool or Dask futures) in submission order, at most ``depth`` ahead."""
    window: deque[Any] = deque()
    for future in futures:
        window.append(future)
        if len(window) > depth:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


def prepare_isolated(spec: str, device: str, threads: int | None, image: np.ndarray, warmup: int) -> None:
    """(In a worker process, see ``Runner(isolate=True)``) build the codec and run its ``warmup`` rounds on ``image``."""
    from codecbench.engine.isolation import worker_codec

    codec = worker_codec(spec, device, threads)
    for _ in range(warmup):
        codec.decode(codec.encode(image))


def isolated_call(function: str, spec: str, device: str, threads: int | None, image: np.ndarray,
                  args: tuple) -> Any:
    """(In a worker process, see ``Runner(isolate=True)``) run ``function`` (measure or retime) on ``image``."""
    from codecbench.engine.isolation import worker_codec

    return {f.__name__: f for f in (_measure_with, retime)}[function](worker_codec(spec, device, threads), image, *args)


def _measure_with(codec: Codec, image: np.ndarray, repeats: int, metrics: Sequence[str]) -> dict:
    """:func:`~codecbench.engine.measure.measure` with positional options (as worker calls pass them)."""
    return measure(codec, image, repeats, metrics=metrics)
