"""The content-addressed results cache: keys, persistence, concurrency, damage."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading

import numpy as np
import pytest

from codecbench.engine.cache import ResultsCache, default_cache_path, image_digest
from codecbench.core.errors import CacheError
from codecbench.core.results import Record


class FakeCodec:
    """Just the identity a cache key is made of."""

    def __init__(self, name="jpeg", version="1", spec="jpeg:quality=75", device="cpu", libs=None):
        self.name, self.version, self.spec, self.device = name, version, spec, device
        self._libs = libs if libs is not None else {"pillow": "11.0.0", "libjpeg-turbo": "3.0.4"}

    def library_versions(self):
        return dict(self._libs)


IMAGE = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
MEASURED = {"bytes": 123, "bpp": 49.2, "psnr": 31.25, "psnr_y": 32.5, "ssim": 0.91, "ms_ssim": None,
            "lossless_ok": None, "enc_s": 0.0012, "dec_s": 0.0004, "threads": 2, "repeats": 1}


def test_put_then_get_round_trips_exactly(tmp_path):
    with ResultsCache(tmp_path / "c.sqlite") as cache:
        assert cache.get(FakeCodec(), IMAGE) is None
        cache.put(FakeCodec(), IMAGE, "cpu", MEASURED)
        assert cache.get(FakeCodec(), IMAGE, "cpu") == MEASURED
        assert cache.get(FakeCodec(), IMAGE.copy()) == MEASURED  # same pixels, another array
        assert cache.get(FakeCodec(), image_digest(IMAGE)) == MEASURED  # a precomputed digest
    with ResultsCache(tmp_path / "c.sqlite") as again:  # persisted
        assert again.get(FakeCodec(), IMAGE) == MEASURED and len(again) == 1


@pytest.mark.parametrize(
    "changed",
    [
        FakeCodec(name="webp", spec="webp:quality=75"),
        FakeCodec(version="2"),
        FakeCodec(spec="jpeg:quality=76"),
        FakeCodec(spec="jpeg:quality=75,subsampling=0"),
        FakeCodec(libs={"pillow": "11.1.0", "libjpeg-turbo": "3.0.4"}),
        FakeCodec(libs={"pillow": "11.0.0", "libjpeg-turbo": "3.1.0"}),
        FakeCodec(device="cuda"),
    ],
    ids=["name", "version", "setting", "other-setting", "library", "bit-producing-library", "device"],
)
def test_any_change_in_the_key_misses(tmp_path, changed):
    with ResultsCache(tmp_path / "c.sqlite") as cache:
        cache.put(FakeCodec(), IMAGE, None, MEASURED)
        assert cache.get(changed, IMAGE) is None


def test_one_changed_pixel_or_shape_misses(tmp_path):
    with ResultsCache(tmp_path / "c.sqlite") as cache:
        cache.put(FakeCodec(), IMAGE, None, MEASURED)
        other = IMAGE.copy()
        other[3, 4, 2] ^= 1
        assert cache.get(FakeCodec(), other) is None
        assert cache.get(FakeCodec(), IMAGE.reshape(5, 4, 3)) is None  # same bytes, other shape
        assert image_digest(IMAGE) != image_digest(IMAGE.reshape(5, 4, 3))


def test_clear_all_or_one_codec(tmp_path):
    with ResultsCache(tmp_path / "c.sqlite") as cache:
        cache.put(FakeCodec(), IMAGE, None, MEASURED)
        cache.put(FakeCodec(spec="jpeg:quality=10"), IMAGE, None, MEASURED)
        cache.put(FakeCodec(name="webp", spec="webp:quality=75"), IMAGE, None, MEASURED)
        assert cache.stats()["by_codec"] == {"jpeg": 2, "webp": 1}
        assert cache.clear("webp") == 1 and len(cache) == 2
        assert cache.clear() == 2 and len(cache) == 0


def test_default_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "folder"))
    assert default_cache_path() == tmp_path / "folder" / "cache.sqlite"
    assert ResultsCache().path == tmp_path / "folder" / "cache.sqlite"
    monkeypatch.delenv("CODECBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "codecbench" / "cache.sqlite"


def test_uses_wal_mode(tmp_path):
    with ResultsCache(tmp_path / "c.sqlite") as cache:
        cache.put(FakeCodec(), IMAGE, None, MEASURED)
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_connections_opening_a_new_cache_at_once_wait_for_each_other(tmp_path):
    # Switching a new file to WAL mode takes an exclusive lock for which SQLite calls no busy handler: without
    # a retry, about one start in five of four connections racing here got "database is locked" at once.
    for trial in range(60):
        path = tmp_path / f"race{trial}.sqlite"
        barrier, errors = threading.Barrier(4), []

        def open_cache() -> None:
            cache = ResultsCache(path, timeout=10)
            barrier.wait()
            try:
                cache.put(FakeCodec(), IMAGE, None, MEASURED)
            except CacheError as exc:
                errors.append(str(exc))
            finally:
                cache.close()

        threads = [threading.Thread(target=open_cache) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], f"start {trial}"


def _writer(path: str, worker: int, n: int, start) -> None:
    start.wait()
    cache = ResultsCache(path, timeout=60)
    rng = np.random.default_rng(worker)
    for i in range(n):
        image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        cache.put(FakeCodec(spec=f"jpeg:quality={i % 100 + 1}"), image, None, {**MEASURED, "bytes": worker * 10000 + i})
        shared = np.full((8, 8, 3), i % 7, np.uint8)  # both workers write these same keys
        cache.put(FakeCodec(), shared, None, {**MEASURED, "bytes": i % 7})
        assert cache.get(FakeCodec(), shared)["bytes"] == i % 7
    cache.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    n = 150
    procs = [ctx.Process(target=_writer, args=(path, w, n, start)) for w in (1, 2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    byte_values = {row[0] for row in conn.execute("SELECT json_extract(measurements, '$.bytes') FROM entries")}
    conn.close()
    assert {w * 10000 + i for w in (1, 2) for i in range(n)} <= byte_values
    assert len(ResultsCache(path)) == 2 * n + 7


def test_a_damaged_cache_file_gives_a_clear_error_and_can_be_removed(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not an SQLite database, just junk" * 100)
    cache = ResultsCache(path)
    with pytest.raises(CacheError, match="codecbench cache clear"):
        cache.get(FakeCodec(), IMAGE)
    assert cache.remove() and not path.exists()
    cache.put(FakeCodec(), IMAGE, None, MEASURED)  # usable again
    assert cache.get(FakeCodec(), IMAGE) == MEASURED


# -- the runner with the cache (real codecs, real photographs) --------------------------
import codecbench.engine  # noqa: E402
from codecbench.engine import runner as runner_module  # noqa: E402

#: the module whose ``measure`` the runner calls (engine.tasks; the runner itself before 21)
measuring = getattr(codecbench.engine, "tasks", runner_module)
from codecbench.engine.cache import RunCache  # noqa: E402
from codecbench.engine.runner import Runner  # noqa: E402
from codecbench.core.metrics import default_metrics  # noqa: E402


@pytest.fixture
def count_measure(monkeypatch):
    """Counts full measurements (encode + decode + metrics) the runner makes."""
    calls = []
    real = measuring.measure

    def spy(codec, image, *args, **kwargs):
        calls.append(codec.spec)
        return real(codec, image, *args, **kwargs)

    monkeypatch.setattr(measuring, "measure", spy)
    return calls


def _run(specs, cache, **kwargs):
    runner = Runner(specs, cache=cache, threads=1, **kwargs)
    try:
        return {(r.spec, r.image): r for r in runner.run_dataset("embedded", max_images=2)}
    finally:
        getattr(runner, "close", lambda: None)()


def _measured(record: Record) -> dict:
    """What was measured: every field but those saying how this run got the record."""
    return {k: v for k, v in record.to_json().items() if k not in ("cached", "retimed", "jobs")}


def test_an_unchanged_rerun_is_served_from_the_cache(tmp_path, count_measure):
    specs = ["jpeg:quality=30", "jpeg:quality=80"]
    cold_cache = RunCache(ResultsCache(tmp_path / "c.sqlite"))
    cold = _run(specs, cold_cache)
    assert len(count_measure) == 4 and (cold_cache.hits, cold_cache.misses) == (0, 4)
    assert all(r.ok for r in cold.values())

    warm_cache = RunCache(ResultsCache(tmp_path / "c.sqlite"))
    warm = _run(specs, warm_cache)
    assert len(count_measure) == 4, "a cache hit must not encode, decode or score again"
    assert (warm_cache.hits, warm_cache.misses, warm_cache.retimed) == (4, 0, 0)
    for key, record in cold.items():
        assert _measured(warm[key]) == _measured(record)  # sizes, metrics and (reused) timings

    retime_cache = RunCache(ResultsCache(tmp_path / "c.sqlite"), retime=True)
    retimed = _run(specs, retime_cache)
    assert len(count_measure) == 4 and retime_cache.retimed == 4
    for key, record in cold.items():
        same = ("bytes", "bpp", "psnr", "psnr_y", "ssim", "ms_ssim")
        assert [getattr(retimed[key], f) for f in same] == [getattr(record, f) for f in same]
        assert retimed[key].enc_s > 0 and retimed[key].dec_s > 0


def test_changing_one_codec_recomputes_only_that_codec(tmp_path, count_measure):
    path = tmp_path / "c.sqlite"
    _run(["jpeg:quality=50", "webp:quality=50"], RunCache(ResultsCache(path)))
    assert len(count_measure) == 4
    count_measure.clear()
    cache = RunCache(ResultsCache(path))
    _run(["jpeg:quality=50", "webp:quality=60"], cache)
    assert len(count_measure) == 2 and all(s.startswith("webp:") and "quality=60" in s for s in count_measure)
    assert (cache.hits, cache.misses) == (2, 2)


def test_a_run_asking_for_an_opt_in_metric_measures_again_and_counts_misses(tmp_path, count_measure):
    # opt-in metrics come from libraries and tools outside the cache key, so they are never served from it
    path = tmp_path / "c.sqlite"
    _run(["jpeg:quality=50"], RunCache(ResultsCache(path)))
    metrics = (*default_metrics(), "psnr_hvs_m")
    for attempt in range(2):  # the first lacks PSNR-HVS-M; the second holds it but may not lend it
        cache = RunCache(ResultsCache(path))
        records = _run(["jpeg:quality=50"], cache, metrics=metrics)
        assert len(count_measure) == 2 + 2 * (attempt + 1), "both images measured again"
        assert (cache.hits, cache.misses, cache.incomplete, cache.retimed) == (0, 2, 2, 0)
        assert "0 hits, 2 misses; 2 of the misses were entries without a reusable value" in cache.summary()
        assert all(not r.cached and r.metric("psnr_hvs_m") > 0 for r in records.values())
    plain = RunCache(ResultsCache(path))
    assert all(r.cached for r in _run(["jpeg:quality=50"], plain).values())
    assert (plain.hits, plain.incomplete, len(count_measure)) == (2, 0, 6)


def test_timings_from_another_thread_count_are_taken_again(tmp_path, count_measure):
    path = tmp_path / "c.sqlite"
    _run(["jpeg:quality=50"], RunCache(ResultsCache(path)))
    cache = RunCache(ResultsCache(path))
    runner = Runner(["jpeg:quality=50"], cache=cache, threads=2)
    list(runner.run_dataset("embedded", max_images=2))
    assert len(count_measure) == 2 and (cache.hits, cache.retimed) == (2, 2)


def test_a_broken_cache_is_reported_once_and_the_run_goes_on(tmp_path, capsys, count_measure):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"junk" * 1000)
    cache = RunCache(ResultsCache(path))
    records = _run(["jpeg:quality=50"], cache)
    assert all(r.ok for r in records.values()) and len(count_measure) == 2
    assert cache.disabled and capsys.readouterr().err.count("continuing without the cache") == 1


def _rewrite_entries(path, edit) -> int:
    """Apply ``edit(entry) -> entry`` to every entry of the cache at ``path`` through :meth:`ResultsCache.put`
    (so the entry's checksum is right and only its values are wrong); the number of entries."""
    from codecbench.core.codec import create_codec

    cache = ResultsCache(path)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT spec, image, device, measurements FROM entries").fetchall()
    for spec, digest, device, text in rows:
        entry = json.loads(text)
        entry.pop("check", None)
        cache.put(create_codec(spec, threads=1), digest, device, edit(entry))
    cache.close()
    return len(rows)


@pytest.mark.parametrize(
    "edit",
    [{"psnr_y": "high"}, {"bytes": True}, {"bpp": "1.5"}, {"bytes": 10**400}],
    ids=["string-metric", "bool-bytes", "string-bpp", "huge-bytes"],
)
def test_a_bad_cache_entry_is_a_miss_and_a_warning(tmp_path, capsys, count_measure, edit):
    path = tmp_path / "c.sqlite"
    cold = _run(["jpeg:quality=50"], RunCache(ResultsCache(path)))
    _rewrite_entries(path, lambda entry: {**entry, **edit})
    cache = RunCache(ResultsCache(path))
    warm = _run(["jpeg:quality=50"], cache)
    assert (cache.hits, cache.misses, cache.bad) == (0, 2, 2) and len(count_measure) == 4
    assert capsys.readouterr().err.count("ignoring a bad entry") == 1  # one warning, the rest counted
    assert {k: r.to_json()["psnr_y"] for k, r in warm.items()} == {k: r.psnr_y for k, r in cold.items()}
    for record in warm.values():
        Record.from_json(record.to_json())


IMPOSSIBLE = {
    "negative-bpp": lambda e: {**e, "bpp": -1.0},
    "ssim-5": lambda e: {**e, "ssim": 5.0},
    "lossless-ok-on-jpeg": lambda e: {**e, "lossless_ok": True},
    "bytes-disagree-with-bpp": lambda e: {**e, "bytes": e["bytes"] // 2},
    "zero-bytes": lambda e: {**e, "bytes": 0, "bpp": 0.0},
    "psnr-above-any-inexact-decode": lambda e: {**e, "psnr": 200.0},
    "negative-time": lambda e: {**e, "dec_s": -0.5},
    "no-timings": lambda e: {k: v for k, v in e.items() if k != "enc_s"},
    "zero-jobs": lambda e: {**e, "jobs": 0},
}


@pytest.mark.parametrize("edit", IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_an_entry_no_real_measurement_can_be_is_a_miss_with_one_warning(tmp_path, capsys, count_measure, edit):
    """Issue 21 item 3: entries of the right type but impossible value were reused as measured."""
    path = tmp_path / "c.sqlite"
    specs = ["jpeg:quality=50", "jpeg:quality=70"]
    cold = _run(specs, RunCache(ResultsCache(path)))
    assert _rewrite_entries(path, edit) == 4
    capsys.readouterr()
    cache = RunCache(ResultsCache(path))
    warm = _run(specs, cache)
    assert (cache.hits, cache.misses) == (0, 4)
    assert len(count_measure) == 8
    assert cache.bad == 4
    err = capsys.readouterr().err
    assert err.count("codecbench: warning") == 1 and "ignoring a bad entry" in err
    assert "4 bad entries ignored" in cache.summary()
    assert {k: (r.bytes, r.bpp, r.ssim, r.lossless_ok) for k, r in warm.items()} == \
        {k: (r.bytes, r.bpp, r.ssim, r.lossless_ok) for k, r in cold.items()}


def test_a_cache_entry_never_overwrites_a_records_identity(tmp_path, count_measure):
    path = tmp_path / "c.sqlite"
    _run(["jpeg:quality=50"], RunCache(ResultsCache(path)))
    _rewrite_entries(path, lambda entry: {**entry, "spec": "evil", "image": "x", "dataset": "y", "width": "w"})
    cache = RunCache(ResultsCache(path))
    warm = _run(["jpeg:quality=50"], cache)
    assert cache.hits == 2 and len(count_measure) == 2
    assert all(r.spec.startswith("jpeg:") and r.dataset == "embedded" and isinstance(r.width, int)
               for r in warm.values())


def test_every_measured_field_is_cacheable(tmp_path):
    from codecbench.engine.cache import MEASURED_FIELDS
    from codecbench.core.codec import create_codec

    codec = create_codec("jpeg:quality=50", threads=1)
    measured = measuring.measure(codec, np.full((16, 16, 3), 100, dtype=np.uint8), 1)
    assert set(measured) <= set(MEASURED_FIELDS)
