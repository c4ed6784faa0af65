"""Training of learned codecs' models: ``codecbench train MODEL --data DIR --out CKPT``.

A trainable model is a :class:`Trainable` subclass registered with ``@register_trainable``
beside its codec; :func:`train` runs the seeded, resumable loop and writes the checkpoint
and its model card. The loop, its options and the Trainable interface: docs/training.md.
"""

from codecbench.training.card import ModelCard, card_path, format_figure, machine_description
from codecbench.training.data import ImageFolder, load_folder_images
from codecbench.training.loop import TrainConfig, train
from codecbench.training.trainable import (
    TRAINABLES,
    Trainable,
    available_trainables,
    evaluate_codec,
    get_trainable,
    register_trainable,
)

__all__ = [
    "ImageFolder", "ModelCard", "TRAINABLES", "TrainConfig", "Trainable", "available_trainables", "card_path",
    "evaluate_codec", "format_figure", "get_trainable", "load_folder_images", "machine_description",
    "register_trainable", "train",
]
