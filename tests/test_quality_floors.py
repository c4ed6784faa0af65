"""Absolute quality floors: every lossy learned codec, at its highest-rate point, must reach a PSNR on real photographs.

A codec whose decoder returned constant gray, or whose weights were never
trained, passes every round-trip and robustness test (shapes, dtypes,
errors); only an absolute figure catches it. The floor of each codec is its
own model card's measured Kodak PSNR at that point (the ``| `spec` | bpp |
PSNR |`` table; its held-out figure where the card has no Kodak row yet)
minus :data:`MARGIN`, measured here on four 256×256 Kodak
crops (mean of per-crop PSNR, as the card's figures are means over images).
The same module proves that the floor bites: the codec with randomly
re-initialised weights, and a constant-gray "decode", both score below it.

Every registered :class:`~codecbench.codecs.learned.base.TorchCodec` that is
not lossless is covered; one whose checkpoint is not shipped yet is skipped,
naming the missing file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from codecbench.core.codec import Codec, Spec, available_codecs, create_codec, format_value
from codecbench.codecs.learned.base import CheckpointError, TorchCodec
from codecbench.core.errors import CodecbenchError
from codecbench.core.images import load_image
from codecbench.core.metrics import psnr
from tests.codec_cases import sweep_points
from tests.conftest import bpp_psnr, shared_data_root

#: dB below the card's Kodak mean: four crops differ from 24 whole images by up to ~2.5 dB (measured spread
#: of the shipped codecs: see test_floor_is_met), and a real regression of a few dB must still fail
MARGIN = 4.0
#: no floor may sit this close to what a constant-gray decode scores on the crops (~12–15 dB)
GRAY_GAP = 5.0
CROPS = (("kodim01.png", 120, 200), ("kodim05.png", 100, 300), ("kodim14.png", 200, 250), ("kodim23.png", 150, 280))
SIDE = 256

LOSSY_LEARNED = sorted(n for n, c in available_codecs().items() if issubclass(c, TorchCodec) and not c.lossless)


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: set CODECBENCH_DATA to a folder holding kodak/")
    return [np.ascontiguousarray(load_image(root / "kodak" / name)[y : y + SIDE, x : x + SIDE])
            for name, y, x in CROPS]


def highest_rate(name: str, images: list[np.ndarray]) -> tuple[Codec, float, float]:
    """The codec at whichever end of its sweep codes a 64×64 corner of the first crop with more bits; its mean
    PSNR and bpp over ``images`` there."""
    built = []
    for spec in sweep_points(available_codecs()[name]):
        try:
            codec = create_codec(spec, threads=1)
        except CheckpointError as exc:
            if "missing" not in str(exc):
                raise
            pytest.skip(f"{name}: no shipped checkpoint yet ({exc})")
        built.append((len(codec.encode(np.ascontiguousarray(images[0][:64, :64]))), codec))
    codec = max(built, key=lambda b: b[0])[1]
    rate, score = bpp_psnr(codec, images)
    return codec, score, rate


def card_psnr(codec: TorchCodec) -> float:
    """The PSNR (dB) the codec's model card measured at the codec's spec: its Kodak table's row for the spec,
    else its held-out figure (``psnr``, or ``psnr@knob=value`` / ``psnr (knob=value)`` for the codec's knob)."""
    card = Path(codec.checkpoint_file).with_suffix(".md")
    assert card.is_file(), f"{codec.name}: no model card {card} beside the checkpoint"
    text = card.read_text()
    for spec, psnr_db in re.findall(r"^\| `([^`]+)` \| [0-9.]+ \| ([0-9.]+) \|", text, re.MULTILINE):
        if Spec.parse(spec).canonical() == codec.spec:
            return float(psnr_db)
    point = f"{codec.param}={format_value(codec.setting)}" if codec.param else ""
    for label, psnr_db in re.findall(r"^\| psnr(?:@| \()?([^|)]*)\)? \| ([0-9.]+) \|", text, re.MULTILINE):
        if label.strip() in ("", point):
            return float(psnr_db)
    raise AssertionError(f"{card.name} lists no PSNR for `{codec.spec}` (Kodak table or held-out figures)")


def randomly_initialised(codec: TorchCodec) -> TorchCodec:
    """The same codec with every layer's parameters re-initialised (seeded); buffers such as frozen entropy
    tables kept, so that the coder still runs."""
    torch.manual_seed(0)
    for module in codec.model.modules():
        if hasattr(module, "reset_parameters") and module is not codec.model:
            module.reset_parameters()
    return codec


@pytest.mark.parametrize("name", LOSSY_LEARNED)
def test_floor_is_met_and_bites(name, crops):
    codec, score, rate = highest_rate(name, crops)
    floor = card_psnr(codec) - MARGIN
    gray = float(np.mean([psnr(image, np.full_like(image, 128)) for image in crops]))
    assert floor > gray + GRAY_GAP, f"{codec.spec}: floor {floor:.2f} dB too close to constant gray ({gray:.2f} dB)"
    assert score >= floor, f"{codec.spec}: {score:.2f} dB at {rate:.3f} bpp on 4 Kodak crops, floor {floor:.2f} dB"

    random = randomly_initialised(codec)
    try:  # one crop: untrained weights miss the floor by far more than crops differ
        _, random_score = bpp_psnr(random, crops[:1])
    except CodecbenchError:  # untrained weights that cannot even code the crops fail as well
        return
    assert random_score < floor, f"{codec.spec}: random-init weights score {random_score:.2f} dB, floor {floor:.2f}"


def test_every_lossy_learned_codec_is_covered():
    assert "cnn-ae" in LOSSY_LEARNED and "mlp-ans" not in LOSSY_LEARNED
