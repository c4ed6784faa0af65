"""Killed runs: SIGKILL ``codecbench run`` at random points, re-run the same command, get exactly the records
of an uninterrupted run; results-cache writes survive kills too."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.engine.cache import ResultsCache
from codecbench.core.results import journal_path, read_records

N_IMAGES = 24
SPECS = ["jpeg:quality=30|70", "png"]


def smooth(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 11 + c + seed) * np.cos(y / 13 - c) for c in range(3)], axis=2)
    return np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kill-images")
    for i in range(N_IMAGES):
        Image.fromarray(smooth(96, 128, i)).save(root / f"img{i:02d}.png")
    return root


def command(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "codecbench", "run", *SPECS, "-d", f"folder:{folder}", "-o", str(out), "--no-cache",
            "--warmup", "0"]


def progress(out: Path) -> int:
    """Records written so far: in the JSON file plus in its journal (a record may briefly be in both)."""
    n = 0
    try:
        n += len(json.loads(out.read_text())["records"])
    except (FileNotFoundError, ValueError, KeyError):
        pass
    try:
        n += journal_path(out).read_bytes().count(b"\n")
    except FileNotFoundError:
        pass
    return n


def kill_at_random_point(cmd: list[str], out: Path, rng: random.Random, cwd: Path) -> str:
    """Start the run; SIGKILL it during start-up, or after a random number of new records plus a random delay."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 2.0))  # during start-up or the first records
            where = "early"
        else:
            start = progress(out)
            target = start + rng.randint(1, 12)
            deadline = time.monotonic() + 300
            while progress(out) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.05))  # anywhere in the next record: encoding, metrics, writing
            where = f"at {progress(out)} records" if proc.poll() is None else "after it had finished"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return where


def _measured(records):
    """What must be identical: sizes and the float64 metrics (SSIM is float32, compared to 1e-5 separately)."""
    return {r.key: (r.bytes, r.bpp, r.psnr, r.psnr_y, r.lossless_ok) for r in records}


def test_sigkill_at_random_points_then_rerun_gives_the_uninterrupted_records(folder, tmp_path):
    reference = tmp_path / "reference.json"
    done = subprocess.run(command(folder, reference), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    expected = read_records(reference)
    assert len(expected) == N_IMAGES * 3 and all(r.ok for r in expected)

    out = tmp_path / "killed.json"
    rng = random.Random(int(os.environ.get("CODECBENCH_KILL_SEED", "6")))
    kills = []
    for _ in range(4):
        kills.append(kill_at_random_point(command(folder, out), out, rng, tmp_path))
        if out.exists():  # whatever a kill left, the file is always complete JSON (replaced atomically)
            json.loads(out.read_text())
    assert sum(k.startswith("at ") for k in kills) >= 2, kills  # most kills land mid-run
    final = subprocess.run(command(folder, out), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr

    text = out.read_text()
    raw = json.loads(text)["records"]  # the file parses as a whole
    keys = [(r["spec"], r["dataset"], r["image"], r["device"]) for r in raw]
    assert len(keys) == len(set(keys)), "duplicated records"
    assert set(keys) == {r.key for r in expected}, f"lost or invented records (kills: {kills})"
    assert not journal_path(out).exists()
    assert not list(tmp_path.glob(".killed.json.*.tmp")), "temporary files left behind"
    got = read_records(out)
    assert _measured(got) == _measured(expected)
    ssim = {r.key: r.ssim for r in expected}
    assert all(r.ssim == pytest.approx(ssim[r.key], rel=1e-5) for r in got)


def _writer_script(path: Path) -> str:
    return f"""
import numpy as np
from codecbench import create_codec
from codecbench.engine.cache import ResultsCache
codec = create_codec("png")
cache = ResultsCache({str(path)!r})
i = 0
while True:
    image = np.full((4, 4, 3), i % 256, np.uint8); image[0, 0, 0] = i // 256
    cache.put(codec, image, "cpu", {{"bytes": i, "bpp": i / 16, "psnr": None, "note": "x" * (i % 500)}})
    i += 1
    print(i, flush=True)
"""


def test_results_cache_survives_sigkill_mid_write(tmp_path):
    path = tmp_path / "cache.sqlite"
    rng = random.Random(3)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _writer_script(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(rng.randint(20, 200)):
            proc.stdout.readline()
        time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    from codecbench import create_codec

    codec = create_codec("png")
    cache = ResultsCache(path)
    n = len(cache)
    assert n >= 20
    for i in range(n):  # every entry written is complete and reads back as written
        image = np.full((4, 4, 3), i % 256, np.uint8)
        image[0, 0, 0] = i // 256
        got = cache.get(codec, image, "cpu")
        assert got == {"bytes": i, "bpp": i / 16, "psnr": None, "note": "x" * (i % 500)}, i
    cache.close()


def test_a_killed_writers_temporary_file_is_removed(tmp_path):
    """A kill during the atomic rewrite leaves ``.<name>.<pid>.tmp``; the next run removes it (never reads it)."""
    from codecbench.engine.store import ResultsStore

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    (tmp_path / f".r.json.{dead}.tmp").write_text('{"meta": {}, "records": [{"spec": "half a re')
    store = ResultsStore(tmp_path / "r.json")
    assert store.records == [] and not list(tmp_path.glob(".r.json.*.tmp"))
