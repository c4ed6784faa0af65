"""The codecbench command: one-line errors, run → report round trip."""

import subprocess
import sys

from codecbench.cli import main
from pathlib import Path

from codecbench.results import read_records, read_results


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "codecbench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_bad_spec_is_one_line_and_exit_2():
    done = run_cli("run", "--codecs", "jpeg:quality=500", "--max-images", "1")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "quality" in done.stderr and "Traceback" not in done.stderr


def test_unknown_dataset_is_one_line_and_exit_2(tmp_path):
    done = run_cli("run", "--codecs", "png", "--datasets", "nosuchset", "-o", str(tmp_path / "r.json"))
    assert done.returncode == 2 and "nosuchset" in done.stderr and "Traceback" not in done.stderr


def test_run_then_report(image_folder, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--codecs", "jpeg:quality=40|90,png", "--datasets", f"folder:{image_folder}", "-o", str(out),
                 "--report-dir", str(tmp_path / "reports"), "--no-cache"]) == 0
    meta, records = read_results(out)
    assert len(records) == 12 and sum(not r.ok for r in records) == 3
    assert meta["averaging"].startswith("arithmetic mean") and meta["cpu"]
    assert not Path(str(out) + ".journal").exists()
    (report,) = (tmp_path / "reports").glob("*.md")
    text = report.read_text()
    assert "3/4" in text and "## Lossless codecs" in text and "broken" in text  # the failure is listed
    assert main(["report", str(out)]) == 0
    assert "Averaging" in capsys.readouterr().out


def test_settings_apply_to_every_codec_that_has_them(image_folder, tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", "--codecs", "jpeg,webp", "--settings", "quality=20|70", "--datasets",
                 f"folder:{image_folder}", "--max-images", "1", "-o", str(out), "--no-cache"]) == 0
    assert sorted({(r.codec, r.setting) for r in read_records(out)}) == [
        ("jpeg", 20), ("jpeg", 70), ("webp", 20), ("webp", 70)]
    assert main(["run", "--codecs", "png", "--settings", "quality=20", "-o", str(out)]) == 2


def test_list_codecs_shows_sweeps(capsys):
    assert main(["list", "codecs"]) == 0
    assert "jpeg" in capsys.readouterr().out
