"""Shared fixtures: a small folder of real-looking images and the real data root."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Keep the tests' results cache and verified-dataset markers out of ~/.cache (one folder per session)."""
    folder = tmp_path_factory.mktemp("codecbench-cache")
    previous = os.environ.get("CODECBENCH_CACHE")
    os.environ["CODECBENCH_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("CODECBENCH_CACHE", None)
    else:
        os.environ["CODECBENCH_CACHE"] = previous


def nested_pytest_env(**extra: str) -> dict[str, str]:
    """The environment for a pytest session started by a test: this one's, without the variables that tell a
    process it is an xdist worker (when the suite runs under ``-n``, pytest-benchmark would take the nested,
    serial session for a worker and refuse ``--benchmark-only``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_") and k != "PYTEST_CURRENT_TEST"}
    return {**env, **extra}


def shared_data_root() -> Path | None:
    """The real datasets: $CODECBENCH_DATA (relative to the repo) or ../shared/datasets beside the repo."""
    env = os.environ.get("CODECBENCH_DATA")
    candidates = [Path(env) if Path(env).is_absolute() else REPO / env] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    return next((c.resolve() for c in candidates if (c / "kodak").is_dir()), None)


@pytest.fixture
def data_root(monkeypatch) -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: set CODECBENCH_DATA to a folder holding kodak/, bsd300/, cifar10/")
    monkeypatch.setenv("CODECBENCH_DATA", str(root))
    return root


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A synthetic photo-like image: smooth gradients plus mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 17 + c) * np.cos(y / 23 - c) for c in range(3)], axis=2)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Three PNGs of different sizes and one file that is not an image."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (h, w) in enumerate([(64, 96), (80, 48), (33, 65)]):
        Image.fromarray(smooth_image(h, w, i)).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"this is not a png")
    return folder


def kodak_crops(root: Path, n: int = 3, side: int = 256) -> list[np.ndarray]:
    """Centre crops (side × side) of Kodak images 1, 8 and 19 (the first ``n``): real content, quick to code."""
    from codecbench.core.images import load_image

    out = []
    for i in (1, 8, 19)[:n]:
        im = load_image(root / "kodak" / f"kodim{i:02d}.png")
        h, w = im.shape[:2]
        out.append(np.ascontiguousarray(im[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]))
    return out


def bpp_psnr(codec, images) -> tuple[float, float]:
    """(mean bpp, mean PSNR in dB) of ``codec`` on ``images``, measured as every figure is (engine.measure)."""
    from codecbench.engine.measure import mean_measures

    means = mean_measures(codec, images, metrics=("psnr",))
    return means["bpp"], means["psnr"]
