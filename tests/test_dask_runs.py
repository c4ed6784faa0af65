"""``codecbench run --dask`` / ``--scheduler``: tasks on Dask workers (a LocalCluster on 127.0.0.1 here), the serial
run's records, no record lost when a worker dies mid-run, and a run whose workers all died fails instead of
waiting forever."""

import os
import signal
import subprocess
import sys

import pytest

from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.results import read_records
from codecbench.engine.runner import Runner

distributed = pytest.importorskip("distributed", reason="Dask is in the dev extra: pip install -e '.[dev]'")

SPECS = ["jpeg:quality=30|80", "png"]
MEASURED = ("bytes", "bpp", "psnr", "psnr_y", "ssim", "ms_ssim", "lossless_ok", "error")


def _measured(records):
    return sorted((r.spec, r.image, *(getattr(r, f) for f in MEASURED)) for r in records)


@pytest.fixture(scope="module")
def client():
    from codecbench.engine.distributed import close, connect

    dask_client = connect(None, 2)
    yield dask_client
    close(dask_client)


def test_dask_run_gives_the_serial_records(image_folder, client):
    with Runner(SPECS) as serial:
        one = list(serial.run_dataset(f"folder:{image_folder}"))
    with Runner(SPECS, jobs=2, dask=client) as on_dask:
        two = list(on_dask.run_dataset(f"folder:{image_folder}"))
    assert [(r.spec, r.image) for r in two] == [(r.spec, r.image) for r in one]  # task order
    assert _measured(two) == _measured(one)
    assert all(r.enc_s > 0 for r in two if r.ok)


def test_a_worker_killed_mid_run_loses_no_record(image_folder, client):
    pids = client.run(os.getpid)
    records, killed = [], False
    with Runner(["jpeg:quality=10|20|30|40|50|60|70|80|90", "png"], jobs=2, dask=client) as runner:
        for record in runner.run_dataset(f"folder:{image_folder}"):
            records.append(record)
            if not killed:  # the other tasks are in flight on both workers: kill one of them
                os.kill(next(iter(pids.values())), signal.SIGKILL)
                killed = True
    assert len(records) == 10 * 4 and len({(r.spec, r.image) for r in records}) == 40
    assert sum(not r.ok for r in records) == 10  # broken.png, once per spec, and nothing else
    assert all(r.ok for r in records if r.image != "broken")


def test_dask_refuses_the_local_cache_and_timeouts(client):
    from codecbench.engine.cache import ResultsCache, RunCache

    with pytest.raises(OptionError):
        Runner(["png"], dask=client, timeout=5)
    with pytest.raises(OptionError):
        Runner(["png"], dask=client, cache=RunCache(ResultsCache(":memory:")))


def test_cli_dask_local_cluster(image_folder, tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "codecbench", "run", "--codecs", "png", "--datasets",
                           f"folder:{image_folder}", "-o", str(out), "--dask", "--jobs", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = read_records(out)
    assert len(records) == 4 and sum(r.ok for r in records) == 3
    unreachable = subprocess.run([sys.executable, "-m", "codecbench", "run", "--codecs", "png", "-o",
                                  str(tmp_path / "x.json"), "--scheduler", "tcp://127.0.0.1:9"],
                                 capture_output=True, text=True, timeout=300)
    assert unreachable.returncode == 2 and unreachable.stderr.strip().count("\n") == 0, unreachable.stderr[-1500:]


@pytest.mark.timeout(300)  # the old code waited forever
def test_a_run_whose_workers_all_died_fails_keeping_its_records(image_folder, tmp_path, monkeypatch):
    from codecbench.engine import distributed as on_dask
    from codecbench.engine.store import ResultsStore

    monkeypatch.setattr(on_dask, "NO_WORKERS_WAIT", 2.0, raising=False)  # (raising=False: the old code has none)
    # the scheduler of a LocalCluster, and two workers without a nanny (one would restart them) to kill
    cluster = distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0", processes=True)
    workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                 "--no-nanny", "--nthreads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(2, timeout=120)
        store, records = ResultsStore(tmp_path / "r.json"), []
        with pytest.raises(CodecbenchError, match="no Dask worker left") as failure:
            with Runner(["jpeg:quality=10|20|30|40|50|60|70|80|90", "png"], jobs=2, dask=client, store=store) as runner:
                for record in runner.run_dataset(f"folder:{image_folder}"):
                    records.append(record)
                    if len(records) == 1:  # the window of tasks in flight holds at most 8 of the 40
                        for worker in workers:
                            worker.kill()
        store.close()
        assert "\n" not in str(failure.value)
        kept = read_records(tmp_path / "r.json")
        assert 1 <= len(kept) < 40
        assert sorted((r.spec, r.image) for r in kept) == sorted((r.spec, r.image) for r in records)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
        client.close()
        cluster.close()
