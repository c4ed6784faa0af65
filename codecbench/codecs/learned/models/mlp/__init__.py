"""MLP predictive lossless coders (seed 004): ``mlp-huffman`` and ``mlp-ans``.

Both predict every pixel from its already-coded neighbours with small MLPs
(ReLU after every hidden layer) and are exactly lossless.

**Causal neighbourhood** (12 pixels, offsets (dy, dx) from the current pixel,
all channels of each)::

    row y-2:  (-2,-2) (-2,-1) (-2,0) (-2,+1) (-2,+2)
    row y-1:  (-1,-2) (-1,-1) (-1,0) (-1,+1) (-1,+2)
    row y  :  ( 0,-2) ( 0,-1)    x

Pixels outside the image read as 0, and three flags (top two rows, left two
columns, right two columns) tell the network so. Colour images are coded
channel by channel in the order G, R, B within each pixel; the network for a
channel also sees the already-coded channels of the same pixel. Grayscale
(H×W×1) images have their own network. One checkpoint holds the four
networks (G, R, B, gray).

``mlp-huffman`` (faithful to the seed): inputs are the raw neighbour values
(and the coded channels of the pixel); the MLP, with ReLU after *every* layer
including the output, predicts the pixel value, rounded; residuals
``(x - prediction) mod 256`` are zigzag-mapped and Huffman-coded with one
code table per channel in the bitstream (code lengths, see
:class:`codecbench.codecs.learned.coders.HuffmanTable`).

``mlp-ans`` (improved): inputs are the neighbours relative to the JPEG-LS
median (MED) predictor of each channel, the MED levels, and the coded
channels' own MED residuals; the MLP predicts a correction to MED (the mean)
and a log-scale, and each value is coded with rANS (``constriction``) under a
quantized Laplace distribution on 0…255 with that mean and scale.

**Exact decoding.** The decoder must reproduce the encoder's predictions bit
for bit although it computes them in different batches (wavefronts, see
below) than the encoder (whole bands of the image). The shipped networks are
therefore *integer* networks: weights and biases are integers, scaled per
output row so that every accumulator ``sum(w·a) + b`` stays below 2^24 for
*any* input (a bound checked when the checkpoint is loaded); activations are
integers 0…1023; matrix products are computed in float32 on these integer
values, so every product and partial sum is exact and the result does not
depend on the BLAS's summation order, blocking or threads. Requantization
(``rint(acc × r)``, clamp to 0…1023) is elementwise IEEE arithmetic, equally
reproducible. The Laplace scale comes from a
fixed table indexed by a rounded integer, never from ``exp`` at coding time.
(constriction evaluates the Laplace CDF itself, identically on both sides of
the same machine.)

**Wavefronts.** A pixel (y, x) depends on pixels up to (y-1, x+2), so all
pixels with the same t = 3y + x are independent given earlier wavefronts;
the decoder walks t = 0 … 3(H-1) + W-1 (2301 wavefronts for a Kodak image)
and predicts each wavefront as one batch, channel by channel. The encoder
knows every pixel, so it predicts the whole image at once and orders the
symbols as the decoder will read them.
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
