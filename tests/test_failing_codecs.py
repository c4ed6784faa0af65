"""Failing codecs: exceptions recorded, a hung codec stopped by --timeout, native crashes isolated (--isolate).

The misbehaving codec is a test-only plugin (tests/faulty_plugin.py) found
through a ``codecbench.codecs`` entry point by ``codecbench run`` subprocesses
(and their worker processes) that have its folder on PYTHONPATH.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.core.errors import CodecCrashError, CodecTimeoutError, ImageError
from codecbench.engine.isolation import Worker
from codecbench.core.results import read_records
from codecbench.engine.runner import Runner
from tests import faulty_plugin

#: image file -> what faulty-demo does on it (by width; see tests/faulty_plugin.py)
IMAGES = {"a16.png": 16, "b17.png": 17, "c18.png": 18, "d19.png": 19, "e23.png": 23, "f29.png": 29}
EXPECTED_ERRORS = {
    "b17": ("CodecCrashError", "SIGABRT"),
    "d19": ("CodecTimeoutError", "no result after"),
    "e23": ("CodecCrashError", "SIGSEGV"),
    "f29": ("RuntimeError", "refuses width 29"),
}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    return faulty_plugin.environment(tmp_path_factory)


@pytest.fixture
def faulty_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, width in IMAGES.items():
        Image.fromarray(rng.integers(0, 256, (12, width, 3), dtype=np.uint8)).save(folder / name)
    return folder


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecbench", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_crash_without_isolation_keeps_results_and_isolated_rerun_finishes(plugin_env, faulty_folder, tmp_path):
    out = tmp_path / "results.json"
    common = ["run", "faulty-demo", "png", "-d", f"folder:{faulty_folder}", "-o", str(out), "--no-cache"]
    # 1. in-process (--jobs 1, no isolation), the abort() on b17 takes the whole run down ...
    first = run_cli([*common, "--jobs", "1"], plugin_env, tmp_path)
    assert first.returncode == -6, first.stderr  # SIGABRT
    kept = read_records(out)
    assert {(r.codec, r.image) for r in kept} == {("faulty-demo", "a16"), ("png", "a16")} and all(r.ok for r in kept)
    # 2. ... the same command with a per-image timeout (codec calls in worker processes, two at once) resumes and
    #    finishes
    start = time.monotonic()
    second = run_cli([*common, "--timeout", "8", "--jobs", "2", "--report-dir", str(tmp_path / "report")],
                     plugin_env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - start < 400
    records = {(r.codec, r.image): r for r in read_records(out)}
    assert len(records) == 2 * len(IMAGES)
    assert records[("faulty-demo", "a16")].enc_s == next(r for r in kept if r.codec == "faulty-demo").enc_s  # kept
    for image in (Path(n).stem for n in IMAGES):
        png = records[("png", image)]
        assert png.ok and png.lossless_ok, png.error
        faulty = records[("faulty-demo", image)]
        if image in EXPECTED_ERRORS:
            kind, detail = EXPECTED_ERRORS[image]
            assert faulty.error and faulty.error.startswith(kind) and detail in faulty.error, faulty.error
            assert faulty.bpp is None
        else:
            assert faulty.ok and faulty.lossless_ok and faulty.enc_s > 0, faulty.error
    assert "faulty-demo" in records[("faulty-demo", "b17")].error  # the message names the codec
    assert "4 failed in this run" in second.stderr
    # the report states n ok / n total per codec and lists every failure with its reason
    (report,) = (tmp_path / "report").glob("*.md")
    text = report.read_text()
    assert "2/6" in text and "6/6" in text
    for image, (kind, _) in EXPECTED_ERRORS.items():
        assert image in text and kind in text


def test_isolate_alone_survives_native_crashes(plugin_env, faulty_folder, tmp_path):
    for name in ("c18.png", "d19.png", "f29.png"):
        (faulty_folder / name).unlink()  # no hang here: --isolate has no timeout by default
    out = tmp_path / "results.json"
    done = run_cli(["run", "faulty-demo", "-d", f"folder:{faulty_folder}", "-o", str(out), "--no-cache", "--isolate"],
                   plugin_env, tmp_path)
    assert done.returncode == 0, done.stderr
    records = {r.image: r for r in read_records(out)}
    assert records["a16"].ok
    assert "SIGABRT" in records["b17"].error and "SIGSEGV" in records["e23"].error


# -- the worker process itself ------------------------------------------------------------------
@pytest.fixture(scope="module")
def worker():
    with Worker(label="test worker") as w:
        yield w


def test_worker_returns_results_and_reraises_errors(worker):
    assert worker.call("math:factorial", 5) == 120
    with pytest.raises(ImageError, match="not an image"):  # codecbench's errors come back as themselves
        worker.call("codecbench.core.images:load_image", b"junk")
    with pytest.raises(ZeroDivisionError):
        worker.call("operator:truediv", 1, 0)


def test_worker_crash_and_timeout_cost_one_call(worker):
    pid = worker.call("os:getpid")
    with pytest.raises(CodecCrashError, match="abort-test: the test worker was killed by SIGABRT"):
        worker.call("os:abort", describe="abort-test")
    start = time.monotonic()
    with pytest.raises(CodecTimeoutError, match="no result after 2 s"):
        worker.call("time:sleep", 60, timeout=2)
    assert time.monotonic() - start < 30
    assert worker.call("os:getpid") not in (pid, None)  # a fresh worker answers the next call
    with pytest.raises(CodecCrashError, match="status 3"):
        worker.call("os:_exit", 3)


def test_worker_memory_limit():
    with Worker(memory_limit=256 << 20, label="small worker") as small:
        with pytest.raises(MemoryError):
            small.call("numpy:ones", 1 << 30)  # 8 GiB of float64
        assert small.call("math:sqrt", 4.0) == 2.0  # still alive


def test_timeout_implies_isolation():
    runner = Runner(["png"], timeout=5)
    try:
        assert runner.isolate and runner.timeout == 5
    finally:
        runner.close()
    assert not Runner(["png"]).isolate
