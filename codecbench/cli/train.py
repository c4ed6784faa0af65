"""``codecbench train``: train a learned codec's model from a folder of images."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, Mapping, Sequence

from codecbench.core.errors import OptionError, SpecError


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
    return train_command(args, args.argv)


def train_command(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run ``codecbench train`` for parsed ``args``; 0 on success (errors raise CodecbenchError)."""
    from codecbench import training  # torch and the models: only when training

    if args.list:
        for name, cls in training.available_trainables().items():
            print(f"{name:16} {cls.description}")
        return 0
    if not args.model or not args.data or not args.out:
        raise SpecError("codecbench train needs MODEL, --data DIR and --out CKPT")
    defaults = dict(training.Trainable.defaults) | dict(training.get_trainable(args.model).defaults)
    result = training.train(training.TrainConfig(**config_from_args(args, defaults, argv)))
    print(f"checkpoint {result['checkpoint']} ({result['steps']} steps, {result['wall_seconds'] / 60:.1f} min)")
    print(f"model card {result['card']}")
    for section, figs in result["figures"].items():
        print(section + ": " + ", ".join(f"{k}={training.format_figure(v)}" for k, v in figs.items()))
    return 0


def config_from_args(args: argparse.Namespace, defaults: Mapping[str, Any],
                     argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``TrainConfig`` fields for parsed ``args``, unset sizes taken from the model's ``defaults``.

    SpecError for an ``--opt`` that is not KEY=VALUE, OptionError for a size below 1.
    """
    options = {}
    for item in args.opt:
        key, eq, value = item.partition("=")
        if not eq:
            raise SpecError(f"--opt {item!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    words = list(argv if argv is not None else sys.argv[1:])
    if words and words[0] == "train":  # invoked as `codecbench train …`
        words = words[1:]
    cfg = dict(
        model=args.model, data=args.data, out=args.out, steps=args.steps or defaults["steps"],
        batch=args.batch or defaults["batch"], patch=args.patch or defaults["patch"], lr=args.lr or defaults["lr"],
        seed=args.seed, resume=args.resume, workdir=args.workdir, log_every=args.log_every,
        save_every=args.save_every, holdout=args.holdout, eval_dir=args.eval_dir, eval_limit=args.eval_limit,
        threads=args.threads, options=options, progress=args.progress,
        command="codecbench train " + " ".join(shlex.quote(a) for a in words),
    )
    for flag in ("steps", "batch", "patch", "log_every", "save_every"):
        if cfg[flag] < 1:  # a negative --steps would export an untrained model; 0 would divide by zero
            raise OptionError(f"--{flag.replace('_', '-')} must be at least 1, not {cfg[flag]}")
    return cfg


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

