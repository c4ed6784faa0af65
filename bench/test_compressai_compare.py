"""Side by side: codecbench's Kodak JPEG sweep against CompressAI's own classical bench loop (issue 11).

Runs with the benchmark suite (``pytest bench --benchmark-only``) when
``$CODECBENCH_COMPRESSAI_PYTHON`` names a python that imports
``compressai.utils.bench`` (create it with ``bench/peers/compressai_venv.sh``);
otherwise it skips with the reason. It installs nothing.

In one run, each as a whole process, on the same 24 Kodak images and the same
qualities (codecbench's default ``jpeg`` sweep):

(a) ``codecbench run --codecs jpeg --datasets kodak --no-cache --out TMP``
    (its defaults: one process, warm-up 1, one timed call; computes bpp,
    PSNR, PSNR-Y, SSIM, MS-SSIM per image);
(b) ``python -m compressai.utils.bench jpeg DIR -q … -j 1`` (bpp, psnr-rgb,
    ms-ssim-rgb: all the metrics it has);
(c) the same with ``-j 2`` (CompressAI's process pool).

Wall and CPU seconds of each (CPU: user + system of the process and the
children it waited for) and their ratios CompressAI / codecbench (> 1:
codecbench faster) go to ``benchmark.extra_info`` and stdout, with the time
each tool takes only to import itself (part of its wall time) and the load
averages before and after: wall time depends on what else runs, CPU time much
less. ``$CODECBENCH_COMPARE_MAX_IMAGES=N`` compares on the first N images
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
    ours_cmd = [sys.executable, "-m", "codecbench", "run", "--codecs", "jpeg", "--datasets", "kodak", "--no-cache",
                "--out", str(out), *(["--max-images", str(len(kodak))] if kodak.max_images else [])]
    load_before = _uptime()

    def run_all() -> dict[str, Timed]:
        runs = {"codecbench": timed(ours_cmd, env),
                "codecbench_import": timed([sys.executable, "-c", OURS_IMPORT]),
                "compressai_import": timed([peer.python, "-c", THEIR_IMPORT])}
        for jobs in (1, 2):
            runs[f"compressai_j{jobs}"] = run = timed(bench_command(peer.python, images, qualities, jobs))
            theirs[jobs] = parse_bench_output(run.stdout, qualities)
        return runs

    theirs: dict[int, dict[int, dict[str, float]]] = {}
    runs = benchmark.pedantic(run_all, rounds=1, iterations=1)
    load_after = _uptime()

    records = read_records(out)
    assert sorted({r.image for r in records}) == sorted(kodak.ids()) and len(records) == len(kodak) * len(qualities)
    ours = codecbench_means(records, [*SAME_METRIC.values(), *CODECBENCH_ONLY])
    report: dict[str, object] = {}
    for name, run in runs.items():
        report[f"{name}_s"] = round(run.wall_s, 2)
        report[f"{name}_cpu_s"] = round(run.cpu_s, 2)
    for jobs in (1, 2):
        report[f"ratio_vs_j{jobs}"] = round(runs[f"compressai_j{jobs}"].wall_s / runs["codecbench"].wall_s, 3)
        report[f"cpu_ratio_vs_j{jobs}"] = round(runs[f"compressai_j{jobs}"].cpu_s / runs["codecbench"].cpu_s, 3)
    report.update({
        "images": len(kodak), "qualities": qualities,
        "codecbench_metrics": ["bpp", "psnr", "psnr_y", "ssim", "ms_ssim"],
        "compressai_metrics": ["bpp", "psnr-rgb", "ms-ssim-rgb"],
        "peer": peer.versions, "load_before": load_before, "load_after": load_after,
        "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    })
    for jobs, per_quality in theirs.items():
        diffs = psnr_differences(ours, per_quality)
        report[f"max_psnr_diff_db_j{jobs}"] = max(abs(d) for d in diffs.values())
        report[f"max_ms_ssim_diff_j{jobs}"] = max(abs(ours[q]["ms_ssim"] - per_quality[q]["ms-ssim-rgb"])
                                                  for q in qualities)
    benchmark.extra_info.update(report)
    print("\ncodecbench vs CompressAI (JPEG, Kodak):", *(f"{k}={v}" for k, v in report.items()), sep="\n  ")

    for jobs, per_quality in theirs.items():
        for q in qualities:
            assert ours[q]["bpp"] == pytest.approx(per_quality[q]["bpp"], rel=BPP_REL_TOL), (jobs, q)
        assert report[f"max_psnr_diff_db_j{jobs}"] < PSNR_TOL_DB, psnr_differences(ours, per_quality)
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
