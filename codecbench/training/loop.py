"""The training loop: seeded crops, Adam, logs, atomic resumable state, export and model card; the CLI entry."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from codecbench.core.errors import CodecbenchError, OptionError, SpecError

from codecbench.training.card import ModelCard, card_path, format_figure, machine_description
from codecbench.training.data import ImageFolder, load_folder_images
from codecbench.training.state import restore_state
from codecbench.training.trainable import Trainable, available_trainables, get_trainable


@dataclass
class TrainConfig:
    model: str
    data: str
    out: str
    steps: int
    batch: int
    patch: int
    lr: float
    seed: int = 0
    resume: bool = False
    workdir: str | None = None
    log_every: int = 50
    save_every: int = 500
    holdout: int = 8
    eval_dir: str | None = None
    eval_limit: int | None = None
    threads: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    progress: bool | None = None
    command: str = ""


def _log(fh: Any, record: dict) -> None:
    fh.write(json.dumps(record) + "\n")
    fh.flush()


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training; return {"checkpoint", "card", "figures", "steps", "wall_seconds"}."""
    trainable = get_trainable(cfg.model)(**cfg.options)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = ImageFolder(cfg.data, cfg.holdout)
    workdir = Path(cfg.workdir or Path("runs") / cfg.model)
    workdir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = workdir / "state.pt", workdir / "train.log"

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = trainable.build()
    optimizer = trainable.configure_optimizer(model, cfg.lr)
    step, wall = 0, 0.0
    if cfg.resume and state_path.exists():  # weights_only, and every part checked: a bad state is one line
        step, wall = restore_state(state_path, model_name=cfg.model, options=trainable.opts, steps=cfg.steps,
                                   model=model, optimizer=optimizer, rng=rng)

    def save_state() -> None:
        from codecbench.codecs.learned.base import save_atomic

        save_atomic(
            {
                "model": cfg.model,
                "options": trainable.opts,
                "step": step,
                "wall_seconds": wall,
                "state_dict": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "config": {k: v for k, v in vars(cfg).items() if k != "options"},
            },
            state_path,
        )

    progress_on = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        disable=not progress_on,
    )
    model.train()
    with open(log_path, "a", encoding="utf-8") as log, progress:
        _log(log, {"event": "resume" if step else "start", "step": step, "command": cfg.command, "time": time.time()})
        task = progress.add_task(f"train {cfg.model}", total=cfg.steps, completed=step, info="")
        sums: dict[str, float] = {}
        n, t0 = 0, time.perf_counter()
        while step < cfg.steps:
            lr = trainable.lr_at(step, cfg.steps, cfg.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = data.batch(rng, cfg.batch, cfg.patch)
            loss, parts = trainable.loss(model, batch)
            if not torch.isfinite(loss):
                raise CodecbenchError(f"training {cfg.model}: loss is {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            n += 1
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            now = time.perf_counter()
            if step % cfg.log_every == 0 or step == cfg.steps:
                wall += now - t0
                means = {k: v / n for k, v in sums.items()}
                _log(log, {"step": step, "lr": lr, **means, "steps_per_s": n / max(now - t0, 1e-9), "wall_s": wall})
                progress.update(task, completed=step, info=" ".join(f"{k}={v:.4g}" for k, v in means.items()))
                sums, n, t0 = {}, 0, time.perf_counter()
            if step % cfg.save_every == 0 and step < cfg.steps:
                save_state()
        if n:
            wall += time.perf_counter() - t0
        save_state()
        model.eval()

        meta = {
            "model": cfg.model,
            "steps": step,
            "batch": cfg.batch,
            "patch": cfg.patch,
            "lr": cfg.lr,
            "seed": cfg.seed,
            "options": trainable.opts,
            "wall_seconds": wall,
            "data": str(cfg.data),
            "command": cfg.command,
        }
        from codecbench.codecs.learned.base import param_count, save_atomic

        out = Path(cfg.out)
        with torch.no_grad():
            ckpt = trainable.export(model, meta)
        save_atomic(ckpt, out)
        figures: dict[str, dict[str, float]] = {}
        held = data.heldout()
        if held:
            figures[f"held-out ({len(held)} images of {Path(cfg.data).name})"] = trainable.evaluate(out, held)
        if cfg.eval_dir:
            images = load_folder_images(cfg.eval_dir, limit=cfg.eval_limit)
            figures[f"{cfg.eval_dir} ({len(images)} images)"] = trainable.evaluate(out, images)
        _log(log, {"event": "end", "step": step, "wall_s": wall, "figures": figures})

    card = ModelCard(
        model=cfg.model,
        codec=trainable.codec,
        checkpoint=out.name,
        checkpoint_bytes=out.stat().st_size,
        architecture=trainable.describe(model),
        parameters=param_count(model),
        data=str(cfg.data),
        data_images=len(data.train_files),
        heldout=[p.name for p in data.heldout_files],
        command=cfg.command,
        steps=step,
        batch=cfg.batch,
        patch=cfg.patch,
        lr=cfg.lr,
        seed=cfg.seed,
        wall_seconds=wall,
        machine=machine_description(cfg.threads),
        figures=figures,
    )
    card_file = card.write(card_path(out))
    return {"checkpoint": out, "card": card_file, "figures": figures, "steps": step, "wall_seconds": wall}


# -- command line -------------------------------------------------------------
def config_from_args(args: argparse.Namespace, argv: Sequence[str] | None = None) -> TrainConfig:
    if not args.model or not args.data or not args.out:
        raise SpecError("codecbench train needs MODEL, --data DIR and --out CKPT")
    cls = get_trainable(args.model)
    options = {}
    for item in args.opt:
        key, eq, value = item.partition("=")
        if not eq:
            raise SpecError(f"--opt {item!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    d = dict(Trainable.defaults) | dict(cls.defaults)
    words = list(argv if argv is not None else sys.argv[1:])
    if words and words[0] == "train":  # invoked as `codecbench train …`
        words = words[1:]
    command = "codecbench train " + " ".join(shlex.quote(a) for a in words)
    cfg = TrainConfig(
        model=args.model,
        data=args.data,
        out=args.out,
        steps=args.steps or d["steps"],
        batch=args.batch or d["batch"],
        patch=args.patch or d["patch"],
        lr=args.lr or d["lr"],
        seed=args.seed,
        resume=args.resume,
        workdir=args.workdir,
        log_every=args.log_every,
        save_every=args.save_every,
        holdout=args.holdout,
        eval_dir=args.eval_dir,
        eval_limit=args.eval_limit,
        threads=args.threads,
        options=options,
        progress=args.progress,
        command=command,
    )
    for flag, value in (("--steps", cfg.steps), ("--batch", cfg.batch), ("--patch", cfg.patch),
                        ("--log-every", cfg.log_every), ("--save-every", cfg.save_every)):
        if value < 1:  # a negative --steps would export an untrained model; 0 would divide by zero
            raise OptionError(f"{flag} must be at least 1, not {value}")
    return cfg


def train_command(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run ``codecbench train`` for parsed ``args``; 0 on success (errors raise CodecbenchError)."""
    if args.list:
        for name, cls in available_trainables().items():
            print(f"{name:16} {cls.description}")
        return 0
    result = train(config_from_args(args, argv))
    print(f"checkpoint {result['checkpoint']} ({result['steps']} steps, {result['wall_seconds'] / 60:.1f} min)")
    print(f"model card {result['card']}")
    for section, figs in result["figures"].items():
        print(section + ": " + ", ".join(f"{k}={format_figure(v)}" for k, v in figs.items()))
    return 0
