"""``codecbench train``: train a learned codec's model from a folder of images."""

from __future__ import annotations

import argparse



def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a learned codec's model (resumable) and write its checkpoint and model card",
        description="Train MODEL on random crops of the images under --data; writes the checkpoint to --out and "
        "a model card beside it. --resume continues a killed run exactly.",
    )
    add_train_arguments(p)
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from codecbench.training import train_command  # torch and the models: only when training

    return train_command(args, args.argv)


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``train`` arguments to ``parser`` (used by ``codecbench train``)."""
    parser.add_argument("model", help="trainable model name (see --list)", nargs="?")
    parser.add_argument("--list", action="store_true", help="list the trainable models and exit")
    parser.add_argument("--data", help="folder of training images (searched recursively), never a test set; required unless --list")
    parser.add_argument("--out", help="path of the exported checkpoint; the model card goes beside it (.md); required unless --list")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the model's)")
    parser.add_argument("--batch", type=int, help="patches per step (default: the model's)")
    parser.add_argument("--patch", type=int, help="patch side in pixels (default: the model's)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of all randomness (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue from WORKDIR/state.pt if present")
    parser.add_argument("--workdir", help="folder for state.pt and train.log (default runs/MODEL)")
    parser.add_argument("--log-every", type=int, default=50, help="log every N steps (default 50)")
    parser.add_argument("--save-every", type=int, default=500, help="save the resumable state every N steps")
    parser.add_argument("--holdout", type=int, default=8, help="images of --data held out for evaluation (default 8)")
    parser.add_argument("--eval-dir", help="also evaluate the final checkpoint on this folder (e.g. Kodak)")
    parser.add_argument("--eval-limit", type=int, help="evaluate on at most this many --eval-dir images")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="model option (repeatable)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a terminal)")
    return parser

