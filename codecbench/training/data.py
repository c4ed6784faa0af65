"""Training data: random flipped crops from a folder of images, with a fixed held-out part."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from codecbench.core.errors import DatasetError
from codecbench.core.images import is_image_file, load_image



class ImageFolder:
    """Images of a folder (recursively), split into training and held-out by a fixed name hash."""

    def __init__(self, root: str | os.PathLike, holdout: int = 0, *, gray: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"training data folder {self.root} does not exist")
        files = sorted(p for p in self.root.rglob("*") if p.is_file() and is_image_file(p))
        if len(files) <= holdout:
            raise DatasetError(f"{self.root}: {len(files)} images, need more than the {holdout} held out")
        rank = sorted(files, key=lambda p: hashlib.sha256(str(p.relative_to(self.root)).encode()).hexdigest())
        held = set(rank[:holdout])
        self.train_files = [p for p in files if p not in held]
        self.heldout_files = [p for p in files if p in held]
        self.gray = gray
        self._cache: dict[Path, np.ndarray] = {}

    def image(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = load_image(path, gray=self.gray)
        return self._cache[path]

    def heldout(self) -> list[np.ndarray]:
        return [self.image(p) for p in self.heldout_files]

    def batch(self, rng: np.random.Generator, batch: int, patch: int) -> torch.Tensor:
        """uint8 B×C×P×P: random images, random crops (edge-padded if smaller), random h-flips."""
        out = []
        for i in rng.integers(0, len(self.train_files), size=batch):
            img = self.image(self.train_files[int(i)])
            h, w = img.shape[:2]
            if h < patch or w < patch:
                img = np.pad(img, ((0, max(0, patch - h)), (0, max(0, patch - w)), (0, 0)), mode="edge")
                h, w = img.shape[:2]
            y = int(rng.integers(0, h - patch + 1))
            x = int(rng.integers(0, w - patch + 1))
            crop = img[y : y + patch, x : x + patch]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            out.append(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        return torch.from_numpy(np.stack(out))


def load_folder_images(root: str | os.PathLike, *, gray: bool = False, limit: int | None = None) -> list[np.ndarray]:
    files = sorted(p for p in Path(root).rglob("*") if p.is_file() and is_image_file(p))[:limit]
    if not files:
        raise DatasetError(f"no images in {root}")
    return [load_image(p, gray=gray) for p in files]

