"""Absolute quality floors: a lossy learned codec, at its highest-rate point, must reach a PSNR on real photographs.

A decoder returning constant gray, or weights never trained, passes every round-trip check; only an
absolute figure catches it. A codec's floor is its model card's measured Kodak PSNR at that point
(the card's ``| `spec` | bpp | PSNR |`` table; its held-out ``psnr`` where the card has no Kodak row)
minus :data:`MARGIN`, measured as the mean PSNR of four 256×256 Kodak crops. The floor must bite:
it clears constant gray by :data:`GRAY_GAP`, and the codec with re-initialised weights scores below
it. The card is the ``.md`` file beside the checkpoint; a codec without a card has no floor.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codecbench.core.codec import Codec, Spec, available_codecs, create_codec, format_value
from codecbench.core.errors import CodecbenchError
from codecbench.core.metrics import psnr
from codecbench.datasets import get_dataset
from codecbench.engine.measure import mean_measures
from codecbench.testing.cases import contract_points, is_learned
from codecbench.testing.contract import ContractFailure

#: dB below the card's Kodak mean: four crops differ from 24 whole images by up to ~2.5 dB (measured spread of
#: the shipped codecs), and a real regression of a few dB must still fail
MARGIN = 4.0
#: no floor may sit this close to what a constant-gray decode scores on the crops (~12–15 dB)
GRAY_GAP = 5.0
#: the Kodak crops (image id, top row, left column)
CROPS = (("kodim01", 120, 200), ("kodim05", 100, 300), ("kodim14", 200, 250), ("kodim23", 150, 280))
SIDE = 256


def has_floor(cls: type[Codec]) -> bool:
    """Whether the quality floor applies: a lossy learned codec."""
    return is_learned(cls) and not cls.lossless


def floor_images(root: str | os.PathLike | None = None) -> list[np.ndarray]:
    """The four :data:`CROPS` of Kodak from the data root (``root``, else ``$CODECBENCH_DATA`` or ``./datasets``).
    DatasetError (with how to get Kodak) where it is not there."""
    images = {item.id: item for item in get_dataset("kodak", root=root)}
    return [np.ascontiguousarray(images[name].load()[y : y + SIDE, x : x + SIDE]) for name, y, x in CROPS]


def model_card(codec: Any) -> Path | None:
    """The model card beside the codec's checkpoint (``x.pt`` → ``x.md``), or None."""
    checkpoint = getattr(codec, "checkpoint_file", None)
    card = Path(checkpoint).with_suffix(".md") if checkpoint is not None else None
    return card if card is not None and card.is_file() else None


def card_psnr(codec: Codec, card: Path) -> float:
    """The PSNR (dB) the model card measured at the codec's spec: its Kodak table's row for the spec, else its
    held-out figure (``psnr``, or ``psnr@knob=value`` / ``psnr (knob=value)`` for the codec's knob).
    ContractFailure where the card lists neither."""
    text = card.read_text(encoding="utf-8")
    for spec, psnr_db in re.findall(r"^\| `([^`]+)` \| [0-9.]+ \| ([0-9.]+) \|", text, re.MULTILINE):
        if Spec.parse(spec).canonical() == codec.spec:
            return float(psnr_db)
    point = f"{codec.param}={format_value(codec.setting)}" if codec.param else ""
    for label, psnr_db in re.findall(r"^\| psnr(?:@| \()?([^|)]*)\)? \| ([0-9.]+) \|", text, re.MULTILINE):
        if label.strip() in ("", point):
            return float(psnr_db)
    raise ContractFailure(f"{card.name} lists no PSNR for `{codec.spec}` (Kodak table or held-out figures)")


def highest_rate(name: str, images: list[np.ndarray]) -> Codec:
    """The codec at whichever end of its sweep codes a 64×64 corner of the first image with more bits."""
    built = []
    for spec in contract_points(name):
        codec = create_codec(spec, threads=1)
        built.append((len(codec.encode(np.ascontiguousarray(images[0][:64, :64]))), codec))
    return max(built, key=lambda b: b[0])[1]


def mean_psnr(codec: Codec, images: list[np.ndarray]) -> tuple[float, float]:
    """(mean bpp, mean PSNR in dB) of ``codec`` on ``images``, measured as every figure is (engine.measure)."""
    means = mean_measures(codec, images, metrics=("psnr",))
    return means["bpp"], means["psnr"]


def randomly_initialised(codec: Codec) -> Codec:
    """The same codec with every layer's parameters re-initialised (seeded); buffers such as frozen entropy
    tables kept, so that the coder still runs."""
    import torch

    torch.manual_seed(0)
    model = codec.model  # type: ignore[attr-defined]
    for module in model.modules():
        if hasattr(module, "reset_parameters") and module is not model:
            module.reset_parameters()
    return codec


def check_quality_floor(name: str, images: list[np.ndarray]) -> str:
    """Check the floor of the lossy learned codec ``name`` (a name or a spec) on ``images``
    (:func:`floor_images`); return a one-line summary. ContractFailure if the floor is missed or does not
    bite; skipped (``pytest.skip``) where the codec's checkpoint is not shipped or has no model card."""
    try:
        codec = highest_rate(name, images)
    except CodecbenchError as exc:
        if "missing" not in str(exc):
            raise
        pytest.skip(f"{name}: no shipped checkpoint yet ({exc})")
    card = model_card(codec)
    if card is None:
        pytest.skip(f"{codec.spec}: no model card beside {getattr(codec, 'checkpoint_file', None)}: no floor")
    rate, score = mean_psnr(codec, images)
    floor = card_psnr(codec, card) - MARGIN
    gray = float(np.mean([psnr(image, np.full_like(image, 128)) for image in images]))
    if floor <= gray + GRAY_GAP:
        raise ContractFailure(f"{codec.spec}: floor {floor:.2f} dB too close to constant gray ({gray:.2f} dB)")
    if score < floor:
        raise ContractFailure(f"{codec.spec}: {score:.2f} dB at {rate:.3f} bpp on {len(images)} Kodak crops, "
                              f"floor {floor:.2f} dB ({card.name} minus {MARGIN} dB)")
    try:  # one crop: untrained weights miss the floor by far more than crops differ
        _, random_score = mean_psnr(randomly_initialised(codec), images[:1])
    except CodecbenchError:  # untrained weights that cannot even code the crops fail as well
        random_score = float("-inf")
    if random_score >= floor:
        raise ContractFailure(f"{codec.spec}: random-init weights score {random_score:.2f} dB, floor {floor:.2f} dB")
    return f"{codec.spec}: {score:.2f} dB at {rate:.3f} bpp, floor {floor:.2f} dB ({card.name})"


def lossy_learned(names: list[str] | None = None) -> list[str]:
    """The codecs among ``names`` (default: every registered one) that have a quality floor."""
    codecs = available_codecs()
    return sorted(n for n in (names if names is not None else codecs) if has_floor(codecs[n]))
