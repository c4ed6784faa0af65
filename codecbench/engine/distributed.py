"""Scale-out on Dask distributed: (spec, dataset, image) tasks on Dask workers, records back to the one writer.

``--dask`` starts a local cluster (``--jobs`` one-thread workers on 127.0.0.1),
``--scheduler tcp://HOST:PORT`` uses an existing one. A worker reads the image
from its own ``CODECBENCH_DATA``, builds and warms each codec once, measures
through :func:`codecbench.engine.measure.measure` and returns the record.
The client keeps the results file: it resumes and appends in task order.

A dead worker loses no record (its tasks are retried elsewhere); a task that
kills every worker becomes a failed record. With no worker left the run waits
:data:`NO_WORKERS_WAIT` for one, then fails with one line, keeping every record
received; a lost scheduler fails it at once. Not on Dask: the local results
cache, ``--isolate`` and ``--timeout``. The manual: ``docs/running.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from concurrent.futures import CancelledError
from typing import Any, Callable, Iterable, Iterator

from codecbench.core.errors import CodecbenchError, CodecCrashError, OptionError
from codecbench.core.images import source_file
from codecbench.datasets import get_dataset
from codecbench.engine.executors import in_order
from codecbench.engine.records import record_of, unreadable_record
from codecbench.engine.tasks import Task, run_on, task_codec, warm_once
from codecbench.engine.time_spent import TimeSpent

#: times the scheduler re-runs a task whose worker died (a crash or a killed machine)
RETRIES = 3
#: seconds a run waits, with tasks pending, for a cluster left without workers to get one back before it fails
NO_WORKERS_WAIT = 60.0
#: seconds between looks at the cluster while a result is awaited
POLL_S = 1.0

_ITEMS: dict[tuple[str, str], Any] = {}


def connect(scheduler: str | None, workers: int) -> Any:
    """A :class:`distributed.Client`: on ``scheduler`` (``tcp://HOST:PORT``), or on a new LocalCluster of
    ``workers`` single-threaded worker processes on 127.0.0.1 when ``scheduler`` is None."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("--dask/--scheduler need Dask: pip install 'codecbench[dask]'") from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise CodecbenchError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                           processes=True)
    return Client(cluster)


def close(client: Any) -> None:
    """Close the client, and the LocalCluster it started (an external cluster keeps running)."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


class DaskExecutor:
    """An executor (:mod:`codecbench.engine.executors`) on the workers of a Dask ``client``: each task is loaded,
    measured and made a record there (:func:`remote_record`); records come back in task order, at most
    4 × ``jobs`` tasks in flight."""

    remote = True

    def __init__(self, client: Any, jobs: int) -> None:
        self.client, self.jobs = client, jobs

    def run(self, work: Iterable[tuple[Task, Callable[[BaseException], Any]]], spent: TimeSpent) -> Iterator[Any]:
        """The records of ``work``: image-less tasks, each with the failed record to give should Dask give it up;
        the workers' seconds are added to ``spent``."""
        lost: dict[str, Callable[[BaseException], Any]] = {}

        def futures() -> Iterator[Any]:
            for task, failed in work:  # retried on another worker if its worker dies
                key = f"codecbench-{task.spec}-{task.dataset}-{task.item_id}-{id(self.client)}"
                future = self.client.submit(remote_record, task, pure=False, retries=RETRIES, key=key)
                lost[future.key] = failed
                yield future

        for record, seconds in in_order(futures(), 4 * self.jobs, functools.partial(result, self.client, lost)):
            spent.add(seconds)  # as the worker measured them
            yield record

    def close(self) -> None:
        """Nothing to stop: the client and its cluster belong to the caller (:func:`close`)."""


def result(client: Any, lost: dict[str, Callable[[BaseException], Any]], future: Any) -> tuple[Any, dict[str, float]]:
    """The record ``future`` (from :meth:`DaskExecutor.run`) brings and the worker's seconds (:func:`remote_record`);
    ``(lost[future.key](error), {})`` if Dask gave its task up after the workers running it died (``lost``: a
    failed record for each pending task, popped here).

    Raises :class:`CodecbenchError` once the cluster has had no worker for :data:`NO_WORKERS_WAIT` seconds,
    or when the connection to the scheduler is lost.
    """
    from distributed import KilledWorker

    failed = lost.pop(future.key, None)
    idle_since = None
    while True:
        try:
            return future.result(timeout=POLL_S)
        except TimeoutError:
            pass
        except KilledWorker:
            if failed is None:
                raise
            return failed(CodecCrashError("every Dask worker that ran this task died (a crash in the codec?)")), {}
        except CancelledError:
            raise CodecbenchError("lost the connection to the Dask scheduler; the records received so far are "
                                  "kept") from None
        if _has_workers(client):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= NO_WORKERS_WAIT:
            raise CodecbenchError(f"no Dask worker left: the cluster has had none for {NO_WORKERS_WAIT:g} s with "
                                  "tasks pending; the records received so far are kept")


def _has_workers(client: Any) -> bool:
    """Whether the scheduler lists at least one worker (False if it cannot be asked)."""
    try:
        return bool(client.nthreads())
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer has no worker for us
        return False


def _item(dataset: str, item_id: str) -> Any:
    """The dataset item ``item_id`` of ``dataset`` in this worker (the listing is read once per worker)."""
    if (dataset, item_id) not in _ITEMS:
        for item in get_dataset(dataset):
            _ITEMS[(dataset, item.id)] = item
    try:
        return _ITEMS[(dataset, item_id)]
    except KeyError:
        raise CodecbenchError(f"{dataset}: no image {item_id!r} on this worker (is CODECBENCH_DATA shared?)") from None


def remote_record(task: Task) -> tuple[Any, dict[str, float]]:
    """(On a Dask worker) the record of ``task``, its image loaded and its codec built and warmed up here, and the
    seconds spent on it, as :class:`~codecbench.engine.time_spent.TimeSpent` counts them: ``loading`` the image,
    ``codec`` calls (warm-up and every timed repeat), ``scoring`` (the rest of the measurement)."""
    codec = task_codec(task)
    item = _item(task.dataset, task.item_id)
    source = source_file(item.path)
    seconds = {"loading": 0.0, "codec": 0.0, "scoring": 0.0}
    start = time.perf_counter()
    try:
        image = item.load()
    except CodecbenchError as exc:
        return unreadable_record(codec, task.dataset, task.item_id, exc, source), seconds
    finally:
        seconds["loading"] = time.perf_counter() - start
    task = dataclasses.replace(task, image=image)

    def measured() -> dict:
        start = time.perf_counter()
        warmed = start + warm_once(codec, image, task.timing.warmup)
        values = run_on(codec, task)
        timed = (values["enc_s"] + values["dec_s"]) * task.timing.repeats
        seconds["codec"] = warmed - start + timed
        seconds["scoring"] = max(0.0, time.perf_counter() - warmed - timed)
        return values

    return record_of(codec, task.dataset, task.item_id, image, source, measured), seconds
