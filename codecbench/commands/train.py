"""``codecbench train``: train a learned codec's model from a folder of images."""

from __future__ import annotations

import argparse

from codecbench.training import add_train_arguments, train_command


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a learned codec's model (resumable) and write its checkpoint and model card",
        description="Train MODEL on random crops of the images under --data; writes the checkpoint to --out and "
        "a model card beside it. --resume continues a killed run exactly.",
    )
    add_train_arguments(p)
    p.set_defaults(func=train_command)
