"""Learned codecs: the torch base (:mod:`.base`), the stream container (:mod:`.container`), entropy coders
(:mod:`.coders`), priors and layers (:mod:`.priors`, :mod:`.gaussian`), and one module per model in :mod:`.models`.

Importing this package imports no model (and no torch); :mod:`.models` imports every model module, so that
their codecs and trainable models register. Shipped checkpoints and their model cards live in
``checkpoints/`` (package data).
"""
