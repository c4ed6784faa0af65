"""Report-generation speed goal: a 24-image × 10-codec × 10-setting results set in under 10 s.

Runs with the benchmark suite (``pytest bench --benchmark-only``). The timed
region is what ``codecbench report`` does after reading the records: the RD
curves, the BD-rate and fixed-rate tables and the four plots. The records are
synthetic (smooth monotone curves with per-image noise), so the goal is
measured on the same work on every machine, independent of any dataset.
"""

from __future__ import annotations

import math

import numpy as np

from codecbench.reports import bdrate, plots
from codecbench.reports.curves import curves
from codecbench.results import Record

GOAL_S = 10.0
CODECS, SETTINGS, IMAGES = 10, 10, 24


def synthetic_records() -> list[Record]:
    rng = np.random.default_rng(0)
    records = []
    for c in range(CODECS):
        for s in range(SETTINGS):
            for i in range(IMAGES):
                bpp = 0.1 * (s + 1) * (1 + 0.1 * c) * (1 + 0.05 * rng.standard_normal())
                records.append(Record(
                    codec=f"codec{c}", spec=f"codec{c}:q={s}", setting=s, dataset="kodak", image=f"kodim{i:02d}",
                    width=768, height=512, channels=3, bytes=1, bpp=bpp, psnr=25 + 10 * math.log2(1 + bpp),
                    psnr_y=26 + 10 * math.log2(1 + bpp), ssim=0.9, ms_ssim=1 - 0.1 / (1 + 5 * bpp),
                    enc_s=0.01, dec_s=0.005))
    return records


def test_report_generation_speed(benchmark, tmp_path):
    records = synthetic_records()

    def report() -> tuple[str, dict]:
        cs = curves(records)
        return bdrate.bd_table(cs, "codec0") + bdrate.fixed_table(cs), plots.plot_dataset(cs, tmp_path)

    text, written = benchmark.pedantic(report, rounds=3, warmup_rounds=1)
    assert text.count("\n| codec") == 2 * CODECS - 1 and len(written) == 4
    benchmark.extra_info.update(records=len(records), goal_s=GOAL_S)
    assert benchmark.stats.stats.median < GOAL_S, f"report took {benchmark.stats.stats.median:.1f} s (goal {GOAL_S} s)"
