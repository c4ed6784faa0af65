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

import math
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from codecbench.codecs.learned import coders as entropy
from codecbench.core.codec import Setting
from codecbench.codecs.learned.base import CheckpointError, TorchCodec, make_checkpoint
from codecbench.core.errors import DecodeError, EncodeError
from codecbench.training import Trainable

OFFSETS: tuple[tuple[int, int], ...] = (
    (0, -1), (0, -2),
    (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
    (-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
)  # fmt: skip
I_W, I_NW, I_N = 0, 3, 4  # indices of W, NW, N in OFFSETS
PAD_TOP, PAD_SIDE = 2, 2
WAVE = 3  # wavefront index t = WAVE * y + x
RGB_ORDER = (1, 0, 2)  # code G, then R, then B
FLAG_VALUE = 128
#: integer networks: hidden activations are integers 0…AMAX; every accumulator stays below ACC_LIMIT
AMAX = 1023
ACC_LIMIT = 0.95 * 2.0**24
FEATURE_MAX = 255  # |feature| bound of both flavours
INPUT_SCALE = 1.0 / 64  # float value of one integer unit of the input features
#: Laplace scales of mlp-ans: index k -> SCALE_TABLE[k], log-spaced by 1/8 from 0.125
SCALE_STEP = 8
SCALE_LOG_MIN = math.log(0.125)
#: smallest table index used when coding (scale 0.265): costs nothing measurable on Kodak (checked:
#: ±0.01 bpp, slightly better) and makes every value cost > 0.1 bit, so the work a payload can cause
#: is bounded by its size (see ANS_PMAX and MLPAnsCodec.min_tile_payload)
SCALE_KMIN = 6
SCALE_TABLE = np.array(
    [round(math.exp(SCALE_LOG_MIN + k / SCALE_STEP) * 4096) / 4096 for k in range(60)], dtype=np.float64
)  # 0.125 … 197
#: the largest probability any mlp-ans model gives a value: the end bin of a Laplace with the least
#: scale b at mean 0 (or 255), which also holds the tail beyond it, P(X < 0.5) = 1 − e^(−0.5/b)/2
#: (0.924; an inner bin is at most 1 − e^(−0.5/b)); so every value costs at least 0.10 bit
ANS_PMAX = 1 - 0.5 * math.exp(-0.5 / SCALE_TABLE[SCALE_KMIN])


def coding_order(channels: int) -> tuple[int, ...]:
    return RGB_ORDER if channels == 3 else tuple(range(channels))


def net_keys(channels: int) -> list[str]:
    return ["gray"] if channels == 1 else [f"rgb{k}" for k in range(3)]


def n_features(flavour: str, channels: int, k: int) -> int:
    """Inputs of the network coding the k-th channel (in coding order)."""
    per_nb = len(OFFSETS) * channels
    return per_nb + k + 3 if flavour == "raw" else per_nb + channels + k + 3


def _med(n: Any, w: Any, nw: Any, lib: Any) -> Any:
    """JPEG-LS median edge detector: median(N, W, N + W - NW)."""
    return lib.maximum(lib.minimum(n, w), lib.minimum(lib.maximum(n, w), n + w - nw))


def build_features(flavour: str, nb: Any, cur: Any, flags: Any, order: Sequence[int], k: int) -> tuple[Any, Any]:
    """Integer input features for coding channel ``order[k]``; works on numpy arrays and torch tensors.

    ``nb``: (n, 12, C) neighbour values; ``cur``: (n, C) current pixel values (only the
    channels ``order[:k]`` are read); ``flags``: (n, 3) of 0/FLAG_VALUE. Returns
    (features (n, F), MED base of the coded channel (n,) or None for "raw").
    """
    is_torch = isinstance(nb, torch.Tensor)
    lib = torch if is_torch else np
    cat = (lambda xs: torch.cat(xs, dim=1)) if is_torch else (lambda xs: np.concatenate(xs, axis=1))
    n = nb.shape[0]
    prev = list(order[:k])
    if flavour == "raw":
        parts = [nb.reshape(n, -1)]
        if prev:
            parts.append(cur[:, prev])
        parts.append(flags)
        return cat(parts), None
    base = _med(nb[:, I_N, :], nb[:, I_W, :], nb[:, I_NW, :], lib)  # (n, C)
    parts = [(nb - base[:, None, :]).reshape(n, -1), base - 128]
    if prev:
        parts.append(cur[:, prev] - base[:, prev])
    parts.append(flags)
    return cat(parts), base[:, order[k]]


# -- the float network (training) and its integer export ----------------------------
class FloatMLP(torch.nn.Module):
    """Linear layers with ReLU after each hidden layer; tracks hidden activation maxima for export."""

    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int, out_relu: bool) -> None:
        super().__init__()
        sizes = [n_in, *hidden, n_out]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out_relu = out_relu
        self.register_buffer("amax", torch.zeros(len(hidden)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * INPUT_SCALE
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
                if self.training:
                    with torch.no_grad():
                        m = h.detach().amax()
                        self.amax[i] = torch.maximum(self.amax[i] * 0.99, m) if self.amax[i] > 0 else m
        if not self.out_relu:
            return h
        # ReLU forward; in training its gradient passes through (a dead output would never recover)
        return h + (torch.relu(h) - h).detach() if self.training else torch.relu(h)


class FloatPredictor(torch.nn.Module):
    """The four float networks (G, R, B, gray) of one codec, for training."""

    def __init__(self, flavour: str, hidden: Sequence[int]) -> None:
        super().__init__()
        self.flavour = flavour
        self.hidden = list(hidden)
        n_out = 1 if flavour == "raw" else 2
        nets = {}
        for channels in (3, 1):
            for k, key in enumerate(net_keys(channels)):
                net = FloatMLP(n_features(flavour, channels, k), hidden, n_out, out_relu=flavour == "raw")
                with torch.no_grad():
                    if flavour == "raw":
                        net.layers[-1].bias.fill_(128.0)  # start at mid-gray, ReLU alive
                    else:
                        net.layers[-1].bias.copy_(torch.tensor([0.0, math.log(4.0)]))
                nets[key] = net
        self.nets = torch.nn.ModuleDict(nets)


def quantize_mlp(net: FloatMLP) -> dict[str, torch.Tensor]:
    """Integer weights and biases (int32) and float32 requantization factors of one network.

    Each output row gets its own weight scale, chosen so that the accumulator
    ``sum(w·a) + b`` stays below ACC_LIMIT (< 2^24) for *every* possible
    input: then float32 products and sums of these integers are exact.
    """
    out: dict[str, torch.Tensor] = {}
    s_prev = INPUT_SCALE
    in_max = float(FEATURE_MAX)
    n = len(net.layers)
    for i, layer in enumerate(net.layers):
        w = layer.weight.detach().double()
        b = layer.bias.detach().double()
        s_w = ((w.abs().sum(dim=1) * in_max + b.abs() / s_prev) / ACC_LIMIT).clamp_min(1e-30)
        wq = torch.round(w / s_w[:, None])
        bq = torch.round(b / (s_w * s_prev))
        if i < n - 1:
            amax = float(net.amax[i]) if float(net.amax[i]) > 0 else 1.0
            s_next = 2.0 * amax / AMAX  # a 2x margin over the running maximum, then clamp
            r = s_w * s_prev / s_next
            s_prev, in_max = s_next, float(AMAX)
        else:
            r = s_w * s_prev
        out[f"w{i}"] = wq.to(torch.int32)
        out[f"b{i}"] = bq.to(torch.int32)
        out[f"r{i}"] = r.float()
    return out


def fast_permutation(flavour: str, channels: int, k: int) -> np.ndarray:
    """Canonical feature index of each column of the coding layout.

    Training uses :func:`build_features`' order; the codecs use the layout
    ``[neighbours, (MED levels), flags, coded channels…]`` so that the features
    shared by all channels of a pixel are built once and each coded channel
    appends one column. Permuting the first layer's weights to match changes
    nothing in the result (integer sums are exact in any order).
    """
    nb = len(OFFSETS) * channels
    lead = nb if flavour == "raw" else nb + channels  # neighbours (and MED levels)
    prev = list(range(lead, lead + k))
    flags = list(range(lead + k, lead + k + 3))
    return np.array(list(range(lead)) + flags + prev, dtype=np.int64)


def shared_width(flavour: str, channels: int) -> int:
    return len(OFFSETS) * channels + (0 if flavour == "raw" else channels) + 3


class IntNet:
    """The integer network used by both encoder and decoder (numpy float32, exact on integers)."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], requant: list[np.ndarray],
                 first_perm: np.ndarray | None = None) -> None:
        weights = list(weights)
        if first_perm is not None:
            weights[0] = weights[0][:, first_perm]
        # (in, out) as torch tensors: the products run in torch's BLAS under the codec's thread count;
        # numpy's OpenBLAS keeps its own thread pool, which on a loaded machine cost 10x the CPU time
        self.w = [torch.from_numpy(np.ascontiguousarray(w.astype(np.float32).T)) for w in weights]
        self.b = [b.astype(np.float32) for b in biases]
        self.r = [r.astype(np.float32) for r in requant]
        # exactness: |acc| < 2^24 for every layer and every possible input
        amax = float(FEATURE_MAX)
        for i, (w, b) in enumerate(zip(weights, biases)):
            bound = (np.abs(w.astype(np.float64)).sum(axis=1) * amax + np.abs(b.astype(np.float64))).max()
            if not bound < 2.0**24:
                raise ValueError(f"layer {i}: integer accumulator bound {bound:.4g} is not below 2^24")
            amax = AMAX

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Integer features (n, F) float32 -> output (n, n_out) float32 in float units (acc × r of the last layer)."""
        h = x
        last = len(self.w) - 1
        for i, (w, b, r) in enumerate(zip(self.w, self.b, self.r)):
            acc = torch.from_numpy(h).matmul(w).numpy()
            acc += b
            acc *= r
            if i == last:
                return acc
            h = np.rint(acc, out=acc)
            np.maximum(h, 0.0, out=h)
            np.minimum(h, AMAX, out=h)
        raise AssertionError


class IntPredictor(torch.nn.Module):
    """Holds the integer networks as buffers (so the checkpoint is a plain state dict)."""

    def __init__(self, flavour: str, hidden: Sequence[int]) -> None:
        super().__init__()
        self.flavour = flavour
        self.hidden = list(hidden)
        n_out = 1 if flavour == "raw" else 2
        for channels in (3, 1):
            for k, key in enumerate(net_keys(channels)):
                sizes = [n_features(flavour, channels, k), *hidden, n_out]
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                    self.register_buffer(f"{key}_w{i}", torch.zeros(b, a, dtype=torch.int32))
                    self.register_buffer(f"{key}_b{i}", torch.zeros(b, dtype=torch.int32))
                    self.register_buffer(f"{key}_r{i}", torch.zeros(b, dtype=torch.float32))
        self._nets: dict[tuple[str, bool], IntNet] = {}

    def net(self, key: str, fast: bool = True) -> IntNet:
        """The integer network ``key``; ``fast``: taking the coding layout (else the canonical one)."""
        if (key, fast) not in self._nets:
            n = len(self.hidden) + 1
            get = lambda name: getattr(self, f"{key}_{name}").numpy()  # noqa: E731
            channels = 1 if key == "gray" else 3
            k = 0 if key == "gray" else int(key[-1])
            perm = fast_permutation(self.flavour, channels, k) if fast else None
            self._nets[key, fast] = IntNet([get(f"w{i}") for i in range(n)], [get(f"b{i}") for i in range(n)],
                                           [get(f"r{i}") for i in range(n)], perm)
        return self._nets[key, fast]


def export_state(model: FloatPredictor) -> dict[str, torch.Tensor]:
    state = {}
    for key, net in model.nets.items():
        for name, t in quantize_mlp(net).items():
            state[f"{key}_{name}"] = t
    return state


# -- neighbourhoods -----------------------------------------------------------------
def pad_image(image: np.ndarray) -> np.ndarray:
    """uint8 H×W×C -> float32 (H+2)×(W+4)×C with zeros above, left and right."""
    h, w, c = image.shape
    p = np.zeros((h + PAD_TOP, w + 2 * PAD_SIDE, c), dtype=np.float32)
    p[PAD_TOP:, PAD_SIDE : PAD_SIDE + w] = image
    return p


def neighbours_rows(padded: np.ndarray, y0: int, y1: int, width: int) -> np.ndarray:
    """Neighbour values (n, 12, C) of all pixels in rows y0…y1-1, raster order."""
    c = padded.shape[2]
    views = [padded[PAD_TOP + y0 + dy : PAD_TOP + y1 + dy, PAD_SIDE + dx : PAD_SIDE + dx + width] for dy, dx in OFFSETS]
    return np.stack(views, axis=2).reshape(-1, len(OFFSETS), c)


def coding_features(flavour: str, nb: np.ndarray, ys: np.ndarray, xs: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Features in the coding layout (n, shared + C - 1) float32, coded-channel columns left 0; and MED bases (n, C).

    The caller fills column ``shared_width + j`` once channel ``order[j]`` of the
    pixels is known: the value minus its MED base ("med"), or the value ("raw").
    """
    n, _, c = nb.shape
    sw = shared_width(flavour, c)
    feats = np.zeros((n, sw + c - 1), dtype=np.float32)
    m = len(OFFSETS) * c
    if flavour == "raw":
        feats[:, :m] = nb.reshape(n, m)
        base = None
    else:
        base = _med(nb[:, I_N, :], nb[:, I_W, :], nb[:, I_NW, :], np)
        feats[:, :m] = (nb - base[:, None, :]).reshape(n, m)
        feats[:, m : m + c] = base - 128
    feats[:, sw - 3] = (ys < 2) * FLAG_VALUE
    feats[:, sw - 2] = (xs < 2) * FLAG_VALUE
    feats[:, sw - 1] = (xs >= width - 2) * FLAG_VALUE
    return feats, base


def neighbours_torch(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a B×C×H×W batch: neighbours (N, 12, C), current values (N, C), flags (N, 3), raster order."""
    b, c, h, w = batch.shape
    p = F.pad(batch, (PAD_SIDE, PAD_SIDE, PAD_TOP, 0))
    nb = torch.stack([p[:, :, PAD_TOP + dy : PAD_TOP + dy + h, PAD_SIDE + dx : PAD_SIDE + dx + w] for dy, dx in OFFSETS], dim=-1)
    nb = nb.permute(0, 2, 3, 4, 1).reshape(-1, len(OFFSETS), c)
    cur = batch.permute(0, 2, 3, 1).reshape(-1, c)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    flags = torch.stack([ys < 2, xs < 2, xs >= w - 2], dim=-1).reshape(-1, 3).to(batch.dtype) * FLAG_VALUE
    return nb, cur, flags.repeat(b, 1)


def wavefronts(height: int, width: int) -> list[tuple[int, int]]:
    """(first y, last y + 1) of every wavefront t = 3y + x, for t = 0, 1, …"""
    out = []
    for t in range(WAVE * (height - 1) + width):
        y0 = max(0, -(-(t - (width - 1)) // WAVE))
        y1 = min(height - 1, t // WAVE)
        out.append((y0, y1 + 1))
    return out


# -- the codecs ------------------------------------------------------------------------
BAND_PIXELS = 1 << 16  # pixels per encoder batch (bounds memory for large images)


class _MLPCodec(TorchCodec):
    lossless = True
    devices = ("cpu",)  # wavefront decoding is host-bound; see the module docstring
    native_channels = (1, 3)
    channels = (1, 3)
    # 2048: the encoder holds the predictions, symbols and their wavefront order for a whole tile,
    # about 200 bytes a pixel (mlp-ans), so a tile peaks near 850 MB; images up to 2048 px a side are one tile
    tile_size = 2048
    version = "2"  # 2: tiles of 2048 (were untiled)
    format_version = 2
    libraries = ("numpy", "constriction")
    flavour: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:  # build the integer networks now: load time, and the exactness bound is checked here
            for channels in (1, 3):
                for key in net_keys(channels):
                    self.model.net(key)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint {self.checkpoint_file}: {exc}") from None

    def build_model(self, arch: dict) -> torch.nn.Module:
        if arch.get("flavour") != self.flavour:
            raise ValueError(f"checkpoint is for the {arch.get('flavour')!r} flavour, {self.name} needs {self.flavour!r}")
        return IntPredictor(arch["flavour"], arch["hidden"])

    # -- prediction ----------------------------------------------------------------
    def _all_outputs(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per coding position k: (network output (H·W, n_out), MED base or None), raster order."""
        h, w, c = image.shape
        order = coding_order(c)
        keys = net_keys(c)
        sw = shared_width(self.flavour, c)
        padded = pad_image(image)
        rows = max(1, BAND_PIXELS // w)
        outs: list[list[np.ndarray]] = [[] for _ in order]
        bases: list[list[np.ndarray]] = [[] for _ in order]
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            nb = neighbours_rows(padded, y0, y1, w)
            ys, xs = np.divmod(np.arange(y0 * w, y1 * w), w)
            feats, base = coding_features(self.flavour, nb, ys, xs, w)
            cur = image[y0:y1].reshape(-1, c).astype(np.float32)
            for k, ch in enumerate(order):
                outs[k].append(self.model.net(keys[k])(feats[:, : sw + k]))
                bases[k].append(None if base is None else base[:, ch])
                if k < c - 1:
                    feats[:, sw + k] = cur[:, ch] if base is None else cur[:, ch] - base[:, ch]
        return [
            (np.concatenate(outs[k]), None if self.flavour == "raw" else np.concatenate(bases[k]))
            for k in range(len(order))
        ]

    def _decode_all(self, shape: tuple[int, int, int], step: Any) -> np.ndarray:
        """Walk the wavefronts; ``step(k, ys, xs, out, base) -> values`` decodes channel order[k] of them."""
        h, w, c = shape
        order = coding_order(c)
        nets = [self.model.net(key) for key in net_keys(c)]
        sw = shared_width(self.flavour, c)
        pw = w + 2 * PAD_SIDE
        flat = np.zeros(((h + PAD_TOP) * pw, c), dtype=np.uint8)
        offs = np.array([dy * pw + dx for dy, dx in OFFSETS], dtype=np.int64)
        for t, (y0, y1) in enumerate(wavefronts(h, w)):
            ys = np.arange(y0, y1)
            xs = t - WAVE * ys
            idx = (ys + PAD_TOP) * pw + xs + PAD_SIDE
            nb = flat[idx[:, None] + offs].astype(np.float32)  # (n, 12, C)
            feats, base = coding_features(self.flavour, nb, ys, xs, w)
            for k, ch in enumerate(order):
                b = None if base is None else base[:, ch]
                values = step(k, ys, xs, nets[k](feats[:, : sw + k]), b)
                flat[idx, ch] = values
                if k < c - 1:
                    feats[:, sw + k] = values if b is None else values - b
        return self._crop(flat, shape)

    @staticmethod
    def _crop(flat: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        h, w, c = shape
        return np.ascontiguousarray(flat.reshape(h + PAD_TOP, w + 2 * PAD_SIDE, c)[PAD_TOP:, PAD_SIDE : PAD_SIDE + w])


def _prediction(out: np.ndarray) -> np.ndarray:
    """mlp-huffman: the network output (already ReLU'd) rounded and clamped to a pixel value."""
    return np.clip(np.rint(out[:, 0]), 0, 255).astype(np.int64)


class MLPHuffmanCodec(_MLPCodec):
    """Seed 004's MLP predictive coder: pixel prediction, residuals Huffman-coded (one table per channel)."""

    name = "mlp-huffman"
    description = "MLP predictive lossless coder (seed 004): 12-pixel causal context, Huffman-coded residuals"
    checkpoint = "mlp-huffman.pt"
    flavour = "raw"

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        h, w, c = tile.shape
        order = coding_order(c)
        sections = []
        for k, (out, _) in enumerate(self._all_outputs(tile)):
            x = tile[..., order[k]].reshape(-1).astype(np.int64)
            res = (x - _prediction(out)) % 256
            signed = np.where(res >= 128, res - 256, res)
            zz = np.where(signed >= 0, 2 * signed, -2 * signed - 1)
            sections.append(entropy.huffman_encode(zz, 256, min_used=2))  # >= 1 bit a value
        return sections

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """At least 1 bit a residual: the Huffman code has at least two symbols (``min_used=2``)."""
        h, w, c = shape
        return c * (h * w // 8)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        h, w, c = shape
        if len(sections) != c:
            raise DecodeError(f"{self.name}: {len(sections)} residual sections for {c} channels")
        residuals = []
        for s in sections:
            z = entropy.huffman_decode(s, h * w, min_used=2)  # refuses sizes the payload cannot hold
            if z.max(initial=0) > 255:
                raise DecodeError(f"{self.name}: corrupt residual table")
            residuals.append(np.where(z & 1, -((z + 1) >> 1), z >> 1).reshape(h, w))

        def step(k, ys, xs, out, base):
            return (_prediction(out) + residuals[k][ys, xs]) % 256

        return self._decode_all(shape, step)


def _laplace_params(out: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.clip(base + out[:, 0].astype(np.float64), 0.0, 255.0)
    k = np.clip(np.floor((out[:, 1].astype(np.float64) - SCALE_LOG_MIN) * SCALE_STEP + 0.5), SCALE_KMIN, len(SCALE_TABLE) - 1).astype(np.int64)
    return mean, SCALE_TABLE[k]


LAPLACE = entropy.laplace(0, 255)


class MLPAnsCodec(_MLPCodec):
    """The improved coder: the MLP predicts mean and scale of a Laplace per value, coded with rANS."""

    name = "mlp-ans"
    description = "MLP lossless coder: MED-relative context, predicted Laplace mean/scale per value, rANS"
    checkpoint = "mlp-ans.pt"
    flavour = "med"
    # 3: the rANS coder starts from a seed state, so every value costs bits and the payload bounds
    # the declared size (format 2 started empty: a run of 0s at the end cost nothing)
    version = "3"
    format_version = 3

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        h, w, c = tile.shape
        order = coding_order(c)
        outs = self._all_outputs(tile)
        # the decoder reads, per wavefront t, channel order[0] of its pixels (by y), then order[1], …
        n, kk = h * w, len(order)
        ys, xs = np.divmod(np.arange(n), w)
        perm = np.lexsort((np.tile(ys, kk), np.repeat(np.arange(kk), n), np.tile(WAVE * ys + xs, kk)))
        syms, means, scales = [], [], []
        for k, (out, base) in enumerate(outs):
            mean, scale = _laplace_params(out, base)
            syms.append(tile[..., order[k]].reshape(-1))
            means.append(mean)
            scales.append(scale)
        all_sym = np.concatenate(syms)[perm]
        all_mean = np.concatenate(means)[perm]
        all_scale = np.concatenate(scales)[perm]
        enc = entropy.RansEncoder(seeded=True)
        enc.add(all_sym, LAPLACE, all_mean, all_scale)
        return [enc.finish()]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """Seeded rANS: no value costs less than −log2 :data:`ANS_PMAX` (quantized), about 0.10 bit.

        So the decoder walks at most about 78 values per payload byte, whatever the
        header declares.
        """
        h, w, c = shape
        return entropy.rans_min_bytes(h * w * c, ANS_PMAX)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        if len(sections) != 1:
            raise DecodeError(f"{self.name}: expected 1 payload section, got {len(sections)}")
        dec = entropy.RansDecoder(sections[0], seeded=True)

        def step(k, ys, xs, out, base):
            mean, scale = _laplace_params(out, base)
            return dec.decode(LAPLACE, mean, scale)

        image = self._decode_all(shape, step)
        dec.finish()  # data left over, or not ending on the seed: corrupt
        return image


# -- training ----------------------------------------------------------------------------
def laplace_bits(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, low: int = 0, high: int = 255) -> torch.Tensor:
    """-log2 P(x) under a Laplace(mean, exp(log_scale)) discretized to integer bins on low…high.

    The tails beyond low/high belong to the end bins. Computed per case in a
    numerically stable form (no cancellation far from the mean).
    """
    b = torch.exp(log_scale)
    zl = (x - 0.5 - mean) / b
    zh = (x + 0.5 - mean) / b
    log_half = math.log(0.5)
    log_width = torch.log(-torch.expm1(-1.0 / b))  # log(1 - e^{-1/b})
    left = log_half + zh + log_width  # bin entirely below the mean
    right = log_half - zl + log_width  # bin entirely above the mean
    mid = torch.log((1 - 0.5 * torch.exp(zl.clamp(max=0)) - 0.5 * torch.exp(-zh.clamp(min=0))).clamp_min(1e-12))
    inner = torch.where(zh <= 0, left, torch.where(zl >= 0, right, mid))
    # open end bins: P(X <= low + 0.5) and P(X >= high - 0.5)
    lo = torch.where(zh <= 0, log_half + zh, torch.log1p(-0.5 * torch.exp(-zh.clamp(min=0))))
    hi = torch.where(zl >= 0, log_half - zl, torch.log1p(-0.5 * torch.exp(zl.clamp(max=0))))
    logp = torch.where(x <= low, lo, torch.where(x >= high, hi, inner))
    return -logp / math.log(2.0)


def gray_batch(batch: torch.Tensor) -> torch.Tensor:
    """uint8 B×3×H×W -> B×1×H×W BT.601 luma, rounded as Pillow's convert('L')."""
    b = batch.to(torch.int32)
    return ((b[:, 0] * 19595 + b[:, 1] * 38470 + b[:, 2] * 7471 + 0x8000) >> 16).unsqueeze(1)


class _MLPTrainable(Trainable):
    flavour: ClassVar[str]
    codec_class: ClassVar[type[_MLPCodec]]
    defaults = {"steps": 5000, "batch": 8, "patch": 40, "lr": 2e-3}
    options = {
        "hidden": Setting(int, 64, "hidden units per layer", low=4, high=512),
        "layers": Setting(int, 2, "hidden layers", low=1, high=6),
    }

    def build(self) -> torch.nn.Module:
        return FloatPredictor(self.flavour, [self.opts["hidden"]] * self.opts["layers"])

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        total = torch.zeros(())
        parts: dict[str, float] = {}
        for label, img in (("rgb", batch.float()), ("gray", gray_batch(batch).float())):
            channels = img.shape[1]
            nb, cur, flags = neighbours_torch(img)
            order = coding_order(channels)
            part = torch.zeros(())
            for k, key in enumerate(net_keys(channels)):
                feats, base = build_features(self.flavour, nb, cur, flags, order, k)
                out = model.nets[key](feats)
                target = cur[:, order[k]]
                if self.flavour == "raw":
                    part = part + (out[:, 0] - target).abs().mean()
                else:
                    log_scale = out[:, 1].clamp(SCALE_LOG_MIN, SCALE_LOG_MIN + (len(SCALE_TABLE) - 1) / SCALE_STEP)
                    part = part + laplace_bits(target, base + out[:, 0], log_scale).mean()
            total = total + part
            parts[f"{label}_{'mae' if self.flavour == 'raw' else 'bpp_est'}"] = float(part.detach())
        return total, parts

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        arch = {"flavour": self.flavour, "hidden": list(model.hidden)}
        return make_checkpoint(self.name, arch, export_state(model), meta)

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        import time

        from codecbench.core.images import to_gray

        codec = self.codec_class(checkpoint=checkpoint)
        figures: dict[str, float] = {}
        for label, convert in (("rgb", lambda im: im), ("gray", to_gray)):
            bpps = []
            for i, image in enumerate(images):
                image = convert(image)
                t0 = time.perf_counter()
                data = codec.encode(image)
                t1 = time.perf_counter()
                bpps.append(8 * len(data) / (image.shape[0] * image.shape[1]))
                if i == 0:  # check the round trip and time it on the first image
                    back = codec.decode(data)
                    t2 = time.perf_counter()
                    if not np.array_equal(back, image):
                        raise EncodeError(f"{codec.name}: round trip failed on a held-out image")
                    figures[f"{label}_encode_s (first image)"] = t1 - t0
                    figures[f"{label}_decode_s (first image)"] = t2 - t1
            figures[f"{label}_bpp (mean, real bitstreams)"] = float(np.mean(bpps))
        return figures

    def describe(self, model: torch.nn.Module) -> str:
        hidden = " → ".join(str(h) for h in model.hidden)
        nets = ", ".join(
            f"{key}: {n_features(self.flavour, 1 if key == 'gray' else 3, 0 if key == 'gray' else int(key[-1]))}"
            f" → {hidden} → {1 if self.flavour == 'raw' else 2}"
            for key in model.nets
        )
        head = (
            "ReLU after every layer including the output, which is the predicted pixel; residuals mod 256 "
            "Huffman-coded, one code table per channel"
            if self.flavour == "raw"
            else "ReLU after every hidden layer; outputs a correction to the MED prediction (the mean) and a "
            "log-scale of a discretized Laplace on 0…255, coded with rANS"
        )
        return (
            f"Four fully connected networks (G, R, B in coding order G→R→B, and gray), inputs → hidden → outputs: "
            f"{nets}. Inputs: the 12-pixel causal neighbourhood (rows y-2 and y-1 at x-2…x+2, row y at x-2, x-1) "
            f"of every channel{'' if self.flavour == 'raw' else ' relative to its MED prediction, the MED levels'}, "
            f"the already-coded channels of the pixel, and 3 image-border flags. {head}. Shipped as an integer "
            f"network (integer weights with accumulators provably below 2^24, activations 0…{AMAX}, float32-exact products) so that decoding "
            f"reproduces the encoder's predictions bit for bit; decoding runs along wavefronts t = 3y + x."
        )


class MLPHuffmanTrainable(_MLPTrainable):
    name = "mlp-huffman"
    description = "MLP pixel predictor (L1 loss) for the mlp-huffman codec"
    codec = "mlp-huffman"
    flavour = "raw"
    codec_class = MLPHuffmanCodec


class MLPAnsTrainable(_MLPTrainable):
    name = "mlp-ans"
    description = "MLP Laplace mean/scale predictor (NLL in bits) for the mlp-ans codec"
    codec = "mlp-ans"
    flavour = "med"
    codec_class = MLPAnsCodec
