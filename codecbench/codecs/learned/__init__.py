"""Learned codecs: one module per model family, on the torch base in :mod:`.base`.

Importing this package imports every module listed in ``_MODULES`` so that
their codecs (and trainable models, see :mod:`codecbench.training`) register.
Shipped checkpoints and their model cards live in ``checkpoints/`` (package
data).
"""

from __future__ import annotations

import importlib

#: modules of this package that define codecs; add yours here
_MODULES: tuple[str, ...] = ("mlp", "cnn_ae", "ssdcae", "comcnn", "hyperprior", "gan_hyperprior", "cnn_rnn_ae", "gan_ae")

for _module in _MODULES:
    importlib.import_module(f"{__name__}.{_module}")
