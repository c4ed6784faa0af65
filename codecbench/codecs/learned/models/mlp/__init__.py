"""MLP predictive lossless coders (seed 004): ``mlp-huffman`` and ``mlp-ans``.

Both predict every pixel from 12 already-coded neighbours with small MLPs and are exactly lossless:
the shipped networks are integer networks whose float32 products are exact in any order, and the
decoder walks wavefronts (t = 3y + x). ``mlp-huffman`` Huffman-codes the residuals of a rounded
prediction; ``mlp-ans`` codes each value with rANS under a quantized Laplace around a correction
to the JPEG-LS median predictor. Neighbourhood, inputs, exact decoding: docs/codecs/learned.md.
"""

from __future__ import annotations

from codecbench.codecs.learned.models.mlp.codec import LAPLACE, MLPAnsCodec, MLPHuffmanCodec
from codecbench.codecs.learned.models.mlp.network import (
    ANS_PMAX, FLAG_VALUE, SCALE_KMIN, SCALE_TABLE, FloatPredictor, build_features, coding_features, coding_order,
    export_state, neighbours_rows, neighbours_torch, net_keys, pad_image, shared_width,
)
from codecbench.codecs.learned.models.mlp.trainable import MLPAnsTrainable, MLPHuffmanTrainable

__all__ = [
    "ANS_PMAX", "FLAG_VALUE", "LAPLACE", "SCALE_KMIN", "SCALE_TABLE", "FloatPredictor", "MLPAnsCodec", "MLPAnsTrainable",
    "MLPHuffmanCodec", "MLPHuffmanTrainable", "build_features", "coding_features", "coding_order", "export_state",
    "neighbours_rows", "neighbours_torch", "net_keys", "pad_image", "shared_width",
]
