"""Issue 22: what ``codecbench run`` says at its end, and its exit status.

A selection that yields no (codec, image) task is one line and exit 2, before anything is written; warnings
are one line without Python's source line; a run whose every record failed exits 1; the time breakdown adds
up to what it says it adds up to (the wall time, or N × wall process-seconds with N codec processes), and
under Dask it holds the workers' own seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``codecbench run ARGS`` as a program (Python's own warning display included, as a user sees it)."""
    return subprocess.run([sys.executable, "-m", "codecbench", "run", *args], capture_output=True, text=True,
                          timeout=timeout)


def _no_python_noise(stderr: str) -> None:
    assert "Traceback" not in stderr and "UserWarning" not in stderr and "warnings.warn" not in stderr, stderr
    assert not re.search(r"\.py:\d+: ", stderr), stderr  # no "file.py:116: UserWarning" source line


# -- nothing to measure: exit 2, one line, nothing written ------------------------------------------
@pytest.mark.parametrize("codecs, expected", [
    ("webp:quality=50", "webp takes 3-channel images only and {data} has 1"),
    ("webp:quality=50|80", "webp takes 3-channel images only and {data} has 1"),
    ("webp:quality=50,webp-lossless", "webp, webp-lossless take 3-channel images only and {data} has 1"),
])
def test_a_selection_without_any_task_is_one_line_exit_2_and_writes_nothing(image_folder, tmp_path, codecs,
                                                                              expected):
    out, data = tmp_path / "r.json", f"folder:{image_folder}:gray"
    done = _run("--codecs", codecs, "--datasets", data, "-o", str(out), "--jobs", "1")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"codecbench: error: nothing to measure: {expected.format(data=data)}"]
    assert not out.exists() and not list(tmp_path.glob("*.json*"))


def test_nothing_to_measure_only_when_no_dataset_gets_a_codec():
    from codecbench.engine.channels import nothing_to_measure

    assert nothing_to_measure(["webp:quality=50"], {"kodak:gray": 24}) == \
        "webp takes 3-channel images only and kodak:gray has 1"
    assert nothing_to_measure(["webp:quality=50"], {"kodak:gray": 24, "kodak": 24}) is None  # a warning, not this
    assert nothing_to_measure(["webp:quality=50", "png"], {"kodak:gray": 24}) is None
    assert nothing_to_measure(["png"], {"folder:x": 0}) == "folder:x has no images"


# -- warnings: one line each ----------------------------------------------------------------------------
def test_a_skipped_codec_is_one_warning_line_and_the_rest_runs(image_folder, tmp_path):
    data = f"folder:{image_folder}:gray"
    done = _run("--codecs", "webp:quality=50,png", "--datasets", data, "-o", str(tmp_path / "r.json"),
                "--jobs", "1", "--no-cache")
    assert done.returncode == 0, done.stderr
    _no_python_noise(done.stderr)
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warnings == [f"codecbench: warning: skipped on {data}: webp takes 3-channel images only and {data} has 1"]


def test_show_warning_writes_one_line(capsys):
    from codecbench.cli import show_warning

    show_warning(UserWarning("first line\n  second line"), UserWarning, "/x/y.py", 12)
    assert capsys.readouterr().err == "codecbench: warning: first line second line\n"


# -- every record failed: exit 1 ------------------------------------------------------------------------
def test_a_run_whose_every_record_failed_exits_1_saying_so(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(b"not an image")
    done = _run("--codecs", "png", "--datasets", f"folder:{folder}", "-o", str(tmp_path / "r.json"), "--no-cache",
                "--jobs", "1")
    assert done.returncode == 1, done.stderr
    _no_python_noise(done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("codecbench run: all 2 records of this run failed (the first: png:") and "ImageError" in last


def test_a_run_with_some_failures_exits_0(image_folder, tmp_path):
    done = _run("--codecs", "png", "--datasets", f"folder:{image_folder}", "-o", str(tmp_path / "r.json"),
                "--no-cache", "--jobs", "1")
    assert done.returncode == 0, done.stderr  # broken.png failed, three images did not
    assert "1 failed in this run" in done.stderr


# -- the time breakdown ---------------------------------------------------------------------------------
_SECONDS = r"([\d.]+) s"


@pytest.mark.parametrize("processes", [1, 2, 3])
@pytest.mark.parametrize("codec, scoring, loading, wall", [(3.0, 1.0, 0.5, 5.0), (4.2, 0.7, 0.1, 5.0), (0, 0, 0, 2.0)])
def test_the_time_line_adds_up_to_what_it_says(processes, codec, scoring, loading, wall):
    """Each codec process busy ``codec`` + ``scoring`` seconds of ``wall``; this one loading images ``loading``."""
    from codecbench.engine.time_spent import TimeSpent

    line = TimeSpent(codec * processes, scoring * processes, loading, processes=processes).summary(wall)
    shares = [int(s) for s in re.findall(r"\((\d+)%\)", line)]
    assert 99 <= sum(shares) <= 101 or sum(shares) == 0, line  # the shares of one total
    if processes > 1:
        assert f"{processes} codec processes, {processes * wall:.1f} process-seconds" in line
        assert "of the wall time)" in line  # image loading: this process's share of the wall time


def test_a_parallel_run_labels_its_time_as_process_seconds_that_add_up(image_folder, tmp_path):
    done = _run("--codecs", "png,jpeg:quality=50", "--datasets", f"folder:{image_folder}", "-o",
                str(tmp_path / "r.json"), "--jobs", "2", "--no-cache")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("time: "))
    match = re.fullmatch(rf"time: {_SECONDS} wall; 2 codec processes, {_SECONDS.replace(' s', '')} process-seconds: "
                         rf"codec calls {_SECONDS} \(\d+%\), metrics and cache {_SECONDS} \(\d+%\), "
                         rf"other \(model loading, idle\) {_SECONDS} \(\d+%\); "
                         rf"image loading \(this process\) {_SECONDS} \(\d+% of the wall time\)", line)
    assert match, line
    wall, capacity, codec, scoring, other, loading = map(float, match.groups())
    assert capacity == pytest.approx(2 * wall, abs=0.11)
    assert codec + scoring + other == pytest.approx(capacity, abs=0.3)
    assert codec > 0 and loading <= wall


def test_a_dask_run_reports_the_workers_codec_time(image_folder, tmp_path):
    pytest.importorskip("distributed", reason="Dask is in the dev extra: pip install -e '.[dev]'")
    done = _run("--codecs", "png", "--datasets", f"folder:{image_folder}", "-o", str(tmp_path / "r.json"),
                "--dask", "--jobs", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stderr.splitlines() if line.startswith("time: "))
    match = re.search(rf"summed over the Dask workers \(worker-seconds\): codec calls {_SECONDS}, metrics {_SECONDS}",
                      line)
    assert match and float(match.group(1)) > 0, line
