"""The image pairs on which the IQA metrics are compared with piq (numpy only, so that the script that computes
piq's values, piq_values.py, and the tests make the same pairs)."""

from __future__ import annotations

import numpy as np


def photo(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth colour gradients, an edge, mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 17 + c) * np.cos(y / 23 - c) for c in range(3)], axis=2)
    base[h // 3: 2 * h // 3, w // 4: w // 2] += 40
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def distort(image: np.ndarray, kind: str, seed: int = 1) -> np.ndarray:
    """``noise`` (σ = 8), ``quantise`` (16 levels), ``blur`` (3×3 box, edges repeated) or ``contrast`` (×1.2)."""
    f = image.astype(np.float64)
    if kind == "noise":
        f = f + np.random.default_rng(seed).normal(0, 8, f.shape)
    elif kind == "quantise":
        f = (image // 16) * 16 + 8.0
    elif kind == "blur":
        p = np.pad(f, ((1, 1), (1, 1), (0, 0)), mode="edge")
        f = sum(p[i: i + f.shape[0], j: j + f.shape[1]] for i in range(3) for j in range(3)) / 9
    elif kind == "contrast":
        f = 128 + 1.2 * (f - 128)
    return np.clip(np.round(f), 0, 255).astype(np.uint8)


#: (height, width, seed, distortion): sizes with FSIM's block averaging F = 1 and F = 2, an odd side
CASES = [(96, 128, 0, "noise"), (96, 128, 0, "quantise"), (121, 97, 1, "blur"), (96, 128, 2, "contrast"),
         (400, 520, 3, "noise"), (400, 520, 3, "blur"), (170, 203, 4, "quantise")]


def pair(case: tuple[int, int, int, str], gray: bool = False) -> tuple[np.ndarray, np.ndarray]:
    h, w, seed, kind = case
    original = photo(h, w, seed)
    decoded = distort(original, kind, seed)
    return (original[..., 1:2], decoded[..., 1:2]) if gray else (original, decoded)


#: the distortions of the Kodak crop that the metrics ported from other tools are also checked on
KODAK_KINDS = ("noise", "quantise", "blur")


def kodak_pair(kodak_dir, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The 256×256 centre crop of Kodak's kodim01 (as tests/conftest.py's ``kodak_crops``) and its distortion."""
    from PIL import Image

    image = np.asarray(Image.open(f"{kodak_dir}/kodim01.png").convert("RGB"))
    h, w = image.shape[:2]
    crop = np.ascontiguousarray(image[(h - 256) // 2: (h + 256) // 2, (w - 256) // 2: (w + 256) // 2])
    return crop, distort(crop, kind)
