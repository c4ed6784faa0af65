"""The :class:`Trainable` interface of a learned model, its registry, and the real-codec held-out evaluation."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch

from codecbench.core.codec import Setting
from codecbench.core.errors import SpecError
from codecbench.core.registry import Registry
from codecbench.engine.measure import mean_measures


class Trainable(ABC):
    """A model that ``codecbench train`` can train; register a subclass with a ``name`` by ``@register_trainable``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: the codec that reads the exported checkpoint
    codec: ClassVar[str | None] = None
    defaults: ClassVar[Mapping[str, Any]] = {"steps": 2000, "batch": 16, "patch": 64, "lr": 1e-3}
    options: ClassVar[Mapping[str, Setting]] = {}

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


#: every trainable model, by name; the built-in ones live beside their codecs (declared in ``codecbench/__init__.py``)
TRAINABLES: Registry[type[Trainable]] = Registry("trainable model", Trainable, error=SpecError, sort=True)
#: the class decorator that registers a trainable model under its ``name``
register_trainable = TRAINABLES.register


def evaluate_codec(codec_cls: type, checkpoint: Path, images: Sequence[np.ndarray], **settings: Any) -> dict[str, float]:
    """Real-codec figures of ``checkpoint`` on ``images``: mean bpp of the full bitstream, PSNR (dB), SSIM, count.

    Measured by :func:`codecbench.engine.measure.mean_measures`, as every other figure.
    """
    codec = codec_cls(checkpoint=checkpoint, threads=torch.get_num_threads(), **settings)
    means = mean_measures(codec, images, metrics=("psnr", "ssim"))
    return {key: means[key] for key in ("bpp", "psnr", "ssim", "images")}


def available_trainables() -> dict[str, type[Trainable]]:
    """All registered trainable models, by name, sorted (imports the learned-codec modules)."""
    return dict(TRAINABLES.items())


def get_trainable(name: str) -> type[Trainable]:
    """The trainable model registered as ``name``; SpecError naming the close and the known ones otherwise."""
    return TRAINABLES.get(name)
