"""Hostile inputs from the file system: odd names, FIFOs, unsafe pickles (issue 12, items 6, 8 and 11)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from codecbench.cli import main as cli_main


class _Payload:
    """An object only a full unpickler can rebuild (weights_only loading refuses it)."""


def test_resume_from_an_unsafe_state_is_a_one_line_checkpoint_error(tmp_path, capsys):
    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(data / f"{i}.png")
    work = tmp_path / "work"
    work.mkdir()
    (work / "state.pt").write_bytes(pickle.dumps({"model": "mlp-huffman", "evil": _Payload()}))
    argv = ["mlp-huffman", "--data", str(data), "--out", str(tmp_path / "toy.pt"), "--workdir", str(work), "--steps", "2",
            "--holdout", "1", "--no-progress", "--resume"]
    assert cli_main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "state.pt refused" in err and len(err.splitlines()) == 1


def _folder(root, names):
    root.mkdir()
    rng = np.random.default_rng(2)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(os.path.join(os.fsencode(root), os.fsencode(name)),
                                                                               format="PNG")
    return root


def _cli(*args, timeout=120):
    import subprocess
    import sys

    env = {**os.environ, "CODECBENCH_CACHE": os.environ.get("CODECBENCH_CACHE", "")}
    return subprocess.run([sys.executable, "-m", "codecbench", *args], capture_output=True, timeout=timeout,
                          env={k: v for k, v in env.items() if v})


def test_folder_sort_takes_only_ascii_digits_as_numbers(tmp_path):
    from codecbench.datasets.sources import folder_refs, natural_key

    root = _folder(tmp_path / "imgs", ["1²1.png", "img10.png", "img2.png"])
    assert [ref[0] for ref in folder_refs(root)] == ["1²1", "img2", "img10"]
    assert natural_key("a²3") < natural_key("a²10")


def test_a_fifo_in_a_folder_dataset_is_skipped_not_waited_on(tmp_path):
    from codecbench.datasets.sources import folder_refs
    from codecbench.core.errors import ImageError
    from codecbench.core.images import load_image, source_file

    root = _folder(tmp_path / "imgs", ["a.png"])
    os.mkfifo(root / "z.png")
    assert [ref[0] for ref in folder_refs(root)] == ["a"]
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(root / "z.png")  # returns at once: nothing writes to the FIFO
    assert source_file(root / "z.png") is None
    done = _cli("run", "jpeg:quality=50", "-d", f"folder:{root}", "-o", str(tmp_path / "r.json"), "--timeout", "20",
                "--no-cache", timeout=120)
    assert done.returncode == 0, done.stderr


def test_an_undecodable_file_name_reaches_the_report(tmp_path):
    root = _folder(tmp_path / "imgs", [b"caf\xe9.png"])
    results, out = tmp_path / "r.json", tmp_path / "reports"
    run = _cli("run", "jpeg:quality=50", "-d", f"folder:{root}", "-o", str(results), "--no-cache")
    assert run.returncode == 0, run.stderr
    done = _cli("report", str(results), "-o", str(out), "--no-plots", "--per-image", "5")
    assert done.returncode == 0, done.stderr
    [report] = out.glob("*.md")
    assert "caf\\udce9" in report.read_text(encoding="utf-8")
    assert not list(out.glob("*.tmp"))
