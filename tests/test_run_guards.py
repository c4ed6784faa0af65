"""`codecbench run` guards: one writer per results file, numeric options checked, model loading outside
`--timeout`, a plugin's `sys.exit()` costing one record.

The misbehaving codecs are the test-only plugin of tests/faulty_plugin.py, found by `codecbench run`
subprocesses (and their worker processes) through an entry point on PYTHONPATH.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.cli import main
from codecbench.core.errors import OptionError
from codecbench.core.results import read_records
from codecbench.engine.store import lock_path
from codecbench.engine.runner import MAX_THREADS, Runner, Timing
from tests import faulty_plugin
from tests.conftest import REPO, nested_pytest_env


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    folder = faulty_plugin.install(tmp_path_factory.mktemp("plugin"))
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "CODECBENCH_CACHE": str(tmp_path_factory.mktemp("cache"))}


def image_folder(root: Path, widths: list[int]) -> Path:
    """A folder of random 12-pixel-high RGB PNGs, ``w<width>.png`` for each width."""
    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for width in widths:
        Image.fromarray(rng.integers(0, 256, (12, width, 3), dtype=np.uint8)).save(folder / f"w{width}.png")
    return folder


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "codecbench", "run", *args, "--no-cache"]


def is_locked(path: Path) -> bool:
    """Whether another process holds an exclusive flock on ``path``."""
    if not path.exists():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


# -- item 3: two runs, one results file ---------------------------------------------------------
def test_second_run_on_the_same_out_fails_at_once(plugin_env, tmp_path):
    folder = image_folder(tmp_path, [16, 18])
    out, gate = tmp_path / "results.json", tmp_path / "go"
    first = subprocess.Popen(command("slow-init-demo", "-d", f"folder:{folder}", "-o", str(out)),
                             env={**plugin_env, "CB_INIT_GATE": str(gate)}, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not is_locked(lock_path(out)):  # the first run holds the lock, waiting in its codec's constructor
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.2)
        second = subprocess.run(command("png", "-d", f"folder:{folder}", "-o", str(out)), env=plugin_env,
                                cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and str(out) in lines[0] and "another codecbench run" in lines[0], second.stderr
    finally:
        gate.touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    records = read_records(out)
    assert sorted((r.codec, r.image) for r in records) == [("slow-init-demo", "w16"), ("slow-init-demo", "w18")]
    assert all(r.ok for r in records)
    # once the first run is over, the same file can be written again
    again = subprocess.run(command("png", "-d", f"folder:{folder}", "-o", str(out)), env=plugin_env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(read_records(out)) == 4


# -- item 5: --timeout bounds the codec calls, not model loading or warm-up ------------------------
def test_timeout_does_not_count_model_loading(plugin_env, tmp_path):
    folder = image_folder(tmp_path, [16, 18])
    out = tmp_path / "results.json"
    done = subprocess.run(command("slow-init-demo", "-d", f"folder:{folder}", "-o", str(out), "--timeout", "5"),
                          env={**plugin_env, "CB_SLOW_INIT_S": "6"}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    records = read_records(out)
    assert len(records) == 2 and all(r.ok and r.lossless_ok for r in records), [r.error for r in records]


def test_timeout_stops_a_codec_hanging_in_the_warm_up_of_its_first_image(plugin_env, tmp_path):
    # the first image a fresh worker sees is coded by the codec's warm-up; a hang there was bounded by the
    # 300 s allowed for building the codec, not by --timeout (a CI run waited on it)
    folder = image_folder(tmp_path, [19, 21])  # faulty-demo sleeps forever decoding width 19: the first image
    out = tmp_path / "results.json"
    start = time.monotonic()
    done = subprocess.run(command("faulty-demo", "-d", f"folder:{folder}", "-o", str(out), "--timeout", "3"),
                          env=plugin_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 60
    records = {r.image: r for r in read_records(out)}
    assert records["w19"].error.startswith("CodecTimeoutError") and "(warm-up): no result after 3 s" in records[
        "w19"].error, records["w19"].error
    assert records["w21"].ok and records["w21"].lossless_ok


# -- item 11: sys.exit() in a codec is one failed record -------------------------------------------
@pytest.mark.parametrize("isolation, expected", [(["--jobs", "1"], "SystemExit: 3"), (["--isolate"], "RuntimeError: SystemExit: 3")])
def test_sys_exit_in_decode_costs_one_record(plugin_env, tmp_path, isolation, expected):
    folder = image_folder(tmp_path, [16, 31, 18])  # faulty-demo calls sys.exit(3) decoding width 31
    out = tmp_path / "results.json"
    done = subprocess.run(command("faulty-demo", "-d", f"folder:{folder}", "-o", str(out), *isolation),
                          env=plugin_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 failed in this run" in done.stderr
    records = {r.image: r for r in read_records(out)}
    assert records["w16"].ok and records["w18"].ok
    assert records["w31"].error == expected and records["w31"].bpp is None


# -- item 7: numeric options ---------------------------------------------------------------------
@pytest.mark.parametrize("option", [
    ["--threads", "0"], ["--threads", "-1"], ["--threads", str(MAX_THREADS + 1)],
    ["--timeout", "0"], ["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "inf"],
    ["--repeats", "0"], ["--repeats", "-3"], ["--warmup", "-1"], ["--max-images", "0"],
])
def test_out_of_range_numbers_are_one_line_errors(option, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["run", "png", "-o", str(out), "--no-cache", *option]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"codecbench: error: {option[0]} must be"), err
    assert not out.exists() and not lock_path(out).exists()  # rejected before anything ran


def test_absurd_thread_count_is_rejected_not_a_crash(tmp_path):
    done = subprocess.run(command("png", "-o", str(tmp_path / "r.json"), "--threads", "100000"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"codecbench: error: --threads must be an integer from 1 to {MAX_THREADS}, got 100000"


def test_api_checks_the_same_numbers():
    with pytest.raises(OptionError, match="--repeats"):
        Timing(repeats=-3)
    with pytest.raises(OptionError, match="--threads"):
        Runner(["png"], threads=100000)
    with pytest.raises(OptionError, match="--timeout"):
        Runner(["png"], timeout=float("nan"))
    with Runner(["png"], threads=MAX_THREADS, timeout=0.5, timing=Timing(warmup=0, repeats=1)) as runner:
        assert runner.threads == MAX_THREADS


@pytest.mark.parametrize("option", [["--rounds", "0"], ["--max-images", "-2"], ["--report-per-image", "-1"]])
def test_bench_plugin_checks_its_numbers(option):
    done = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "bench" / "test_codecs.py"), "-q",
                           "-p", "no:cacheprovider", *option], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=nested_pytest_env())
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert f"{option[0]} must be an integer at least" in done.stderr and "Traceback" not in done.stderr
