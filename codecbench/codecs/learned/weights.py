"""Checkpoint files: read safely (``torch.load(weights_only=True)``), loaded into networks, written atomically.

The format is a dict ``{"format": "codecbench-checkpoint", "model": str,
"arch": dict, "state_dict": dict, "meta": dict}`` (:func:`make_checkpoint`).
Every problem with a file (missing, corrupt, unsafe to unpickle, a state dict
that does not fit the network) is a :class:`CheckpointError` of one line
naming it. :mod:`codecbench.codecs.learned.base` re-exports these names.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from codecbench.core.errors import CodecbenchError

CHECKPOINT_FORMAT = "codecbench-checkpoint"


class CheckpointError(CodecbenchError):
    """A checkpoint is missing, corrupt, unsafe to load, or of the wrong architecture."""


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)`` on the CPU.

    Raises :class:`CheckpointError` naming the file if it is missing,
    corrupt, not a dict, or needs unsafe unpickling (a pickle that could run
    code is never executed).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is missing (train it with `codecbench train`, see the model card)")
    try:
        with warnings.catch_warnings():  # torch's note on a raw pickle's protocol: the refusal below says enough
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} refused: it is not loadable with weights_only=True "
            f"(it may contain code; codecbench never unpickles such files): {first}"
        ) from None
    except Exception as exc:  # zip/format errors of a corrupt or foreign file
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def load_weights(model: torch.nn.Module, ckpt: dict, path: str | os.PathLike, *, only: tuple[str, ...] = ()) -> None:
    """Copy the checkpoint's ``state_dict`` into ``model``: all of it (strict), or only the names starting with ``only``.

    Raises :class:`CheckpointError` naming ``path`` when ``ckpt`` has no state dict or it does not fit the
    network (names missing or unexpected, shapes or types wrong): never a traceback from torch.
    """
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} has no state_dict (format {ckpt.get('format')!r})")
    if only:
        state = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith(only)}
    try:
        model.load_state_dict(state, strict=not only)
    except Exception as exc:  # a hostile dict: wrong names or shapes, values that are not tensors
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__  # torch's message spans lines
        raise CheckpointError(f"checkpoint {path} does not fit the {type(model).__name__} network "
                              f"(wrong architecture?): {detail}") from None


#: How float32 weights are stored on disk: float16 halves a checkpoint, and ``load_state_dict`` copies them back
#: into the float32 network exactly (each shipped model's Kodak figures moved ≤ 0.02 dB and ≤ 0.5 % bpp; see
#: docs/training.md). Integer tables and float64 tensors are stored as they are.
STORED_FLOAT = torch.float16


def make_checkpoint(model: str, arch: dict, state_dict: dict, meta: dict | None = None) -> dict:
    """The dict a shipped checkpoint holds: tensors on the CPU, float32 ones as :data:`STORED_FLOAT`."""
    state = {k: stored_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in state_dict.items()}
    return {"format": CHECKPOINT_FORMAT, "model": model, "arch": dict(arch), "state_dict": state, "meta": dict(meta or {})}


def stored_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as a checkpoint stores it: a CPU copy, float32 narrowed to :data:`STORED_FLOAT`."""
    tensor = tensor.detach().cpu().clone()
    return tensor.to(STORED_FLOAT) if tensor.dtype == torch.float32 else tensor


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is no mode for a shipped file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
