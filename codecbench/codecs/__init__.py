"""Built-in codecs, one module per family, and the public bases a plug-in codec builds on.

``codecbench.codecs.PillowCodec`` (a codec that is one Pillow format,
:mod:`codecbench.codecs.classical.pillow`) and ``codecbench.codecs.TorchCodec``
(the torch base of learned codecs, :mod:`codecbench.codecs.learned.base`)
are imported on first use: importing this package imports neither Pillow's
plug-ins nor torch.

This package lives at ``codecbench.codecs`` and not at a top-level ``codecs``
because Python's standard library already has a ``codecs`` module, imported at
interpreter start-up, which would always shadow it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name → the module that defines it
_BASES = {"PillowCodec": "codecbench.codecs.classical.pillow", "TorchCodec": "codecbench.codecs.learned.base"}

__all__ = sorted(_BASES)


def __getattr__(name: str) -> Any:
    if name in _BASES:
        return getattr(importlib.import_module(_BASES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
