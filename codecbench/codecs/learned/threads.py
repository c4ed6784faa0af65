"""Torch's thread count in the learned codecs: the configured ``threads`` only for work big enough to split.

A learned codec's ``threads`` setting (``--threads``) is torch's intra-op
thread count for its network passes over whole images or tiles
(:meth:`codecbench.codecs.learned.base.TorchCodec._set_threads`). Sequential
work runs under :func:`single_thread`, whatever ``threads`` says: a decode
loop of thousands of small steps (mlp's wavefronts, one small batch of
pixels each) is slower split, and with another busy process on the machine
each of those thousands of parallel regions waits for a thread the OS has
not scheduled (``mlp-huffman`` decoded a Kodak image in 25 s with 2 threads
under load, 0.8 s with 1). So do passes whose results must not depend on the
thread count (``hyperprior``'s scale indexes).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with torch on one intra-op thread, restoring the previous count after (errors included)."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)
