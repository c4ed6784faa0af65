"""The main job, `pytest bench --benchmark-only`, end to end in subprocesses: codec calls per case, one-line usage
errors and warnings, the harness's own benchmarks apart, running from any directory, progress on a terminal."""

import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codecbench.core.results import read_results
from tests.conftest import REPO, nested_pytest_env

#: a real JPEG codec (Pillow's) that notes each encode (E) and decode (D) call in the file $CB_CALLS
COUNTING_CODEC = textwrap.dedent('''
    import os
    from codecbench.codecs.classical.pillow import JpegCodec


    def _note(letter):
        with open(os.environ["CB_CALLS"], "a") as calls:
            calls.write(letter)


    class CountingJpeg(JpegCodec):
        name = "counting-jpeg"

        def _encode(self, image):
            _note("E")
            return super()._encode(image)

        def _decode(self, data):
            _note("D")
            return super()._decode(data)
''')


def dist(folder: Path, name: str, entry_points: str) -> None:
    """A ``.dist-info`` folder in ``folder`` (put it on PYTHONPATH) declaring ``entry_points``."""
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def plugins(tmp_path) -> Path:
    """counting-jpeg (a real codec) and a broken codec entry point, both installed the way a package is."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "counting_jpeg.py").write_text(COUNTING_CODEC)
    dist(folder, "counting-jpeg", "[codecbench.codecs]\ncounting-jpeg = counting_jpeg:CountingJpeg\n")
    dist(folder, "broken-demo", "[codecbench.codecs]\nbroken = nosuchmodule.x:Y\n")
    return folder


def pytest_run(*args, cwd=REPO, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=900, env=nested_pytest_env(**env))


@pytest.mark.parametrize("budget, most, rounds", [("0", "3", 1), ("1000", "2", 2)])
def test_each_case_codes_its_images_once_per_timed_round(image_folder, plugins, tmp_path, budget, most, rounds):
    """Per case: one warm-up encode and decode of a crop of the first image, then one encode (decode) of every image
    per timed round, no other codec call (the scores come from the last decode round); the rounds fit the
    budget (--benchmark-max-time) up to --rounds. A broken codec plug-in is one warning line, without its source
    line."""
    (image_folder / "broken.png").unlink()
    calls = tmp_path / "calls"
    done = pytest_run("bench/test_codecs.py", "--benchmark-only", "--codecs", "counting-jpeg:quality=50",
                      "--datasets", f"folder:{image_folder}", "--report-dir", str(tmp_path / "out"),
                      "--benchmark-json", str(tmp_path / "b.json"), "--benchmark-max-time", budget, "--rounds", most,
                      PYTHONPATH=str(plugins), CB_CALLS=str(calls))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    benchmarks = json.loads((tmp_path / "b.json").read_text())["benchmarks"]
    assert [(b["name"].partition("[")[0], b["stats"]["rounds"]) for b in benchmarks] == [
        ("test_encode", rounds), ("test_decode", rounds)]
    assert calls.read_text() == "ED" + "E" * 3 * rounds + "D" * 3 * rounds  # 3 images
    assert all(b["extra_info"]["psnr"] > 25 and b["extra_info"]["n_images"] == 3 for b in benchmarks)
    _, records = read_results(next((tmp_path / "out").glob("*.json")))
    assert len(records) == 3 and all(r.ok and r.psnr > 25 and r.enc_s > 0 and r.dec_s > 0 for r in records)
    warning = [line for line in done.stdout.splitlines() if "codec plug-in 'broken'" in line]
    assert len(warning) == 1 and "ModuleNotFoundError: No module named 'nosuchmodule'" in warning[0]
    after = done.stdout.splitlines()[done.stdout.splitlines().index(warning[0]) + 1]
    assert "warn" not in after, done.stdout  # no source line under it


BAD_OPTIONS = [
    (["--codecs", "nosuch"], "ERROR: unknown codec 'nosuch'; known codecs: avif, "),
    (["--codecs", "jpeg:quality=500"], "ERROR: setting quality='500': must be in [1, 100]"),
    (["--codecs", "jpeg:colour=1"], "ERROR: "),
    (["--datasets", "kodak"], "ERROR: dataset 'kodak' is not usable from "),
    (["--datasets", "nosuchset"], "ERROR: unknown dataset 'nosuchset'; known datasets: "),
    (["--devices", "gpu"], "ERROR: unknown device 'gpu' in --devices; known devices: cpu, cuda"),
    (["--rounds", "0"], "ERROR: --rounds must be an integer at least 1, got 0"),
    (["--max-images", "0"], "ERROR: --max-images must be an integer at least 1, got 0"),
    (["--metrics", "nosuch"], "ERROR: "),
]


@pytest.mark.parametrize("args, message", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_usage_errors_are_one_line_before_anything_runs(tmp_path, args, message):
    """A bad option or a dataset that is not there: one line on stderr, exit status 4, no traceback, no test run."""
    done = pytest_run("bench", "--benchmark-only", *args, CODECBENCH_DATA=str(tmp_path / "empty"))
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 4 and len(lines) == 1 and lines[0].startswith(message), done.stdout + done.stderr


def test_runs_from_any_directory_and_reports_apart_from_codecbench_run(tmp_path):
    """`pytest --pyargs codecbench.bench` and `codecbench bench` in a folder without any codecbench file: the codec
    cases run and write results/bench/<dataset>.md there (codecbench run writes results/results.json)."""
    done = pytest_run("--pyargs", "codecbench.bench", "--benchmark-only", "--codecs", "jpeg:quality=50",
                      "--max-images", "2", "-q", cwd=tmp_path)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["bench"]
    meta, records = read_results(tmp_path / "results" / "bench" / "embedded.json")
    assert len(records) == 2 and (tmp_path / "results" / "bench" / "embedded.md").is_file()
    cli = [sys.executable, "-m", "codecbench", "bench"]
    ran = subprocess.run([*cli, "--codecs", "png", "--max-images", "1", "-q", "--report-dir", "out"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=900, env=nested_pytest_env())
    assert ran.returncode == 0 and "2 passed" in ran.stdout, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert (tmp_path / "out" / "embedded.md").is_file()
    refused = subprocess.run([*cli, "--codecs", "nosuch"], capture_output=True, text=True, cwd=tmp_path, timeout=900,
                             env=nested_pytest_env())
    lines = [line for line in (refused.stdout + refused.stderr).splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1 and "unknown codec 'nosuch'" in lines[0], lines


def test_harness_benchmarks_run_only_when_named(tmp_path):
    """`pytest bench` collects the codec cases only (--codecs selects among them); the harness's own benchmarks
    run when named, and a speed goal missed is a figure, not a failure."""
    cases = pytest_run("bench", "--collect-only", "-q", "--codecs", "png")
    assert cases.returncode == 0, cases.stdout[-3000:]
    assert [line for line in cases.stdout.splitlines() if "::" in line] == [
        "bench/test_codecs.py::test_encode[png:compress_level=6-embedded-cpu]",
        "bench/test_codecs.py::test_decode[png:compress_level=6-embedded-cpu]"]
    harness = pytest_run("bench/harness", "--collect-only", "-q")
    assert "bench/harness/test_report_speed.py::test_report_generation_speed" in harness.stdout, harness.stdout
    goal = tmp_path / "test_goal.py"
    goal.write_text("def test_slow(benchmark, speed_goal):\n"
                    "    benchmark.pedantic(sum, args=([1, 2],), rounds=1)\n"
                    "    speed_goal('sum of two numbers', 1.5, 1e-9)\n")
    missed = pytest_run(str(goal), "--benchmark-only", "--rootdir", str(tmp_path))
    assert missed.returncode == 0 and "1 passed" in missed.stdout, missed.stdout[-3000:]
    assert "sum of two numbers: 1.5 s (goal < 1e-09 s): NOT met" in missed.stdout


def test_no_cuda_cases_where_cuda_is_absent():
    """Without --devices, a machine without CUDA gets no cuda case and one line saying so."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    done = pytest_run("bench", "--collect-only", "-q", "--codecs", "cnn-ae:quality=1")
    assert done.returncode == 0, done.stdout[-3000:]
    assert [line for line in done.stdout.splitlines() if "::" in line] == [
        "bench/test_codecs.py::test_encode[cnn-ae:quality=1-embedded-cpu]",
        "bench/test_codecs.py::test_decode[cnn-ae:quality=1-embedded-cpu]"]
    assert "codecbench: CUDA is not available on this machine: 1 cuda cases left out" in done.stdout
    named = pytest_run("bench", "--collect-only", "-q", "--codecs", "cnn-ae:quality=1", "--devices", "cuda")
    assert "test_encode[cnn-ae-cuda]" in named.stdout  # named: one skipped test per codec, saying why


