"""`pytest bench` end to end, in a subprocess, on a tiny folder dataset."""

import json
import subprocess
import sys

import pytest

from codecbench.datasets import get_dataset
from codecbench.core.errors import ImageError
from codecbench.integrations.pytest_plugin import SESSION_TIMED_REGION
from codecbench.render.markdown import FILE_SIZE_COLUMNS
from codecbench.core.results import library_versions, read_results
from codecbench.engine.records import error_text
from tests.conftest import REPO, nested_pytest_env


def run_bench(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "bench" / "test_codecs.py"), "-q", "-p", "no:cacheprovider", "--benchmark-only",
         "--rounds", "1", "--report-dir", str(tmp_path / "reports"), "--benchmark-json", str(tmp_path / "b.json"),
         *args],
        capture_output=True, text=True, cwd=REPO, timeout=600, env=nested_pytest_env(),
    )


def test_bench_times_scores_and_reports(image_folder, tmp_path):
    (image_folder / "broken.png").unlink()
    done = run_bench(tmp_path, "--codecs", "jpeg:quality=30|90,png", "--datasets", f"folder:{image_folder}",
                     "--report-file-size", "--report-per-image", "2")
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
    assert "### jpeg" in report
    assert "| png |" in report
    assert "3/3" in report
    assert "enc MP/s" in report
    assert f"- **Timed region**: {SESSION_TIMED_REGION}" in report and "BD-rate against jpeg" in report
    assert all(f" {column} |" in report for column in FILE_SIZE_COLUMNS)  # --report-file-size
    assert "relative to the original files (PNG" in report
    assert "Worst 2 images per codec by PSNR" in report  # --report-per-image 2
    meta, records = read_results(reports[0].with_suffix(".json"))
    assert len(records) == 9
    assert meta["timed_region"] == SESSION_TIMED_REGION and meta["timing"]["rounds"] == 1
    assert meta["device"] == "cpu" and meta["threads"] == records[0].threads
    assert {r.jobs for r in records} == {1} and "Timed under different conditions" not in report  # one case at a time
    assert meta["versions"] == library_versions(records) and "pillow" in meta["versions"]
    assert all(r.source_bytes == (image_folder / f"{r.image}.png").stat().st_size and r.source_format == "PNG"
               for r in records)


def test_bench_records_unreadable_images(image_folder, tmp_path):
    """broken.png (not an image) is a failed record of every case, as `codecbench run` writes it; benchmarks fail."""
    done = run_bench(tmp_path, "--codecs", "png", "--datasets", f"folder:{image_folder}")
    assert done.returncode == 1 and "2 failed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1/4 images failed: broken: ImageError" in done.stdout
    benchmarks = json.loads((tmp_path / "b.json").read_text())["benchmarks"]  # recorded before failing
    assert [(b["extra_info"]["n_images"], b["extra_info"]["n_failed"]) for b in benchmarks] == [(4, 1), (4, 1)]
    report_path = next((tmp_path / "reports").glob("*.md"))
    report = report_path.read_text()
    assert "| 3/4 |" in report
    assert "## Failures" in report
    assert ") broken: ImageError: " in report
    item = next(i for i in get_dataset(f"folder:{image_folder}") if i.id == "broken")
    with pytest.raises(ImageError) as loading:
        item.load()
    _, records = read_results(report_path.with_suffix(".json"))
    failed = [r for r in records if not r.ok]
    assert len(records) == 4 and [(r.image, r.error) for r in failed] == [("broken", error_text(loading.value))]
    assert failed[0].width == 0
    assert failed[0].bpp is None
    assert failed[0].codec == "png"


def test_bench_fails_when_a_codec_fails(image_folder, tmp_path):
    """A bad spec is a usage error, not a crash."""
    done = run_bench(tmp_path, "--codecs", "jpeg:quality=500", "--datasets", f"folder:{image_folder}")
    assert done.returncode != 0 and "quality" in (done.stdout + done.stderr)
