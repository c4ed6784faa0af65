"""`pytest bench --benchmark-only -n 2` (pytest-xdist): one merged report per dataset, the serial run's records."""

import re
import subprocess
import sys

import pytest

from codecbench.integrations.pytest_plugin import SESSION_TIMED_REGION, UNTIMED_BENCHMARK_SKIP, untimed_region
from codecbench.core.results import read_results
from tests.conftest import REPO, nested_pytest_env

#: a -vv line of a passed codec case under xdist: (worker, case id)
PASSED_ON_WORKER = r"\[(gw\d+)\] .*PASSED bench/test_codecs.py::test_(?:en|de)code\[([^\]]+)\]"

pytest.importorskip("xdist", reason="pytest-xdist is not installed (it is in the dev extra: pip install -e .[dev])")


def start_bench(image_folder, report_dir, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "bench/test_codecs.py", "--benchmark-only", *args,
         "--codecs", "jpeg:quality=30|70,png", "--datasets", f"folder:{image_folder}", "--report-dir", str(report_dir),
         "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=nested_pytest_env(),
    )


def finish(run: subprocess.Popen) -> str:
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out[-3000:]
    return out


def test_xdist_session_merges_the_serial_records_into_one_report(image_folder, tmp_path):
    (image_folder / "broken.png").unlink()
    timed = tmp_path / "test_timed_elsewhere.py"  # a benchmark that is not a codec case: skipped under xdist
    timed.write_text("def test_timed(benchmark):\n    assert benchmark(sum, [1, 2]) == 3\n")
    # both at once: the serial run's timings are not compared, only its records
    parallel = start_bench(image_folder, tmp_path / "parallel", "-n", "2", str(timed), "-rs", "-vv")
    serial = start_bench(image_folder, tmp_path / "serial")
    parallel_out, serial_out = finish(parallel), finish(serial)
    assert "6 passed, 1 skipped" in parallel_out and "6 passed in" in serial_out  # 3 specs × (encode, decode)
    assert UNTIMED_BENCHMARK_SKIP in parallel_out
    workers: dict[str, set[str]] = {}  # case id → the workers that ran its tests (-vv lines)
    for worker, case in re.findall(PASSED_ON_WORKER, parallel_out):
        workers.setdefault(case, set()).add(worker)
    assert len(workers) == 3 and all(len(w) == 1 for w in workers.values()), workers  # a case's tests stay together
    assert parallel_out.count(": report ") == 1  # the controller's one line per dataset
    reports = list((tmp_path / "parallel").glob("*.md"))
    assert [p.name for p in reports] == [p.name for p in (tmp_path / "serial").glob("*.md")]
    assert len(reports) == 1 and len(list((tmp_path / "parallel").glob("*.json"))) == 1

    meta, records = read_results(reports[0].with_suffix(".json"))
    serial_meta, serial_records = read_results((tmp_path / "serial" / reports[0].name).with_suffix(".json"))

    def measured(rs):
        return {(r.spec, r.image): (r.bytes, r.bpp, r.psnr, r.ssim, r.ms_ssim) for r in rs}

    assert len(records) == len(serial_records) == 9  # each case once, though encode and decode may run apart
    assert measured(records) == measured(serial_records)
    assert [(r.spec, r.image) for r in records] == [(r.spec, r.image) for r in serial_records]
    assert all(r.ok and r.enc_s is None and r.dec_s is None for r in records)
    assert all(r.enc_s and r.dec_s for r in serial_records)
    assert meta["timed_region"] == untimed_region(2) and "run without -n for timings" in untimed_region(2)
    assert meta["timing"] == {"measured": False, "xdist_workers": 2}
    assert serial_meta["timed_region"] == SESSION_TIMED_REGION
    assert f"- **Timed region**: {untimed_region(2)}" in reports[0].read_text()
