"""Result-storage goal (issue 11): a 100,000-record run spends < 5 % of its time in result storage.

One of the harness's own benchmarks, run when asked (``pytest
bench/harness/test_store_speed.py --benchmark-only``); the goal is a figure of
the session's "speed goals" section (the ``speed_goal`` fixture), never a
failure.
The timed region is what a run does with its records: 100,000 synthetic
:class:`~codecbench.core.results.Record` objects appended one at a time through
:class:`~codecbench.engine.store.ResultsStore` (journal lines, fsynced in batches),
then :meth:`~codecbench.engine.store.ResultsStore.close` (compaction into the JSON
results file). It is set against the cheapest real per-record cost, measured
in the same benchmark: ``jpeg`` (quality 75, the middle of its default sweep)
encode + decode + the default metrics on Kodak's first image, the median of
:data:`CODEC_ROUNDS` calls after one warm-up through
:func:`codecbench.engine.measure.measure`, as ``codecbench run`` does per
record. The share is storage / (storage + codec) per record; figures go to
``benchmark.extra_info`` and stdout.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest

from codecbench import create_codec
from codecbench.datasets.registry import get_dataset
from codecbench.engine.measure import measure
from codecbench.core.errors import DatasetError
from codecbench.core.results import Record, journal_path, read_results
from codecbench.engine.store import ResultsStore

GOAL_SHARE = 0.05
N_RECORDS = 100_000
CODEC_ROUNDS = 5
VERSIONS = {"codecbench": "0.1.0", "jpeg": "1", "pillow": "13.0.0", "numpy": "2.1.3", "torch": "2.5.1"}


def synthetic_records(n: int = N_RECORDS) -> list[Record]:
    """``n`` complete lossy records: 100 specs × ``n/100`` images of a 768×512 dataset, every field set."""
    out = []
    for i in range(n):
        spec, image = divmod(i, n // 100)
        bpp = 0.1 + spec / 40 + image / 1e5
        out.append(Record(
            codec="jpeg", spec=f"jpeg:optimize=False,quality={spec},subsampling=4:2:0", setting=spec,
            dataset="synthetic", image=f"img{image:06d}", width=768, height=512, bytes=int(bpp * 768 * 512 / 8),
            bpp=bpp, psnr=25 + 3 * bpp, psnr_y=26 + 3 * bpp, ssim=1 - 0.1 / (1 + bpp), ms_ssim=1 - 0.05 / (1 + bpp),
            enc_s=0.0105 + image * 1e-9, dec_s=0.0042, threads=2, versions=dict(VERSIONS), source_bytes=694969,
            source_format="PNG"))
    return out


def codec_seconds_per_record() -> float:
    """Median seconds of ``jpeg:quality=75`` encode + decode + metrics on kodim01 (one warm-up call first)."""
    try:
        image = get_dataset("kodak", max_images=1)[0].image
    except DatasetError as exc:
        pytest.skip(f"Kodak not available (set CODECBENCH_DATA): {exc}")
    codec = create_codec("jpeg:quality=75")
    measure(codec, image)
    seconds = []
    for _ in range(CODEC_ROUNDS):
        start = time.perf_counter()
        measure(codec, image)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def test_store_share_of_a_100k_record_run(benchmark, speed_goal, tmp_path):
    codec_s = codec_seconds_per_record()
    records = synthetic_records()
    path = tmp_path / "results.json"
    parts: dict[str, float] = {}

    def store_run() -> None:
        start = time.perf_counter()
        store = ResultsStore(path, meta={"schema": 1}, fresh=True)
        for record in records:
            store.append(record)
        appended = time.perf_counter()
        store.close()
        parts.update(append_s=appended - start, close_s=time.perf_counter() - appended)

    benchmark.pedantic(store_run, rounds=1, iterations=1)
    total_s = benchmark.stats.stats.median
    per_record_s = total_s / N_RECORDS
    share = per_record_s / (per_record_s + codec_s)
    assert not journal_path(path).exists() and len(read_results(path)[1]) == N_RECORDS
    figures = {
        "records": N_RECORDS, "storage_total_s": round(total_s, 2),
        "storage_us_per_record": round(per_record_s * 1e6, 1),
        "append_us_per_record": round(parts["append_s"] / N_RECORDS * 1e6, 1),
        "close_s": round(parts["close_s"], 2), "jpeg_ms_per_record": round(codec_s * 1e3, 2),
        "storage_share_pct": round(100 * share, 2),
        "file_mb": round(path.stat().st_size / 1e6, 1), "load": "%.2f %.2f %.2f" % os.getloadavg(),
    }
    benchmark.extra_info.update(figures)
    print("\nresult storage:", ", ".join(f"{k}={v}" for k, v in figures.items()))
    speed_goal(f"result storage share of a {N_RECORDS}-record jpeg run", 100 * share, 100 * GOAL_SHARE, unit="%")
