"""The noise-aware latency gate (``codecbench compare --max-slowdown X --latency-ci``) on pytest-benchmark rounds."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from codecbench.analysis.latency import MIN_ROUNDS, compare_latency, ratio_interval
from codecbench.cli import main
from tests.conftest import REPO, nested_pytest_env


@pytest.fixture(scope="module")
def bench_doc(tmp_path_factory):
    """A real ``pytest bench`` run's JSON with its rounds saved (--benchmark-save-data); each phase's rounds are
    then set to 8 rounds within ±4 % of its median, the spread of a quiet machine (the test machine's own rounds
    can be ×10 apart under load, and the test is about the gate, not about this machine)."""
    tmp = tmp_path_factory.mktemp("latency")
    out = tmp / "run.json"
    cmd = [sys.executable, "-m", "pytest", "bench/test_codecs.py", "--benchmark-only", "-p", "no:cacheprovider", "-q",
           "--codecs", "jpeg:quality=50", "--datasets", "embedded", "--max-images", "1", "--rounds", "8",
           "--report-dir", str(tmp / "reports"), "--benchmark-json", str(out), "--benchmark-save-data"]
    done = subprocess.run(cmd, cwd=REPO, env=nested_pytest_env(CODECBENCH_CACHE=str(tmp / "cache")),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = json.loads(out.read_text())
    for bench in doc["benchmarks"]:
        median = float(np.median(bench["stats"]["data"]))
        bench["stats"]["data"] = [median * f for f in (0.96, 1.0, 1.03, 0.98, 1.04, 0.99, 1.01, 0.97)]
    return doc


def _write(path, doc, scale=1.0, *, rounds=None, drop=None):
    doc = copy.deepcopy(doc)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if drop is None or drop not in b["name"]]
    for bench in doc["benchmarks"]:
        data = [v * scale for v in bench["stats"]["data"]][:rounds]
        bench["stats"].update(data=data, median=float(np.median(data)))
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_ratio_interval_is_repeatable_and_brackets_the_ratio():
    rng = np.random.default_rng(1)
    base, new = rng.gamma(9, 1e-3, 15), rng.gamma(9, 1e-3, 15) * 1.5
    ratio, low, high = ratio_interval(base, new)
    assert (ratio, low, high) == ratio_interval(base, new) and low <= ratio <= high
    _, low, high = ratio_interval(base, base * 2.0)  # resampled independently: an interval around ×2
    assert low < 2.0 < high
    assert ratio_interval(np.full(6, 1e-3), np.full(6, 2e-3))[1:] == pytest.approx((2.0, 2.0))  # no noise, no width


def test_an_unchanged_run_passes_and_a_slower_one_fails_naming_the_case(bench_doc, tmp_path, capsys):
    base = _write(tmp_path / "base.json", bench_doc)
    assert main(["compare", base, _write(tmp_path / "same.json", bench_doc), "--max-slowdown", "1.15",
                 "--latency-ci"]) == 0
    assert "### Latency (ratio of median round times" in capsys.readouterr().out
    assert main(["compare", base, _write(tmp_path / "slow.json", bench_doc, 3.0), "--max-slowdown", "1.15",
                 "--latency-ci"]) == 1
    captured = capsys.readouterr()
    assert "jpeg:optimize=False,quality=50,subsampling=4:2:0 encode: encode time ×3.00 of BASE" in captured.err
    assert "lies above ×1.15" in captured.err and "**FAIL" in captured.out
    # a slowdown inside the threshold passes: the rounds' ratio is ×1.05
    assert main(["compare", base, _write(tmp_path / "bit.json", bench_doc, 1.05), "--max-slowdown", "1.15",
                 "--latency-ci"]) == 0
    # ×1.3 in the median, but the NEW rounds so noisy that the interval reaches below ×1.15: no alarm (where the
    # point rule, --max-slowdown alone, alarms)
    noisy = copy.deepcopy(bench_doc)
    for bench in noisy["benchmarks"]:
        m = float(np.median(bench["stats"]["data"]))
        bench["stats"]["data"] = [m * f for f in (0.5, 1.3, 2.6, 0.9, 1.3, 1.25, 3.0, 1.35)]
    noisy_path = _write(tmp_path / "noisy.json", noisy)
    assert main(["compare", base, noisy_path, "--max-slowdown", "1.15", "--latency-ci"]) == 0
    assert main(["compare", base, noisy_path, "--max-slowdown", "1.15"]) == 1


def test_the_gate_fails_closed_on_too_few_rounds_and_missing_cases(bench_doc, tmp_path):
    base = _write(tmp_path / "base.json", bench_doc)
    few = compare_latency(base, _write(tmp_path / "few.json", bench_doc, rounds=MIN_ROUNDS - 1), 1.15)
    assert all(c.problem and f"at least {MIN_ROUNDS}" in c.problem for c in few.checks) and len(few.checks) == 2
    missing = compare_latency(base, _write(tmp_path / "enc.json", bench_doc, drop="decode"), 1.15)
    assert [c.problem for c in missing.checks if c.phase == "decode"] == ["missing from NEW"]


@pytest.mark.parametrize("change, message", [
    ("no data", "no per-round times (stats.data)"),
    ("bad value", "stats.data[0] must be a number"),
    ("results file", "needs pytest-benchmark JSON with per-round times"),
    ("no threshold", "--latency-ci needs --max-slowdown"),
])
def test_unusable_inputs_are_one_line_errors(bench_doc, tmp_path, capsys, change, message):
    doc = copy.deepcopy(bench_doc)
    if change == "no data":
        del doc["benchmarks"][0]["stats"]["data"]
    if change == "bad value":
        doc["benchmarks"][0]["stats"]["data"][0] = -1
    new = tmp_path / "new.json"
    base = _write(tmp_path / "base.json", bench_doc)
    if change == "results file":
        assert main(["run", "--codecs", "jpeg:quality=50", "--max-images", "1", "--jobs", "1", "--no-cache",
                     "--out", str(new)]) == 0
    else:
        new.write_text(json.dumps(doc))
    argv = ["compare", base, str(new)] + ([] if change == "no threshold" else ["--max-slowdown", "1.15"])
    capsys.readouterr()
    assert main([*argv, "--latency-ci"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error:")
    assert message in err
    assert len(err.strip().splitlines()) == 1
