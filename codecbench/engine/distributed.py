"""Scale-out on Dask distributed: (spec, dataset, image) tasks on Dask workers, records back to the one writer.

``codecbench run --dask`` starts a :class:`distributed.LocalCluster` on this
machine (``--jobs`` workers, one thread each, bound to 127.0.0.1);
``--scheduler tcp://HOST:PORT`` uses an existing cluster. Each task names a
codec spec, a dataset and an image id; the worker reads the image from its
own data root (``CODECBENCH_DATA`` must point at the same datasets on every
worker: a shared folder), builds the codec once per worker process, warms it
up once, measures through :func:`codecbench.engine.measure.measure` and
returns the :class:`~codecbench.core.results.Record`. The client keeps the
results file: it skips what the store already holds (resume) and appends
records in task order as they arrive. A worker that dies mid-task loses no
record: the scheduler gives its tasks to another worker (``retries``).

Not available on Dask: the local results cache (a file on the client
machine) and ``--isolate``/``--timeout`` (a Dask worker is already a
separate process; a hung codec holds its worker). Timings are taken on the
workers, one task per worker thread at a time.
"""

from __future__ import annotations

from typing import Any, Sequence

from codecbench.core.errors import CodecbenchError, OptionError

#: times the scheduler re-runs a task whose worker died (a crash or a killed machine)
RETRIES = 3

_ITEMS: dict[tuple[str, str], Any] = {}
_WARM: set[tuple] = set()


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


def submit(client: Any, spec: str, device: str, threads: int | None, dataset: str, item_id: str, warmup: int,
           repeats: int, metrics: Sequence[str]) -> Any:
    """The future of :func:`remote_record` for one (spec, image), retried on another worker if its worker dies."""
    return client.submit(remote_record, spec, device, threads, dataset, item_id, warmup, repeats, tuple(metrics),
                         pure=False, retries=RETRIES, key=f"codecbench-{spec}-{dataset}-{item_id}-{id(client)}")


def _item(dataset: str, item_id: str) -> Any:
    """The dataset item ``item_id`` of ``dataset`` in this worker (the listing is read once per worker)."""
    from codecbench.datasets import get_dataset

    if (dataset, item_id) not in _ITEMS:
        for item in get_dataset(dataset):
            _ITEMS[(dataset, item.id)] = item
    try:
        return _ITEMS[(dataset, item_id)]
    except KeyError:
        raise CodecbenchError(f"{dataset}: no image {item_id!r} on this worker (is CODECBENCH_DATA shared?)") from None


def remote_record(spec: str, device: str, threads: int | None, dataset: str, item_id: str, warmup: int,
                  repeats: int, metrics: tuple[str, ...]) -> Any:
    """(On a Dask worker) the record of ``spec`` on image ``item_id`` of ``dataset``, measured here."""
    from codecbench.engine.measure import measure
    from codecbench.core.images import source_file
    from codecbench.engine.isolation import worker_codec
    from codecbench.engine.runner import record_of, unreadable_record

    codec = worker_codec(spec, device, threads)
    item = _item(dataset, item_id)
    source = source_file(item.path)
    try:
        image = item.load()
    except CodecbenchError as exc:
        return unreadable_record(codec, dataset, item_id, exc, source)

    def measured() -> dict:
        if (spec, device, threads) not in _WARM:
            for _ in range(warmup):
                codec.decode(codec.encode(image))
            _WARM.add((spec, device, threads))
        return measure(codec, image, repeats, metrics=metrics)

    return record_of(codec, dataset, item_id, image, source, measured)
