"""The learned models, one module or package each (network, codec and trainable; a large model splits them into
``network``, ``codec`` and ``trainable`` modules, as ``mlp/``); importing this package registers them.

Add a model: a module (or package) here and its name in :data:`_MODULES`.
"""

from __future__ import annotations

import importlib

#: modules of this package that define codecs; add yours here
_MODULES: tuple[str, ...] = ("mlp", "cnn_ae", "ssdcae", "comcnn", "hyperprior", "gan_hyperprior", "cnn_rnn_ae", "gan_ae")

for _module in _MODULES:
    importlib.import_module(f"{__name__}.{_module}")
