"""Restoring a training's resumable state (``WORKDIR/state.pt``) only when every part of it is sound.

``codecbench train --resume`` continues from this file. It is read with
``torch.load(weights_only=True)`` (:func:`~codecbench.codecs.learned.base.load_checkpoint`)
and checked before use: a file that is not a dict, lacks a key of
:data:`STATE_TYPES` or holds a value of another type, stands at a step outside
``0..--steps``, or whose weights, optimizer or random-generator states do not
fit this model is a :class:`~codecbench.codecs.learned.base.CheckpointError`
of one line naming the file, never a traceback or an exported model that was
not trained.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from codecbench.codecs.learned.base import CheckpointError, load_checkpoint, load_weights
from codecbench.core.errors import SpecError
from codecbench.core.results import json_excerpt

#: The keys a state holds (written by :func:`codecbench.training.loop.train`) and the type of each value.
STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": str, "options": dict, "step": int, "wall_seconds": (int, float), "state_dict": dict,
    "optimizer": dict, "numpy_rng": dict, "torch_rng": torch.Tensor,
}


def restore_state(path: Path, *, model_name: str, options: dict[str, Any], steps: int, model: torch.nn.Module,
                  optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> tuple[int, float]:
    """Load the state at ``path`` into ``model``, ``optimizer`` and ``rng`` (and torch's generator).

    Returns (step, wall seconds so far). Raises :class:`SpecError` when the
    state is of another model or options, and :class:`CheckpointError` for
    anything unsound (see the module docstring); a step beyond ``steps``
    says to pass a larger ``--steps``.
    """
    state = load_checkpoint(path)
    for key, kind in STATE_TYPES.items():
        if key not in state:
            raise CheckpointError(f"training state {path} has no {key!r} (not a state.pt of `codecbench train`)")
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise CheckpointError(f"training state {path}: {key!r} is a {type(value).__name__}, not "
                                  f"{' or '.join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))}")
    if state["model"] != model_name or state["options"] != options:
        raise SpecError(f"{path} is a state of {state['model']} {state['options']}, not {model_name} {options}")
    step, wall = state["step"], float(state["wall_seconds"])
    if not 0 <= step <= steps:
        raise CheckpointError(f"training state {path} stands at step {json_excerpt(step)}, outside 0..{steps} "
                              "(--steps): resume with --steps of at least its step, or start afresh without --resume")
    if not (math.isfinite(wall) and wall >= 0):
        raise CheckpointError(f"training state {path}: 'wall_seconds' is {wall}, not a duration")
    load_weights(model, state, path)
    _restore(path, "optimizer", lambda: optimizer.load_state_dict(state["optimizer"]))
    _check_optimizer_shapes(path, optimizer)
    _restore(path, "numpy_rng", lambda: setattr(rng.bit_generator, "state", state["numpy_rng"]))
    _restore(path, "torch_rng", lambda: torch.set_rng_state(state["torch_rng"]))
    return step, wall


def _restore(path: Path, key: str, load: Callable[[], Any]) -> None:
    """Run ``load`` (a third-party setter of ``state[key]``); whatever it raises becomes a :class:`CheckpointError`."""
    try:
        load()
    except Exception as exc:  # torch and numpy raise ValueError, TypeError, KeyError, RuntimeError … on a bad state
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise CheckpointError(f"training state {path}: {key!r} does not fit this model ({detail})") from None


def _check_optimizer_shapes(path: Path, optimizer: torch.optim.Optimizer) -> None:
    """Each non-scalar tensor the optimizer keeps for a parameter (Adam's moments) must have that parameter's shape:
    ``load_state_dict`` checks only the number of parameters, and a wrong shape would fail at the first step."""
    for param, kept in optimizer.state.items():
        for name, value in kept.items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                raise CheckpointError(f"training state {path}: optimizer {name!r} has shape {tuple(value.shape)} "
                                      f"for a parameter of shape {tuple(param.shape)}")
