"""A misbehaving codec costs its own records only: it cannot change the image the next codec is scored on, a
decoder that hands back its input scores nothing, a timed-out codec's child processes die with it, and threads
it leaves running do not keep `codecbench run` from exiting.

The codecs are the test-only plugin of tests/faulty_plugin.py (zeroing-demo, echo-demo, child-hang-demo,
thread-demo), found by `codecbench run` subprocesses through an entry point on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from codecbench.core.results import read_records
from tests import faulty_plugin
from tests.conftest import smooth_image

#: the fields a measurement sets (timings aside)
MEASURED = ("width", "height", "bytes", "bpp", "psnr", "psnr_y", "ssim", "ms_ssim", "lossless_ok", "error")
CLEAN_SPECS = ["jpeg:quality=50", "png", "webp:quality=50"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    return faulty_plugin.environment(tmp_path_factory)


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (h, w) in enumerate([(48, 64), (40, 56)]):
        Image.fromarray(smooth_image(h, w, i)).save(folder / f"img{i}.png")
    return folder


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecbench", "run", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def measured(out: Path, codecs: set[str] | None = None) -> dict[tuple[str, str], tuple]:
    return {(r.spec, r.image): tuple(getattr(r, f) for f in MEASURED) for r in read_records(out)
            if codecs is None or r.codec in codecs}


# -- the reference image is protected --------------------------------------------------------------
def test_a_codec_writing_into_its_input_cannot_change_the_next_codecs_record(plugin_env, images, tmp_path):
    common = ["-d", f"folder:{images}", "--jobs", "1"]
    clean = run([*CLEAN_SPECS, *common, "-o", str(tmp_path / "clean.json"), "--no-cache"], plugin_env, tmp_path)
    assert clean.returncode == 0, clean.stderr[-2000:]
    expected = measured(tmp_path / "clean.json")
    assert len(expected) == 6 and all(v[-1] is None for v in expected.values())

    cache = ["--cache", str(tmp_path / "cache.sqlite")]
    # in this process, one codec after another on the same image; the bad ones come first
    spoiled = run(["zeroing-demo", "echo-demo", *CLEAN_SPECS, *common, *cache, "-o", str(tmp_path / "x.json")],
                  plugin_env, tmp_path)
    assert spoiled.returncode == 0, spoiled.stderr[-2000:]
    assert measured(tmp_path / "x.json", {"jpeg", "png", "webp"}) == expected
    errors = {(r.codec, r.error) for r in read_records(tmp_path / "x.json") if r.codec.endswith("-demo")}
    assert errors == {("zeroing-demo", "CodecContractError: zeroing-demo: the codec changed the image it was given "
                                       "to encode"),
                      ("echo-demo", "CodecContractError: echo-demo: decode returned the image given to encode, not "
                                    "a decoding of the stream")}

    # nothing spoiled went into the cache: the clean codecs reuse exactly the clean figures, the bad ones fail again
    again = run(["zeroing-demo", "echo-demo", *CLEAN_SPECS, *common, *cache, "-o", str(tmp_path / "y.json")],
                plugin_env, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert measured(tmp_path / "y.json", {"jpeg", "png", "webp"}) == expected
    assert all(not r.ok for r in read_records(tmp_path / "y.json") if r.codec.endswith("-demo"))


# -- process hygiene ----------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a zombie has ended; only its entry waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_timeout_kills_the_processes_the_codec_started(plugin_env, images, tmp_path):
    pids_file = tmp_path / "children"
    done = run(["child-hang-demo", "-d", f"folder:{images}", "--timeout", "3", "--warmup", "0", "--no-cache",
                "-o", str(tmp_path / "r.json")], {**plugin_env, "CB_CHILD_PIDS": str(pids_file)}, tmp_path)
    pids = [int(p) for p in pids_file.read_text().split()]
    try:
        assert done.returncode == 1, done.stderr[-2000:]  # the run ends, and every record it made failed
        records = read_records(tmp_path / "r.json")
        assert len(records) == 2 and all(r.error.startswith("CodecTimeoutError") for r in records)
        assert len(pids) == 2  # one child per image, each started by a worker that was then killed
        deadline = time.monotonic() + 10  # SIGKILL is delivered at once; the slack is for a loaded machine
        while any(map(_alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "a codec's child process outlived its killed worker"
    finally:
        for pid in filter(_alive, pids):  # the old code's survivors (this test's own sleep 1000 processes)
            os.kill(pid, signal.SIGKILL)


def test_run_exits_although_a_codec_left_a_thread_running(plugin_env, images, tmp_path):
    out = tmp_path / "r.json"
    # in-process (--jobs 1): the codec's thread lives in the `codecbench run` process itself
    done = run(["thread-demo", "png", "-d", f"folder:{images}", "--jobs", "1", "--no-cache", "-o", str(out)],
               plugin_env, tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "results:" in done.stderr and "thread-demo-sleeper" in done.stderr
    records = read_records(out)
    assert len(records) == 4 and all(r.ok for r in records)
