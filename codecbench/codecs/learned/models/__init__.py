"""The learned models, one module or package each (network, codec and trainable; a large model splits them into
``network``, ``codec`` and ``trainable`` modules, as ``mlp/``); importing this package registers them.

Add a model: a module (or package) here, its classes decorated with ``@register_codec`` and ``@register_trainable``,
and its import below.
"""

from __future__ import annotations

from codecbench.codecs.learned.models import (  # noqa: F401 (importing a model module registers its classes)
    cnn_ae,
    cnn_rnn_ae,
    comcnn,
    gan_ae,
    gan_hyperprior,
    hyperprior,
    mlp,
    ssdcae,
)
