"""``--jobs N``: N codec processes at once, one writer, the serial run's records."""

import json
import subprocess
import sys

import pytest

from codecbench.core.errors import OptionError
from codecbench.core.results import read_records
from codecbench.engine.store import ResultsStore
from codecbench.engine.runner import Runner, threads_per_job

SPECS = ["jpeg:quality=30|80", "png", "webp:quality=60"]
MEASURED = ("bytes", "bpp", "psnr", "psnr_y", "ssim", "ms_ssim", "lossless_ok", "error")


def _measured(records):
    return [(r.spec, r.image, *(getattr(r, f) for f in MEASURED)) for r in records]


def test_two_jobs_give_the_serial_records_in_the_serial_order(image_folder):
    with Runner(SPECS, jobs=1) as serial:
        one = list(serial.run_dataset(f"folder:{image_folder}"))
    with Runner(SPECS, jobs=2) as parallel:
        two = list(parallel.run_dataset(f"folder:{image_folder}"))
    assert _measured(two) == _measured(one)
    assert sum(not r.ok for r in two) == 4  # broken.png, once per spec
    assert all(r.enc_s > 0 and r.dec_s > 0 for r in two if r.ok)
    assert {r.threads for r in two} == {threads_per_job(None, 2)}


def test_parallel_run_resumes_a_store_and_writes_once_per_record(image_folder, tmp_path):
    out = tmp_path / "r.json"
    with ResultsStore(out) as store, Runner(SPECS[:1], store=store, jobs=2) as runner:
        first = list(runner.run_dataset(f"folder:{image_folder}", max_images=2))
    with ResultsStore(out) as store, Runner(SPECS[:1], store=store, jobs=2) as runner:
        second = list(runner.run_dataset(f"folder:{image_folder}"))
    # the second run measures what is missing (2 images) and what failed (broken.png), 2 settings each
    assert len(first) == 4 and len(second) == 6
    assert sorted({r.image for r in second}) == ["broken", "img1", "img2"]
    records = read_records(out)
    assert len(records) == 8 and len({r.key for r in records}) == 8


def test_jobs_is_checked():
    with pytest.raises(OptionError):
        Runner(["png"], jobs=0)


def test_cli_jobs_records_concurrency_in_meta_and_report(image_folder, tmp_path):
    out, reports = tmp_path / "r.json", tmp_path / "reports"
    done = subprocess.run([sys.executable, "-m", "codecbench", "run", "--codecs", "png,jpeg:quality=50", "--datasets",
                           f"folder:{image_folder}", "-o", str(out), "--no-cache", "--jobs", "2",
                           "--report-dir", str(reports)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    meta = json.loads(out.read_text())["meta"]
    assert meta["jobs"] == 2 and meta["threads"] == threads_per_job(None, 2)
    (report,) = reports.glob("*.md")
    assert "2 codec processes at once" in report.read_text()
    bad = subprocess.run([sys.executable, "-m", "codecbench", "run", "--codecs", "png", "--jobs", "0", "-o",
                          str(tmp_path / "x.json")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "--jobs" in bad.stderr
    assert bad.stderr.strip().count("\n") == 0
