"""Hostile inputs from the file system: odd names, FIFOs, unsafe pickles (issue 12, items 6, 8 and 11)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from codecbench import training


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
    assert training.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "state.pt refused" in err and len(err.splitlines()) == 1
