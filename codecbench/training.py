"""Training entry point of learned codecs: ``codecbench train MODEL --data DIR --out CKPT``.

Each trainable model is a :class:`Trainable` subclass with a ``name`` (it
registers itself, like codecs do) that lives in its codec's module and
provides

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

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch

from codecbench.core.codec import Setting
from codecbench.core.errors import CodecbenchError, DatasetError, SpecError
from codecbench.core.images import is_image_file, load_image

_TRAINABLES: dict[str, type["Trainable"]] = {}
_MODEL_MODULES = ("codecbench.codecs.learned.models",)


class Trainable(ABC):
    """A model that ``codecbench train`` can train; subclasses with a ``name`` register themselves."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: the codec that reads the exported checkpoint
    codec: ClassVar[str | None] = None
    defaults: ClassVar[Mapping[str, Any]] = {"steps": 2000, "batch": 16, "patch": 64, "lr": 1e-3}
    options: ClassVar[Mapping[str, Setting]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            existing = _TRAINABLES.get(cls.name)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise CodecbenchError(f"two trainable models are named {cls.name!r}")
            _TRAINABLES[cls.name] = cls

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(f"{k}={s.describe()}" for k, s in self.options.items()) or "none"
            raise SpecError(f"model {self.name!r} has no option {', '.join(unknown)}; options: {allowed}")
        self.opts = {k: s.parse(k, options.get(k, s.default)) for k, s in self.options.items()}

    @abstractmethod
    def build(self) -> torch.nn.Module:
        """A freshly initialised network (after ``torch.manual_seed``)."""

    @abstractmethod
    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss to minimise for a uint8 B×3×P×P batch, and its parts for the log."""

    @abstractmethod
    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        """The checkpoint dict the codec loads (``base.make_checkpoint``)."""

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        """Figures on held-out images, from the exported checkpoint (default: none)."""
        return {}

    def describe(self, model: torch.nn.Module) -> str:
        return f"`{type(model).__name__}`:\n\n```\n{model}\n```"

    def configure_optimizer(self, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=lr)

    def lr_at(self, step: int, steps: int, lr: float) -> float:
        """Learning rate at ``step``: constant, then cosine decay over the last 30% to lr/10."""
        start = int(0.7 * steps)
        if step < start or steps <= start:
            return lr
        t = (step - start) / (steps - start)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def evaluate_codec(codec_cls: type, checkpoint: Path, images: Sequence[np.ndarray], **settings: Any) -> dict[str, float]:
    """Real-codec figures of ``checkpoint`` on ``images``: mean bpp of the full bitstream, PSNR (dB), SSIM, count.

    Measured by :func:`codecbench.engine.measure.mean_measures`, as every other figure.
    """
    from codecbench.engine.measure import mean_measures

    codec = codec_cls(checkpoint=checkpoint, threads=torch.get_num_threads(), **settings)
    means = mean_measures(codec, images, metrics=("psnr", "ssim"))
    return {key: means[key] for key in ("bpp", "psnr", "ssim", "images")}


def available_trainables() -> dict[str, type[Trainable]]:
    """All registered trainable models, by name (imports the learned-codec modules)."""
    import importlib

    for module in _MODEL_MODULES:
        importlib.import_module(module)
    return dict(sorted(_TRAINABLES.items()))


def get_trainable(name: str) -> type[Trainable]:
    models = available_trainables()
    if name not in models:
        raise SpecError(f"unknown trainable model {name!r}; known: {', '.join(models) or 'none'}")
    return models[name]


# -- data ---------------------------------------------------------------------
class ImageFolder:
    """Images of a folder (recursively), split into training and held-out by a fixed name hash."""

    def __init__(self, root: str | os.PathLike, holdout: int = 0, *, gray: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"training data folder {self.root} does not exist")
        files = sorted(p for p in self.root.rglob("*") if p.is_file() and is_image_file(p))
        if len(files) <= holdout:
            raise DatasetError(f"{self.root}: {len(files)} images, need more than the {holdout} held out")
        rank = sorted(files, key=lambda p: hashlib.sha256(str(p.relative_to(self.root)).encode()).hexdigest())
        held = set(rank[:holdout])
        self.train_files = [p for p in files if p not in held]
        self.heldout_files = [p for p in files if p in held]
        self.gray = gray
        self._cache: dict[Path, np.ndarray] = {}

    def image(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = load_image(path, gray=self.gray)
        return self._cache[path]

    def heldout(self) -> list[np.ndarray]:
        return [self.image(p) for p in self.heldout_files]

    def batch(self, rng: np.random.Generator, batch: int, patch: int) -> torch.Tensor:
        """uint8 B×C×P×P: random images, random crops (edge-padded if smaller), random h-flips."""
        out = []
        for i in rng.integers(0, len(self.train_files), size=batch):
            img = self.image(self.train_files[int(i)])
            h, w = img.shape[:2]
            if h < patch or w < patch:
                img = np.pad(img, ((0, max(0, patch - h)), (0, max(0, patch - w)), (0, 0)), mode="edge")
                h, w = img.shape[:2]
            y = int(rng.integers(0, h - patch + 1))
            x = int(rng.integers(0, w - patch + 1))
            crop = img[y : y + patch, x : x + patch]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            out.append(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        return torch.from_numpy(np.stack(out))


def load_folder_images(root: str | os.PathLike, *, gray: bool = False, limit: int | None = None) -> list[np.ndarray]:
    files = sorted(p for p in Path(root).rglob("*") if p.is_file() and is_image_file(p))[:limit]
    if not files:
        raise DatasetError(f"no images in {root}")
    return [load_image(p, gray=gray) for p in files]


# -- model card ---------------------------------------------------------------
@dataclass
class ModelCard:
    """The markdown written beside a checkpoint; :meth:`render` produces it."""

    model: str
    codec: str | None
    checkpoint: str
    checkpoint_bytes: int
    architecture: str
    parameters: int
    data: str
    data_images: int
    heldout: list[str]
    command: str
    steps: int
    batch: int
    patch: int
    lr: float
    seed: int
    wall_seconds: float
    machine: str
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: str = ""

    def render(self) -> str:
        lines = [
            f"# Model card: `{self.model}`",
            "",
            f"Checkpoint `{self.checkpoint}` ({self.checkpoint_bytes / 1024:.1f} KiB), read by codec "
            f"`{self.codec or '—'}` with `torch.load(weights_only=True)`.",
            "",
            "## Architecture",
            "",
            self.architecture,
            "",
            f"Parameters: {self.parameters:,}",
            "",
            "## Training",
            "",
            f"- Data: `{self.data}` ({self.data_images} training images; held out: "
            f"{', '.join(self.heldout) or 'none'})",
            f"- Command: `{self.command}`",
            f"- Steps: {self.steps} (batch {self.batch}, patch {self.patch}×{self.patch}, lr {self.lr:g}, "
            f"seed {self.seed})",
            f"- Wall time: {self.wall_seconds / 60:.1f} min",
            f"- Machine: {self.machine}",
            "",
            "## Measured",
            "",
        ]
        if not self.figures:
            lines.append("(no figures)")
        for section, figs in self.figures.items():
            lines += [f"### {section}", "", "| metric | value |", "| --- | --- |"]
            lines += [f"| {k} | {_fmt_fig(v)} |" for k, v in figs.items()]
            lines.append("")
        if self.notes:
            lines += ["## Notes", "", self.notes.strip(), ""]
        return "\n".join(lines).rstrip() + "\n"

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        os.replace(tmp, path)
        return path


def _fmt_fig(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def machine_description(threads: int | None = None) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with "
        f"{threads or torch.get_num_threads()} threads, Python {platform.python_version()}, {platform.system()}"
    )


def card_path(checkpoint: str | os.PathLike) -> Path:
    """Where the model card of a checkpoint lives: same name, ``.md`` suffix."""
    return Path(checkpoint).with_suffix(".md")


# -- the loop -----------------------------------------------------------------
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
    if cfg.resume and state_path.exists():
        from codecbench.codecs.learned.base import load_checkpoint

        state = load_checkpoint(state_path)  # weights_only; an unsafe or corrupt state is a CheckpointError
        if state.get("model") != cfg.model or state.get("options") != trainable.opts:
            raise SpecError(f"{state_path} is a state of {state.get('model')} {state.get('options')}, not {cfg.model} {trainable.opts}")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        step, wall = int(state["step"]), float(state["wall_seconds"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])

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
    return TrainConfig(
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
        print(section + ": " + ", ".join(f"{k}={_fmt_fig(v)}" for k, v in figs.items()))
    return 0
