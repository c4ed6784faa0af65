"""The Gaussian conditional of the scale hyperprior: a zero-mean Gaussian per latent element, coded by index.

Its integer tables follow the layout of :class:`~codecbench.codecs.learned.priors.FactorizedPrior`'s,
so both code with the same rANS models on any machine (docs/codecs/learned.md).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from codecbench.codecs.learned.container import Reader, unzigzag, write_varint, zigzag
from codecbench.codecs.learned.coders import RansDecoder, RansEncoder
from codecbench.codecs.learned.priors import (
    FREQ_PRECISION,
    RANS_STATE_BITS,
    channel_model,
    lower_bound,
    quantize_pmf,
    read_escape_varint,
)
from codecbench.core.errors import DecodeError

#: compressai's default scale table: 64 scales, log-spaced from 0.11 to 256
SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (2**-0.5))


class GaussianConditional(nn.Module):
    """A zero-mean Gaussian per latent element whose scale a hyper-decoder predicts (compressai's GaussianConditional).

    Training (:meth:`forward`): the likelihood of the noisy latent under
    N(0, max(scale, 0.11)) convolved with a unit box (the rate term) and the
    straight-through rounded latent for the decoder. Coding: each predicted
    scale is mapped to an index into the fixed ``scale_table`` (the first
    table scale ≥ it, :meth:`indexes`); :meth:`update_tables` freezes, per
    table scale, an integer frequency table over ``offset … offset+K−1`` plus
    an escape symbol (the last column), in the layout of
    :class:`FactorizedPrior`'s tables, so :func:`code_indexed` codes with
    the same integer models on any machine. The tables are buffers, so they
    ship in the checkpoint.
    """

    def __init__(self, scale_table: tuple[float, ...] | None = None, tail_mass: float = 1e-9):
        super().__init__()
        table = (torch.exp(torch.linspace(math.log(SCALES_MIN), math.log(SCALES_MAX), SCALES_LEVELS))
                 if scale_table is None else torch.tensor(scale_table))
        self.tail_mass = tail_mass
        self.scale_bound = float(table[0])
        self.register_buffer("scale_table", table.double())
        self.register_buffer("table_offset", torch.zeros(len(table), dtype=torch.int32))
        self.register_buffer("table_freq", torch.zeros(len(table), 1, dtype=torch.int32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "table_freq"
        if key in state_dict and state_dict[key].shape != self.table_freq.shape:
            self.table_freq = torch.zeros_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def likelihood(self, y: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """P(y − 1/2 < Y < y + 1/2) for Y ~ N(0, max(scales, 0.11)), bounded below by 1e-9."""
        s = lower_bound(scales, self.scale_bound)
        v = torch.abs(y)
        lik = _std_normal_cdf((0.5 - v) / s) - _std_normal_cdf((-0.5 - v) / s)
        return lower_bound(lik, 1e-9)

    def forward(self, y: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: (straight-through rounded y for the decoder, likelihoods of the noisy y)."""
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        y_hat = y + (torch.round(y) - y).detach()
        return y_hat, self.likelihood(noisy, scales)

    def indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """Index of each scale into ``scale_table``: the number of table entries below it (int64, clamped)."""
        table = self.scale_table.to(scales.device, torch.float64)
        return torch.bucketize(scales.double().clamp_min(self.scale_bound), table[:-1])

    @torch.no_grad()
    def update_tables(self) -> None:
        """Freeze every table scale's discretized Gaussian into integer frequencies (buffers)."""
        multiplier = -float(torch.special.ndtri(torch.tensor(self.tail_mass / 2, dtype=torch.float64)))
        scales = self.scale_table.double()
        half = torch.ceil(scales * multiplier).to(torch.int64)
        k = int(2 * half.max()) + 1
        offsets = torch.zeros(len(scales), dtype=torch.int32)
        freqs = torch.zeros(len(scales), k + 1, dtype=torch.int32)
        for i, (s, h) in enumerate(zip(scales, half.tolist())):
            v = torch.arange(-h, h + 1, dtype=torch.float64)
            pmf = _std_normal_cdf((v + 0.5) / s) - _std_normal_cdf((v - 0.5) / s)
            tail = max(0.0, 1.0 - float(pmf.sum()))
            counts = quantize_pmf(torch.cat([pmf, torch.tensor([max(tail, 1e-6)], dtype=torch.float64)]).numpy(),
                                  FREQ_PRECISION)
            n = 2 * h + 1
            offsets[i] = -h
            freqs[i, :n] = torch.from_numpy(counts[:n])
            freqs[i, k] = int(counts[n])
        self.table_offset = offsets
        self.table_freq = freqs

    def has_tables(self) -> bool:
        return self.table_freq.shape[1] > 1 and int(self.table_freq.sum()) > 0


def code_indexed(gc: GaussianConditional, y: torch.Tensor, indexes: torch.Tensor) -> tuple[bytes, bytes]:
    """Round ``y`` (any shape) and code each element with the table of its index: (rANS payload, escapes).

    Elements are grouped by index (raster order within a group), one rANS
    batch per index present; :func:`decode_indexed` regroups them from the
    same indexes. Values outside a table are escapes, as in :func:`code_latent`.
    """
    values = torch.round(y.detach().double().cpu()).numpy().astype(np.int64).ravel()
    idx = indexes.cpu().numpy().astype(np.int64).ravel()
    if values.shape != idx.shape:
        raise ValueError(f"{values.shape[0]} latents but {idx.shape[0]} indexes")
    offsets = gc.table_offset.cpu().numpy().astype(np.int64)
    freqs = gc.table_freq.cpu().numpy()
    enc = RansEncoder()
    escapes = bytearray()
    for i in np.unique(idx):
        model, n = channel_model(freqs[i])
        vals = values[idx == i]
        sym = vals - offsets[i]
        out = (sym < 0) | (sym >= n)
        for v in vals[out]:
            write_varint(zigzag(int(v)), escapes)
        enc.add(np.where(out, n, sym), model)
    return enc.finish(), bytes(escapes)


def decode_indexed(gc: GaussianConditional, payload: bytes, escapes: bytes, indexes: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`code_indexed`: the integer latent as float64, shaped like ``indexes``."""
    idx = indexes.cpu().numpy().astype(np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= gc.table_freq.shape[0]):
        raise DecodeError("scale index outside the table")
    offsets = gc.table_offset.cpu().numpy().astype(np.int64)
    freqs = gc.table_freq.cpu().numpy()
    dec = RansDecoder(payload)
    reader = Reader(escapes, label="latent escapes")
    out = np.empty(idx.shape, dtype=np.int64)
    for i in np.unique(idx):
        model, n = channel_model(freqs[i])
        where = np.nonzero(idx == i)[0]
        sym = dec.decode(model, count=len(where)).astype(np.int64)
        vals = sym + offsets[i]
        for j in np.nonzero(sym == n)[0]:
            vals[j] = unzigzag(read_escape_varint(reader))
        out[where] = vals
    dec.finish()
    if reader.remaining:
        raise DecodeError("latent escapes: data left over")
    return torch.from_numpy(out.reshape(tuple(indexes.shape))).double()


def min_indexed_bytes(gc: GaussianConditional, indexes: torch.Tensor) -> int:
    """A lower bound on the rANS payload bytes :func:`code_indexed` writes for latents of these ``indexes``.

    As :func:`min_latent_bytes`: every symbol costs at least −log2 of its
    table's most probable symbol (with the margin for constriction's
    re-quantization), whatever the values. 0 for tables not frozen.
    """
    if not gc.has_tables():
        return 0
    freqs = gc.table_freq.cpu().numpy().astype(np.float64)
    pmax = np.minimum(1.0, freqs.max(axis=1) / freqs.sum(axis=1) * (1 + 2**-8) + 2**-16)
    counts = np.bincount(indexes.cpu().numpy().astype(np.int64).ravel(), minlength=len(pmax))[: len(pmax)]
    bits = float((counts * -np.log2(pmax)).sum())
    return max(0, int((bits - RANS_STATE_BITS) // 8))
