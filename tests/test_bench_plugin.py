"""`pytest bench` end to end, in a subprocess, on a tiny folder dataset."""

import json
import subprocess
import sys

from codecbench.results import read_records
from tests.conftest import REPO


def run_bench(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "bench" / "test_codecs.py"), "-q", "-p", "no:cacheprovider", "--benchmark-only",
         "--rounds", "1", "--report-dir", str(tmp_path / "reports"), "--benchmark-json", str(tmp_path / "b.json"),
         *args],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )


def test_bench_times_scores_and_reports(image_folder, tmp_path):
    (image_folder / "broken.png").unlink()
    done = run_bench(tmp_path, "--codecs", "jpeg:quality=30|90,png", "--datasets", f"folder:{image_folder}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "6 passed" in done.stdout  # 3 specs × (encode, decode); no cuda cases for CPU-only codecs
    benchmarks = json.loads((tmp_path / "b.json").read_text())["benchmarks"]
    assert len(benchmarks) == 6
    by_name = {b["name"]: b for b in benchmarks}
    low = by_name[next(n for n in by_name if "quality=30" in n and n.startswith("test_encode"))]
    high = by_name[next(n for n in by_name if "quality=90" in n and n.startswith("test_encode"))]
    assert low["extra_info"]["bpp"] < high["extra_info"]["bpp"]
    assert low["extra_info"]["psnr"] < high["extra_info"]["psnr"]
    assert low["group"].startswith("jpeg folder:") and low["extra_info"]["n_images"] == 3
    assert "-folder:" in low["name"] and low["name"].endswith("-cpu]")
    reports = list((tmp_path / "reports").glob("*.md"))
    assert len(reports) == 1
    report = reports[0].read_text()
    assert "### jpeg" in report and "| png |" in report and "3/3" in report and "enc MP/s" in report
    records = read_records(reports[0].with_suffix(".json"))
    assert len(records) == 9
    assert all(r.source_bytes == (image_folder / f"{r.image}.png").stat().st_size and r.source_format == "PNG"
               for r in records)


def test_bench_fails_when_a_codec_fails(image_folder, tmp_path):
    """A broken file is skipped at loading; a bad spec is a usage error, not a crash."""
    done = run_bench(tmp_path, "--codecs", "jpeg:quality=500", "--datasets", f"folder:{image_folder}")
    assert done.returncode != 0 and "quality" in (done.stdout + done.stderr)
