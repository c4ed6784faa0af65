"""Narrow the shipped checkpoints' float32 tensors to float16 in place (idempotent).

Run once when checkpoints from before float16 storage are brought in; training
writes float16 itself (``codecbench.codecs.learned.weights.make_checkpoint``).
Re-measure every narrowed model on Kodak afterwards (docs/training.md says how)
and keep a file narrowed only where its figures stayed within 0.02 dB and 0.5 % bpp.

    python bench/compact_checkpoints.py [FILE.pt ...]   # default: every shipped checkpoint
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from codecbench.codecs.learned.base import CHECKPOINT_DIR
from codecbench.codecs.learned.weights import load_checkpoint, save_atomic, stored_tensor


def compact(path: Path) -> tuple[int, int]:
    """Rewrite checkpoint ``path`` with its tensors as :func:`stored_tensor` stores them; (bytes before, after)."""
    before = path.stat().st_size
    ckpt = load_checkpoint(path)
    ckpt["state_dict"] = {k: stored_tensor(v) if isinstance(v, torch.Tensor) else v
                          for k, v in ckpt["state_dict"].items()}
    save_atomic(ckpt, path)
    return before, path.stat().st_size


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(CHECKPOINT_DIR.glob("*.pt"))
    total_before = total_after = 0
    for path in paths:
        before, after = compact(path)
        total_before, total_after = total_before + before, total_after + after
        print(f"{path.name}: {before / 2**20:.2f} MiB -> {after / 2**20:.2f} MiB")
    print(f"total: {total_before / 2**20:.1f} MiB -> {total_after / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
