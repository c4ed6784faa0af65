"""Fit block-pca's transform and write its checkpoint and model card into the package (a maintainer's script).

    python fit_block_pca.py            # needs Kodak in $CODECBENCH_DATA for the card's figures

The transform is the principal components of the 4×4 RGB blocks of the
embedded photographs (shipped with scikit-image): a closed-form fit, the best
linear 4×4-block autoencoder for those images in the least-squares sense. The card's
figures are measured on Kodak with codecbench's own measure (real
bitstreams, container included, mean over the 24 images).
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np
import torch

import codecbench
from codecbench.codecs.learned.base import make_checkpoint, save_atomic
from codecbench.datasets import get_dataset
from codecbench.engine.measure import mean_measures

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))  # the package being built, whether or not it is installed
from codecbench_example.block_pca import BLOCK, BlockPca, BlockPcaNet  # noqa: E402

CHECKPOINT = HERE / "src" / "codecbench_example" / "checkpoints" / "block-pca.pt"


def blocks(image: np.ndarray) -> np.ndarray:
    """The image's whole 4×4 blocks as rows of 48 samples, in the (channel, y, x) order of a conv weight."""
    h, w = (s - s % BLOCK for s in image.shape[:2])
    x = image[:h, :w].astype(np.float64).reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3)
    return x.transpose(0, 2, 4, 1, 3).reshape(-1, 3 * BLOCK * BLOCK)


def fit() -> tuple[dict, int]:
    """The fitted network's state dict and the number of blocks it was fitted on."""
    samples = np.concatenate([blocks(item.load()) for item in get_dataset("embedded")])
    mean = samples.reshape(len(samples), 3, -1).mean(axis=(0, 2))  # one mean per channel
    centred = samples - np.repeat(mean, BLOCK * BLOCK)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    basis = vectors[:, np.argsort(values)[::-1]].T  # rows: components, largest variance first
    net = BlockPcaNet()
    weight = torch.tensor(basis.reshape(-1, 3, BLOCK, BLOCK), dtype=torch.float32)
    with torch.no_grad():
        net.analysis.weight.copy_(weight)
        net.analysis.bias.copy_(torch.tensor(-basis @ np.repeat(mean, BLOCK * BLOCK), dtype=torch.float32))
        net.synthesis.weight.copy_(weight)
        net.synthesis.bias.copy_(torch.tensor(mean, dtype=torch.float32))
    return net.state_dict(), len(samples)


def card(rows: list[tuple[str, dict]], n_blocks: int) -> str:
    table = "\n".join(f"| `{spec}` | {m['bpp']:.4f} | {m['psnr']:.2f} | {m['ssim']:.4f} |" for spec, m in rows)
    return f"""# Model card: `block-pca`

Checkpoint `block-pca.pt` ({CHECKPOINT.stat().st_size / 1024:.1f} KiB), read by codec `block-pca` (package
`codecbench_example`) with `torch.load(weights_only=True)`.

## Architecture

Analysis: conv 4×4 stride 4 (3 → 48); synthesis: transposed conv 4×4 stride 4 (48 → 3). The
coefficients are quantized with a uniform step (the `step` knob) and Deflate-coded.

## Fitting

Principal components of {n_blocks} 4×4 RGB blocks of the 6 embedded photographs (scikit-image's);
closed form, `python fit_block_pca.py` (codecbench {codecbench.__version__}, torch {torch.__version__},
Python {platform.python_version()}).

## Measured on Kodak

24 images, real bitstreams (container included), means over images, codecbench's measure.

| spec | bpp | PSNR (dB) | SSIM |
| --- | ---: | ---: | ---: |
{table}
"""


def main() -> None:
    state, n_blocks = fit()
    save_atomic(make_checkpoint("block-pca", {"block": BLOCK, "channels": 3}, state,
                                {"fitted_on": "embedded", "blocks": n_blocks}), CHECKPOINT)
    kodak = [item.load() for item in get_dataset("kodak")]
    rows = []
    for step in BlockPca.sweep:
        codec = BlockPca(step=step, checkpoint=CHECKPOINT, threads=1)
        rows.append((codec.spec, mean_measures(codec, kodak, metrics=("psnr", "ssim"))))
        print(rows[-1][0], f"{rows[-1][1]['bpp']:.3f} bpp", f"{rows[-1][1]['psnr']:.2f} dB")
    CHECKPOINT.with_suffix(".md").write_text(card(rows, n_blocks), encoding="utf-8")


if __name__ == "__main__":
    main()
