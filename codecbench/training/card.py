"""The model card written beside every exported checkpoint (markdown): architecture, data, command, figures."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


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
            lines += [f"| {k} | {format_figure(v)} |" for k, v in figs.items()]
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


def format_figure(v: Any) -> str:
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
