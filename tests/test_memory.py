"""Memory and load: datasets are streamed, so a run's peak memory does not grow with the number of images.

Each measurement runs in a fresh subprocess (Linux /proc): the resident set
after imports and the first images, then the peak (VmHWM) over the rest of
the run. The full-size figures (CIFAR-10's 10,000 images, three 6000×4000
PNGs) are in docs/campaigns.md with the commands that measured them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_data_root

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")

SCRIPT = textwrap.dedent('''
    import json, sys
    from codecbench.engine.store import ResultsStore
    from codecbench.engine.runner import Runner, Timing

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    spec, dataset, out, warm_n, max_images = sys.argv[1:6]
    runner = Runner([spec], threads=1, timing=Timing(warmup=1), store=ResultsStore(out))
    figures = {"baseline": status("VmRSS")}
    peaks = []
    for i, record in enumerate(runner.run_dataset(dataset, max_images=int(max_images))):
        assert record.ok, record.error
        if i + 1 == int(warm_n):
            figures["warm"] = status("VmRSS")
            figures["warm_peak"] = status("VmHWM")
            reset_peak()
        peaks.append(status("VmHWM"))
    figures["peak"] = status("VmHWM")
    figures["n"] = len(peaks)
    figures["peaks"] = peaks
    print(json.dumps(figures))
''')


def measure(tmp_path: Path, spec: str, dataset: str, warm_n: int, max_images: int, env: dict | None = None) -> dict:
    import os

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, spec, dataset, str(tmp_path / "r.json"), str(warm_n), str(max_images)],
        capture_output=True, text=True, timeout=1200, env={**os.environ, **(env or {})}, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


MB = 1 << 20


def test_cifar10_500_images_stream_in_bounded_memory(tmp_path):
    root = shared_data_root()
    if root is None or not (root / "cifar10").is_dir():
        pytest.skip("CIFAR-10 not found: set CODECBENCH_DATA to the shared datasets")
    figures = measure(tmp_path, "jpeg:quality=75", "cifar10", 50, 500, env={"CODECBENCH_DATA": str(root)})
    assert figures["n"] == 500
    growth = figures["peak"] - figures["warm"]
    # 450 more images (records kept for the report: ~1 kB each) may not cost more than a few MB
    assert growth < 24 * MB, f"peak RSS grew by {growth / MB:.1f} MB over 450 images ({figures})"


def test_large_images_stream_in_bounded_memory(tmp_path):
    folder = tmp_path / "large"
    folder.mkdir()
    h, w = 800, 1200
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(6):
        base = 128 + 90 * np.sin(x / (150 + 20 * i)) * np.cos(y / 210)
        img = np.clip(base[..., None] + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png", compress_level=1)
    one = h * w * 3
    figures = measure(tmp_path, "png", f"folder:{folder}", 1, 6)
    peaks = figures["peaks"]  # peak RSS after each image (reset after the first)
    growth = figures["peak"] - figures["baseline"]
    # bounded by a multiple of one image: the SSIM/MS-SSIM filter maps (float32, one channel at a time) dominate
    assert growth < 100 * one, f"one {w}×{h} image costs {growth / MB:.0f} MB ({figures})"
    # streaming itself is checked exactly by test_decoded_images_are_released (RSS peaks move by tens of MB
    # with allocator arenas on a loaded machine, more than a few 2.9 MB images would add)
    assert len(peaks) == 6


def test_decoded_images_are_released_before_the_next_one_is_loaded(tmp_path, monkeypatch):
    """The runner holds one decoded image at a time: each is garbage once its records are made."""
    import gc
    import weakref

    from codecbench.datasets import sources
    from codecbench.engine.runner import Runner, Timing

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(np.full((24, 32, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    alive: list[weakref.ref] = []
    real_load = sources.load_image

    def tracked_load(*args, **kwargs):
        gc.collect()
        # every image loaded before this one must be gone by now
        assert all(ref() is None for ref in alive), f"{sum(r() is not None for r in alive)} earlier images still held"
        image = real_load(*args, **kwargs)
        alive.append(weakref.ref(image))
        return image

    monkeypatch.setattr(sources, "load_image", tracked_load)
    records = list(Runner(["png", "jpeg:quality=50"], timing=Timing(warmup=0)).run_dataset(f"folder:{folder}"))
    assert len(alive) == 5
    assert len(records) == 10
    assert all(r.ok for r in records)
