"""Absolute quality floors: every lossy learned codec, at its highest-rate point, must reach its model card's PSNR.

The test is the codec author's kit (:mod:`codecbench.testing.test_quality_floor`;
the rule in :mod:`codecbench.testing.quality`): the card's measured Kodak PSNR
minus 4 dB on four 256×256 Kodak crops, a floor that clears constant gray by
5 dB and that random-init weights miss. Here the crops come from the
repository's data folder, and every shipped checkpoint must have its card.
"""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.codecs.learned.base import CHECKPOINT_DIR
from codecbench.testing import quality
from codecbench.testing.test_quality_floor import *  # noqa: F401,F403  (the kit's floor test)
from tests.conftest import shared_data_root


@pytest.fixture(scope="module")
def floor_images() -> list[np.ndarray]:
    """The kit's crops, from the data folder this repository's tests use (also found beside the repository)."""
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: set CODECBENCH_DATA to a folder holding kodak/")
    return quality.floor_images(root)


def test_every_lossy_learned_codec_is_covered():
    covered = quality.lossy_learned()
    assert "cnn-ae" in covered and "mlp-ans" not in covered


def test_every_shipped_checkpoint_has_a_model_card():
    """The floor reads the card beside the checkpoint; in this repository none may be missing."""
    missing = sorted(p.name for p in CHECKPOINT_DIR.glob("*.pt") if not p.with_suffix(".md").is_file())
    assert not missing, f"checkpoints without a model card: {missing}"
