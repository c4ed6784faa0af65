"""The training loop: seeded crops, Adam, logs, atomic resumable state, export and model card."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from codecbench.codecs.learned.base import param_count, save_atomic
from codecbench.core.errors import CodecbenchError
from codecbench.training.card import ModelCard, card_path, machine_description
from codecbench.training.data import ImageFolder, load_folder_images
from codecbench.training.state import restore_state
from codecbench.training.trainable import Trainable, get_trainable


@dataclass
class TrainConfig:
    """One training run, as ``codecbench train`` takes it (see docs/training.md for each option)."""

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


@dataclass
class _Session:
    """What a running training holds: its model, optimizer and RNG, and the step and wall time (s) reached."""

    cfg: TrainConfig
    trainable: Trainable
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    state_path: Path
    step: int = 0
    wall: float = 0.0

    def save_state(self) -> None:
        """Write the resumable state atomically to ``state_path``."""
        save_atomic(
            {
                "model": self.cfg.model,
                "options": self.trainable.opts,
                "step": self.step,
                "wall_seconds": self.wall,
                "state_dict": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "numpy_rng": self.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "config": {k: v for k, v in vars(self.cfg).items() if k != "options"},
            },
            self.state_path,
        )


def _log(fh: TextIO, record: dict) -> None:
    fh.write(json.dumps(record) + "\n")
    fh.flush()


def _start(cfg: TrainConfig, workdir: Path) -> _Session:
    """A fresh, seeded session, or the one saved in ``workdir`` when resuming (CheckpointError if unsound)."""
    trainable = get_trainable(cfg.model)(**cfg.options)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = trainable.build()
    session = _Session(cfg, trainable, model, trainable.configure_optimizer(model, cfg.lr),
                       np.random.default_rng(cfg.seed), workdir / "state.pt")
    if cfg.resume and session.state_path.exists():
        session.step, session.wall = restore_state(
            session.state_path, model_name=cfg.model, options=trainable.opts, steps=cfg.steps,
            model=model, optimizer=session.optimizer, rng=session.rng)
    return session


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def _run_steps(s: _Session, data: ImageFolder, log: TextIO, progress: Progress, task: TaskID) -> None:
    """Train from ``s.step`` to ``cfg.steps``, logging means every ``log_every`` steps; CodecbenchError on a non-finite loss."""
    cfg, trainable = s.cfg, s.trainable
    sums: dict[str, float] = {}
    n, t0 = 0, time.perf_counter()
    while s.step < cfg.steps:
        lr = trainable.lr_at(s.step, cfg.steps, cfg.lr)
        for group in s.optimizer.param_groups:
            group["lr"] = lr
        loss, parts = trainable.loss(s.model, data.batch(s.rng, cfg.batch, cfg.patch))
        if not torch.isfinite(loss):
            raise CodecbenchError(f"training {cfg.model}: loss is {loss.item()} at step {s.step}")
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        s.optimizer.step()
        s.step += 1
        n += 1
        for k, v in {"loss": float(loss.detach()), **parts}.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        now = time.perf_counter()
        if s.step % cfg.log_every == 0 or s.step == cfg.steps:
            s.wall += now - t0
            means = {k: v / n for k, v in sums.items()}
            _log(log, {"step": s.step, "lr": lr, **means, "steps_per_s": n / max(now - t0, 1e-9), "wall_s": s.wall})
            progress.update(task, completed=s.step, info=" ".join(f"{k}={v:.4g}" for k, v in means.items()))
            sums, n, t0 = {}, 0, time.perf_counter()
        if s.step % cfg.save_every == 0 and s.step < cfg.steps:
            s.save_state()
    if n:
        s.wall += time.perf_counter() - t0


def _export(s: _Session) -> Path:
    """Write the exported checkpoint atomically to ``cfg.out``; return its path."""
    cfg = s.cfg
    meta = {
        "model": cfg.model, "steps": s.step, "batch": cfg.batch, "patch": cfg.patch, "lr": cfg.lr, "seed": cfg.seed,
        "options": s.trainable.opts, "wall_seconds": s.wall, "data": str(cfg.data), "command": cfg.command,
    }
    out = Path(cfg.out)
    with torch.no_grad():
        save_atomic(s.trainable.export(s.model, meta), out)
    return out


def _evaluate(s: _Session, out: Path, data: ImageFolder) -> dict[str, dict[str, float]]:
    """Figures of the exported checkpoint on the held-out images and on ``--eval-dir``, by section title."""
    figures: dict[str, dict[str, float]] = {}
    held = data.heldout()
    if held:
        figures[f"held-out ({len(held)} images of {Path(s.cfg.data).name})"] = s.trainable.evaluate(out, held)
    if s.cfg.eval_dir:
        images = load_folder_images(s.cfg.eval_dir, limit=s.cfg.eval_limit)
        figures[f"{s.cfg.eval_dir} ({len(images)} images)"] = s.trainable.evaluate(out, images)
    return figures


def _write_card(s: _Session, out: Path, data: ImageFolder, figures: dict[str, dict[str, float]]) -> Path:
    cfg = s.cfg
    card = ModelCard(
        model=cfg.model, codec=s.trainable.codec, checkpoint=out.name, checkpoint_bytes=out.stat().st_size,
        architecture=s.trainable.describe(s.model), parameters=param_count(s.model), data=str(cfg.data),
        data_images=len(data.train_files), heldout=[p.name for p in data.heldout_files], command=cfg.command,
        steps=s.step, batch=cfg.batch, patch=cfg.patch, lr=cfg.lr, seed=cfg.seed, wall_seconds=s.wall,
        machine=machine_description(cfg.threads), figures=figures,
    )
    return card.write(card_path(out))


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) a training; return {"checkpoint", "card", "figures", "steps", "wall_seconds"}.

    Errors (unknown model, bad data folder or state, non-finite loss) raise CodecbenchError subclasses.
    """
    workdir = Path(cfg.workdir or Path("runs") / cfg.model)
    s = _start(cfg, workdir)
    data = ImageFolder(cfg.data, cfg.holdout)
    workdir.mkdir(parents=True, exist_ok=True)
    progress = _progress_bar(cfg.progress if cfg.progress is not None else sys.stderr.isatty())
    s.model.train()
    with open(workdir / "train.log", "a", encoding="utf-8") as log, progress:
        _log(log, {"event": "resume" if s.step else "start", "step": s.step, "command": cfg.command, "time": time.time()})
        task = progress.add_task(f"train {cfg.model}", total=cfg.steps, completed=s.step, info="")
        _run_steps(s, data, log, progress, task)
        s.save_state()
        s.model.eval()
        out = _export(s)
        figures = _evaluate(s, out, data)
        _log(log, {"event": "end", "step": s.step, "wall_s": s.wall, "figures": figures})
    card_file = _write_card(s, out, data, figures)
    return {"checkpoint": out, "card": card_file, "figures": figures, "steps": s.step, "wall_seconds": s.wall}