def on_terminal(args: list[str], **env: str) -> str:
    """The output of ``pytest ARGS`` run on a pseudo-terminal (as a person watching it sees it)."""
    main, child = pty.openpty()
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], stdin=child,
                           stdout=child, stderr=child, cwd=REPO, env=nested_pytest_env(**env))
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    run.wait(timeout=900)
    os.close(main)
    return out.decode(errors="replace")


def test_progress_line_on_a_terminal_only(image_folder, tmp_path):
    """On a terminal: the running case, elapsed and remaining time, no dots; in CI (CI set) pytest's dots."""
    (image_folder / "broken.png").unlink()
    args = ["bench/test_codecs.py", "--benchmark-only", "--codecs", "jpeg:quality=30|90", "--datasets",
            f"folder:{image_folder}", "--report-dir", str(tmp_path), "-q", "--color=no"]
    shown = on_terminal(args, CI="")
    assert f"[1/2] jpeg:quality=30 · folder:{image_folder} · cpu · encode   0:0" in shown, shown
    assert "· decode" in shown
    assert "elapsed · estimating time left" in shown
    assert " left" in shown
    assert "codec cases: 2 done in " in shown
    assert "4 passed" in shown
    assert "...." not in shown
    in_ci = on_terminal(args, CI="true")
    assert "[1/2]" not in in_ci
    assert "...." in in_ci
    assert "4 passed" in in_ci
