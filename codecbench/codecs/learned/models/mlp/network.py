"""The MLP predictor of ``mlp-huffman`` / ``mlp-ans``: causal features, the float network and its exact integer export.

See :mod:`codecbench.codecs.learned.models.mlp` for the format.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F


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
