"""Training entry point of learned codecs: ``codecbench train MODEL --data DIR --out CKPT``.

Each trainable model is a :class:`Trainable` subclass with a ``name``
(registered with ``@register_trainable``, as codecs with ``@register_codec``)
that lives in its codec's module and provides

``build()``                       the torch module to train (fresh weights)
``loss(model, batch)``            (loss tensor, {part: float}) for a uint8 B×3×P×P batch
``export(model, meta)``           the shipped checkpoint dict (see ``base.make_checkpoint``)
``evaluate(ckpt_path, images)``   held-out figures {metric: float} for a list of uint8 images,
                                  usually by running the real codec on the exported checkpoint
``describe(model)``               the architecture, one paragraph of markdown, for the model card

and may set ``defaults`` (steps, batch, patch, lr), ``options`` (model
options as :class:`~codecbench.core.codec.Setting`, given on the command line as
``--opt key=value``), ``codec`` (the codec name using the checkpoint) and
override ``configure_optimizer`` / ``lr_at``.

The loop (:func:`train`): random crops of ``--patch`` pixels with random
horizontal flips from the images of ``--data`` (recursively; ``--holdout N``
of them, picked by a fixed hash of their names, are never trained on and give
the held-out figures), a fixed ``--seed``, Adam, a log line every
``--log-every`` steps (loss and its parts, lr, speed) to ``WORKDIR/train.log``
and a rich progress bar, and an atomic resumable state (model, optimizer,
step, numpy and torch RNG states, accumulated wall time) in
``WORKDIR/state.pt`` every ``--save-every`` steps; ``--resume`` continues from
it exactly. At the end the exported checkpoint is written atomically to
``--out`` and a model card (markdown) beside it (``CKPT`` with ``.md``):
architecture, parameter count, training data, the exact command, steps, wall
time, machine, and the held-out figures (plus ``--eval-dir`` figures, e.g. on
Kodak, when given).

For the CLI (``codecbench train``, :mod:`codecbench.cli.train`): :func:`train_command`.
"""

from codecbench.training.card import ModelCard, card_path, machine_description
from codecbench.training.data import ImageFolder, load_folder_images
from codecbench.training.loop import TrainConfig, config_from_args, train, train_command
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
    "config_from_args", "evaluate_codec", "get_trainable", "load_folder_images", "machine_description",
    "register_trainable", "train", "train_command",
]
