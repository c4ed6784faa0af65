"""The quality floor as pytest tests: each selected lossy learned codec that has a model card.

Run it with the contract (``pytest --pyargs codecbench.testing --codecs
mycodec``), or import it into a plug-in's tests (``from
codecbench.testing.test_quality_floor import *`` with ``CONTRACT_CODECS``).
The Kodak crops come from the data folder (``$CODECBENCH_DATA``; ``codecbench
datasets fetch kodak``); without them the tests are skipped, saying so. See
:mod:`codecbench.testing.quality` for the floor's rule.
"""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.core.errors import DatasetError
from codecbench.testing import quality
from codecbench.testing.suite import pytest_generate_tests

__all__ = ["pytest_generate_tests", "floor_images", "test_floor_is_met_and_bites"]


@pytest.fixture(scope="module")
def floor_images() -> list[np.ndarray]:
    """The Kodak crops the floors are measured on (skipped, saying how to get Kodak, where it is absent)."""
    try:
        return quality.floor_images()
    except DatasetError as exc:
        pytest.skip(f"Kodak is not available for the quality floor: {exc}")


def test_floor_is_met_and_bites(floor_codec, floor_images):
    quality.check_quality_floor(floor_codec, floor_images)
