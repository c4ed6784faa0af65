"""Side by side: codecbench's Kodak JPEG sweep against CompressAI's own classical bench loop (issue 11).

One of the harness's own benchmarks, run when asked (``pytest
bench/harness/test_compressai_compare.py --benchmark-only``), when
``$CODECBENCH_COMPRESSAI_PYTHON`` names a python that imports
``compressai.utils.bench`` (create it with ``bench/harness/peers/compressai_venv.sh``);
otherwise it skips with the reason. It installs nothing.

In one run, each as a whole process, on the same 24 Kodak images and the same
qualities (codecbench's default ``jpeg`` sweep):

(a) ``codecbench run --codecs jpeg --datasets kodak --no-cache --out TMP --jobs J``
    for J = 1 (in-process) and J = every core (its default: one worker
    process per core); warm-up 1, one timed call; bpp, PSNR, PSNR-Y, SSIM,
    MS-SSIM per image;
(b) ``python -m compressai.utils.bench jpeg DIR -q … -j J`` for J = 1 and 2
    (CompressAI's process pool; bpp, psnr-rgb, ms-ssim-rgb: all the metrics
    it has).

Wall and CPU seconds of each (CPU: user + system of the process and the
children it waited for) go to ``benchmark.extra_info`` and stdout, with the
ratios CompressAI / codecbench (> 1: codecbench faster): ``ratio_best``
compares each tool's fastest configuration, ``ratio_vs_jN`` CompressAI's
``-j N`` with codecbench's fastest; ``*_excl_import`` subtract the time each
tool takes only to import itself (part of each wall time; CompressAI's CUDA
torch build is heavier to import than a CPU one). The load averages before
and after say what else ran: wall time depends on it, CPU time much less. ``$CODECBENCH_COMPARE_MAX_IMAGES=N`` compares on the first N images
only (both tools), for a loaded machine. Both tools save with
Pillow at ``quality=q``, 4:2:0 and standard Huffman tables, so they code the
same bytes: mean bpp must agree to 1e-9 relative and mean PSNR to 0.01 dB per
quality (MS-SSIM, from the same pytorch_msssim filters, to 1e-4).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import codecbench
from codecbench.datasets.registry import get_dataset
from codecbench.core.errors import DatasetError, OptionError
from codecbench.core.results import read_records
from codecbench.engine.runner import default_jobs
from compressai_peer import (
    CODECBENCH_ONLY,
    SAME_METRIC,
    Timed,
    bench_command,
    codecbench_means,
    find_peer,
    link_images,
    parse_bench_output,
    psnr_differences,
    same_measurements,
    timed,
)

PSNR_TOL_DB = 0.01
MS_SSIM_TOL = 1e-4
BPP_REL_TOL = 1e-9
#: what each tool imports before its first image (a part of each wall time; CompressAI's CUDA torch is heavier)
OURS_IMPORT = "import codecbench.cli, codecbench.codecs.classical.pillow, codecbench.core.metrics"
THEIR_IMPORT = "import compressai.utils.bench.__main__"
MAX_IMAGES_ENV = "CODECBENCH_COMPARE_MAX_IMAGES"


def _max_images() -> int | None:
    """``$CODECBENCH_COMPARE_MAX_IMAGES``: compare on the first N Kodak images only (default: all 24)."""
    text = os.environ.get(MAX_IMAGES_ENV, "")
    if text and not (text.isdigit() and int(text) > 0):
        raise OptionError(f"${MAX_IMAGES_ENV}={text!r}: expected a positive integer")
    return int(text) if text else None


def _uptime() -> str:
    """The machine's load averages (1, 5, 15 min), as the figures depend on what else runs."""
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def test_codecbench_vs_compressai_jpeg_kodak(benchmark, tmp_path):
    peer, why = find_peer()
    if peer is None:
        pytest.skip(why)
    try:
        kodak = get_dataset("kodak", max_images=_max_images())
    except DatasetError as exc:
        pytest.skip(f"Kodak is not available: {exc}")
    jpeg = codecbench.get_codec_class("jpeg")
    qualities = sorted(jpeg.sweep)
    # CompressAI saves with quality= only: Pillow's 4:2:0 and standard Huffman tables.
    assert jpeg.settings["subsampling"].default == "4:2:0" and jpeg.settings["optimize"].default is False
    images = link_images(kodak.paths(), tmp_path / "kodak")
    out = tmp_path / "results.json"
    env = {**os.environ, "CODECBENCH_CACHE": str(tmp_path / "cache")}
    our_jobs = sorted({1, default_jobs()})

    def ours_cmd(jobs: int) -> list[str]:
        return [sys.executable, "-m", "codecbench", "run", "--codecs", "jpeg", "--datasets", "kodak", "--no-cache",
                "--out", str(out), "--fresh", "--jobs", str(jobs),
                *(["--max-images", str(len(kodak))] if kodak.max_images else [])]

    load_before = _uptime()

    def run_all() -> dict[str, Timed]:
        runs = {"codecbench_import": timed([sys.executable, "-c", OURS_IMPORT]),
                "compressai_import": timed([peer.python, "-c", THEIR_IMPORT])}
        for jobs in our_jobs:
            runs[f"codecbench_j{jobs}"] = timed(ours_cmd(jobs), env)
            ours[jobs] = read_records(out)
        for jobs in (1, 2):
            runs[f"compressai_j{jobs}"] = run = timed(bench_command(peer.python, images, qualities, jobs))
            theirs[jobs] = parse_bench_output(run.stdout, qualities)
        return runs

    ours: dict[int, list] = {}
    theirs: dict[int, dict[int, dict[str, float]]] = {}
    runs = benchmark.pedantic(run_all, rounds=1, iterations=1)
    load_after = _uptime()

    for records in ours.values():
        assert sorted({r.image for r in records}) == sorted(kodak.ids())
        assert len(records) == len(kodak) * len(qualities)
    assert all(same_measurements(ours[1], ours[j]) for j in our_jobs)  # parallel = serial, but for the times
    means = codecbench_means(ours[1], [*SAME_METRIC.values(), *CODECBENCH_ONLY])
    report: dict[str, object] = {}
    for name, run in runs.items():
        report[f"{name}_s"] = round(run.wall_s, 2)
        report[f"{name}_cpu_s"] = round(run.cpu_s, 2)
    best_ours = min((runs[f"codecbench_j{j}"] for j in our_jobs), key=lambda run: run.wall_s)
    best_theirs = min((runs[f"compressai_j{j}"] for j in (1, 2)), key=lambda run: run.wall_s)
    imports = runs["codecbench_import"].wall_s, runs["compressai_import"].wall_s
    report["ratio_best"] = round(best_theirs.wall_s / best_ours.wall_s, 3)
    report["ratio_best_excl_import"] = round((best_theirs.wall_s - imports[1]) / (best_ours.wall_s - imports[0]), 3)
    for jobs in (1, 2):
        theirs_run = runs[f"compressai_j{jobs}"]
        report[f"ratio_vs_j{jobs}"] = round(theirs_run.wall_s / best_ours.wall_s, 3)
        report[f"ratio_vs_j{jobs}_excl_import"] = round((theirs_run.wall_s - imports[1])
                                                        / (best_ours.wall_s - imports[0]), 3)
        report[f"cpu_ratio_vs_j{jobs}"] = round(theirs_run.cpu_s / best_ours.cpu_s, 3)
    report.update({
        "images": len(kodak), "qualities": qualities,
        "codecbench_metrics": ["bpp", "psnr", "psnr_y", "ssim", "ms_ssim"],
        "compressai_metrics": ["bpp", "psnr-rgb", "ms-ssim-rgb"],
        "peer": peer.versions, "load_before": load_before, "load_after": load_after,
        "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    })
    for jobs, per_quality in theirs.items():
        diffs = psnr_differences(means, per_quality)
        report[f"max_psnr_diff_db_j{jobs}"] = max(abs(d) for d in diffs.values())
        report[f"max_ms_ssim_diff_j{jobs}"] = max(abs(means[q]["ms_ssim"] - per_quality[q]["ms-ssim-rgb"])
                                                  for q in qualities)
    benchmark.extra_info.update(report)
    print("\ncodecbench vs CompressAI (JPEG, Kodak):", *(f"{k}={v}" for k, v in report.items()), sep="\n  ")

    for jobs, per_quality in theirs.items():
        for q in qualities:
            assert means[q]["bpp"] == pytest.approx(per_quality[q]["bpp"], rel=BPP_REL_TOL), (jobs, q)
        assert report[f"max_psnr_diff_db_j{jobs}"] < PSNR_TOL_DB, psnr_differences(means, per_quality)
        assert report[f"max_ms_ssim_diff_j{jobs}"] < MS_SSIM_TOL


def test_bench_command_is_what_compressai_parses(tmp_path):
    """CompressAI's own argument parser accepts the command line we build (needs the peer; quick)."""
    peer, why = find_peer()
    if peer is None:
        pytest.skip(why)
    cmd = bench_command(peer.python, tmp_path, [5, 1, 95], jobs=2)
    probe = ("import sys; from compressai.utils.bench.__main__ import setup_args, setup_common_args, codecs; "
             "p, sub = setup_args(); [setup_common_args(sub.add_parser(c.__name__.lower())) for c in codecs]; "
             "a = p.parse_args(sys.argv[1:]); print(a.codec, a.dataset, a.qps, a.num_jobs, *a.metrics)")
    done = subprocess.run([peer.python, "-c", probe, *cmd[3:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["jpeg", str(tmp_path), "5,1,95", "2", "psnr-rgb", "ms-ssim-rgb"]
