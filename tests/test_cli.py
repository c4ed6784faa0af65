"""The codecbench command: one-line errors, run → report round trip."""

import subprocess
import sys

from codecbench.cli import main
from codecbench.results import read_records


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "codecbench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_bad_spec_is_one_line_and_exit_2():
    done = run_cli("run", "jpeg:quality=500", "--max-images", "1")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "quality" in done.stderr and "Traceback" not in done.stderr


def test_unknown_dataset_is_one_line_and_exit_2(tmp_path):
    done = run_cli("run", "png", "-d", "nosuchset", "-o", str(tmp_path / "r.jsonl"))
    assert done.returncode == 2 and "nosuchset" in done.stderr and "Traceback" not in done.stderr


def test_run_then_report(image_folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["run", "jpeg:quality=40|90", "png", "-d", f"folder:{image_folder}", "-o", str(out),
                 "--report", str(tmp_path / "r.md")]) == 0
    records = read_records(out)
    assert len(records) == 12 and sum(not r.ok for r in records) == 3
    text = (tmp_path / "r.md").read_text()
    assert "| ok/total |" in text.replace("ok/total", "ok/total") and "3/4" in text and "Lossless" in text
    assert main(["report", str(out)]) == 0
    assert "arithmetic mean" in capsys.readouterr().out


def test_list_codecs_shows_sweeps(capsys):
    assert main(["list", "codecs"]) == 0
    assert "jpeg" in capsys.readouterr().out
