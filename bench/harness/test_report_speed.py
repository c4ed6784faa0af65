"""Report-generation speed goal: a 24-image × 10-codec × 10-setting results set in under 10 s.

One of the harness's own benchmarks, run when asked (``pytest bench/harness
--benchmark-only``); the goal is a figure of the session's "speed goals"
section (the ``speed_goal`` fixture), never a failure. The timed
region is what ``codecbench report --out DIR`` does after reading the records:
:func:`~codecbench.render.markdown.render_reports` with the RD section
(:func:`~codecbench.render.rd.section_renderer`, plots in ``DIR/plots``), i.e.
the full markdown (header, per-codec tables, lossless table where there are
lossless codecs, failures; RD summary, BD-rate and fixed-rate tables) and the
four plots. The records are synthetic (smooth monotone curves with per-image
noise), so the goal is measured on the same work on every machine, independent
of any dataset.
"""

from __future__ import annotations

import math

import numpy as np

from codecbench.render.markdown import render_reports
from codecbench.render.rd import RDOptions, section_renderer
from codecbench.core.results import Record

GOAL_S = 10.0  # seconds per report generation (median of the timed rounds)
CODECS, SETTINGS, IMAGES = 10, 10, 24


def synthetic_records() -> list[Record]:
    """IMAGES × CODECS × SETTINGS lossy records of 768×512 images on dataset ``kodak`` (seconds per image)."""
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


def test_report_generation_speed(benchmark, speed_goal, tmp_path):
    records = synthetic_records()
    options = RDOptions(anchor="codec0", plots_dir=tmp_path / "plots", report_dir=tmp_path)

    def report() -> dict[str, str]:
        return render_reports(records, sections=[section_renderer(records, options)])

    text = benchmark.pedantic(report, rounds=3, warmup_rounds=1)["kodak"]
    assert all(f"### codec{c}" in text for c in range(CODECS)) and f"{IMAGES}/{IMAGES}" in text
    assert text.count("\n| codec") == 2 * CODECS - 1  # the BD-rate table's rows (anchor left out) and fixed-rate rows
    assert len(list(options.plots_dir.glob("*.png"))) == 4 and "### Plots" in text
    benchmark.extra_info.update(records=len(records))
    speed_goal(f"report of {len(records)} records (median of 3)", benchmark.stats.stats.median, GOAL_S)
