"""GDN and the factorized-prior entropy model of the learned autoencoders, with its latent coding.

Written here after Ballé et al. 2018 (appendix 6.1) because compressai cannot be installed beside
this project's stack (it pins numpy < 2 and pulls torchvision). :class:`FactorizedPrior` learns
one cumulative density per latent channel; :meth:`~FactorizedPrior.update_tables` freezes it into
integer frequency tables (buffers, shipped in the checkpoint), so encoder and decoder build
bit-identical rANS models on any machine. :func:`code_latent` / :func:`decode_latent` code the
rounded latent per channel; values outside a table are escapes written as zigzag varints.
The model and its tables: docs/codecs/learned.md.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from codecbench.codecs.learned.container import Reader, unzigzag, write_varint, zigzag
from codecbench.codecs.learned.coders import RansDecoder, RansEncoder, categorical
from codecbench.core.errors import DecodeError

#: the rANS models are built from integer frequencies with this total
FREQ_PRECISION = 1 << 16
#: widest table per channel (symbols), escapes beyond
MAX_TABLE = 512


# -- GDN -------------------------------------------------------------------------------
class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when it pushes x upward (compressai's trick)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad):
        x, bound = ctx.saved_tensors
        pass_through = (x >= bound) | (grad < 0)
        return pass_through.type(grad.dtype) * grad, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, torch.tensor(bound, dtype=x.dtype, device=x.device))


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016); ``inverse`` for IGDN.

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2), parametrized like
    compressai (squared, lower-bounded reparametrization of beta and gamma).
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.pedestal = 2.0**-36
        self.beta_bound = (beta_min + self.pedestal) ** 0.5
        self.gamma_bound = self.pedestal**0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self.pedestal))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self.pedestal))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = lower_bound(self.beta, self.beta_bound) ** 2 - self.pedestal
        gamma = lower_bound(self.gamma, self.gamma_bound) ** 2 - self.pedestal
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


# -- factorized prior ------------------------------------------------------------------
class FactorizedPrior(nn.Module):
    """Ballé's non-parametric per-channel density (compressai's EntropyBottleneck, re-written)."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9):
        super().__init__()
        self.channels = channels
        self.filters = tuple(filters)
        self.tail_mass = tail_mass
        dims = (1, *self.filters, 1)
        scale = init_scale ** (1 / (len(self.filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(self.filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(self.filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        target = math.log(2 / tail_mass - 1)
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        self.register_buffer("target", torch.tensor([-target, 0.0, target]))
        # integer coding tables, filled by update_tables()
        self.register_buffer("table_offset", torch.zeros(channels, dtype=torch.int32))
        self.register_buffer("table_freq", torch.zeros(channels, 1, dtype=torch.int32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the frozen table's width depends on the trained densities: take the stored shape
        key = prefix + "table_freq"
        if key in state_dict and state_dict[key].shape != self.table_freq.shape:
            self.table_freq = torch.zeros_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # density -------------------------------------------------------------
    def _logits_cdf(self, x: torch.Tensor, stop_gradient: bool = False) -> torch.Tensor:
        """x: (C, 1, N) -> logits of the CDF, (C, 1, N)."""
        logits = x
        for i in range(len(self.filters) + 1):
            m = F.softplus(self.matrices[i])
            b = self.biases[i]
            if stop_gradient:
                m, b = m.detach(), b.detach()
            logits = torch.matmul(m, logits) + b
            if i < len(self.filters):
                f = torch.tanh(self.factors[i])
                if stop_gradient:
                    f = f.detach()
                logits = logits + f * torch.tanh(logits)
        return logits

    def _pmf(self, v: torch.Tensor) -> torch.Tensor:
        """v: (C, 1, N) -> P(v - 1/2 < Y < v + 1/2), (C, 1, N)."""
        lower = self._logits_cdf(v - 0.5)
        upper = self._logits_cdf(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """P(y - 1/2 < Y < y + 1/2) per element of y (B, C, H, W), bounded below by 1e-9."""
        b, c, h, w = y.shape
        v = y.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lik = lower_bound(self._pmf(v), 1e-9)
        return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)

    def medians(self) -> torch.Tensor:
        return self.quantiles[:, 0, 1].detach()

    def aux_loss(self) -> torch.Tensor:
        """Drives ``quantiles`` to the tails and median of each density (train with its own optimizer)."""
        logits = self._logits_cdf(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self.target).sum()

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: (y_hat for the decoder (straight-through rounding), likelihoods (uniform noise))."""
        med = self.medians().view(1, -1, 1, 1)
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        lik = self.likelihood(noisy)
        y_hat = torch.round(y - med) + med
        y_hat = y + (y_hat - y).detach()
        return y_hat, lik

    # tables ----------------------------------------------------------------
    @torch.no_grad()
    def update_tables(self) -> None:
        """Freeze the densities into integer frequency tables (buffers) for coding."""
        med = self.medians()
        # the support: every integer offset (around the median) whose probability exceeds 1e-7,
        # found on a grid rather than from the aux-trained quantiles (which converge slowly)
        grid = torch.arange(-(MAX_TABLE // 2), MAX_TABLE // 2, dtype=torch.float32)
        g = self._pmf((grid.view(1, -1) + med.view(-1, 1)).view(self.channels, 1, -1))[:, 0, :]
        keep = (g > 1e-7) | (grid.view(1, -1) == 0)
        idx = torch.arange(len(grid)).view(1, -1).expand_as(keep)
        lo = grid[torch.where(keep, idx, len(grid)).min(dim=1).values].to(torch.int64)
        hi = grid[torch.where(keep, idx, -1).max(dim=1).values].to(torch.int64)
        k = int((hi - lo).max().item()) + 1
        start = lo  # symbol space: symbol = round(y - median)
        v = (start.view(-1, 1).float() + torch.arange(k, dtype=torch.float32).view(1, -1) + med.view(-1, 1)).view(self.channels, 1, k)
        pmf_all = self._pmf(v)[:, 0, :].double().clamp_min(0)
        offsets = torch.zeros(self.channels, dtype=torch.int32)
        freqs = torch.zeros(self.channels, k + 1, dtype=torch.int32)
        for ch in range(self.channels):
            n = int(hi[ch] - lo[ch]) + 1
            pmf = pmf_all[ch, :n]
            tail = max(0.0, 1.0 - float(pmf.sum()))
            probs = torch.cat([pmf, torch.tensor([max(tail, 1e-6)], dtype=torch.float64)])
            counts = quantize_pmf(probs.numpy(), FREQ_PRECISION)
            offsets[ch] = int(start[ch])
            freqs[ch, :n] = torch.from_numpy(counts[:n])
            freqs[ch, k] = int(counts[n])  # escape always in the last column
        self.table_offset = offsets
        self.table_freq = freqs

    def has_tables(self) -> bool:
        return self.table_freq.shape[1] > 1 and int(self.table_freq.sum()) > 0

    def estimated_bits(self, y: torch.Tensor) -> float:
        """Entropy estimate of the noisy latent (labelled as an estimate wherever shown)."""
        return float(-torch.log2(self.likelihood(y)).sum())


def quantize_pmf(probs: np.ndarray, total: int) -> np.ndarray:
    """Integer frequencies summing to ``total``, each >= 1 (so every symbol stays codable)."""
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum()
    n = len(probs)
    counts = np.maximum(1, np.floor(probs * (total - n)).astype(np.int64))
    diff = total - int(counts.sum())
    order = np.argsort(-probs, kind="stable")
    i = 0
    while diff != 0:
        j = order[i % n]
        if diff > 0:
            counts[j] += 1
            diff -= 1
        elif counts[j] > 1:
            counts[j] -= 1
            diff += 1
        i += 1
    return counts.astype(np.int32)


# -- coding ----------------------------------------------------------------------------
def channel_model(freq_row: np.ndarray):
    """The constriction categorical model of one channel (table + escape), from integers."""
    n = int(np.nonzero(freq_row[:-1])[0].max()) + 1 if freq_row[:-1].any() else 0
    probs = np.concatenate([freq_row[:n], freq_row[-1:]]).astype(np.float64)
    return categorical(probs / probs.sum()), n


def code_latent(prior: FactorizedPrior, y: torch.Tensor) -> tuple[bytes, bytes]:
    """Quantize a latent (1, C, h, w) and code it: (rANS payload, escape payload)."""
    offsets = prior.table_offset.cpu().numpy().astype(np.int64)
    freqs = prior.table_freq.cpu().numpy()
    med = prior.medians().cpu().view(-1, 1, 1)
    values = torch.round(y[0].detach().float().cpu() - med).numpy().astype(np.int64)  # symbols around the medians
    enc = RansEncoder()
    escapes = bytearray()
    for ch in range(values.shape[0]):
        model, n = channel_model(freqs[ch])
        sym = values[ch].ravel() - offsets[ch]
        out = (sym < 0) | (sym >= n)
        if out.any():
            for v in values[ch].ravel()[out]:
                write_varint(zigzag(int(v)), escapes)
            sym = np.where(out, n, sym)
        enc.add(sym, model)
    return enc.finish(), bytes(escapes)


#: bits of rANS coder state a payload may carry beyond its symbols' information (constriction's 64-bit head)
RANS_STATE_BITS = 64


def min_latent_bytes(prior: FactorizedPrior, count: int) -> int:
    """A lower bound on the rANS payload bytes :func:`code_latent` writes for ``count`` latents per channel.

    Every symbol costs at least −log2 of its channel's most probable symbol
    (probabilities raised by a margin for constriction's re-quantization of
    the table), so no latent of that size codes into fewer bytes, whatever
    its values; escapes only add to it. 0 for a prior without tables.
    """
    if not prior.has_tables():
        return 0
    freqs = prior.table_freq.cpu().numpy().astype(np.float64)
    pmax = np.minimum(1.0, freqs.max(axis=1) / freqs.sum(axis=1) * (1 + 2**-8) + 2**-16)
    bits = count * float(-np.log2(pmax).sum())
    return max(0, int((bits - RANS_STATE_BITS) // 8))


def decode_latent(prior: FactorizedPrior, payload: bytes, escapes: bytes, shape: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of :func:`code_latent`: the integer latent as float (1, C, h, w)."""
    c, h, w = shape
    if c != prior.channels:
        raise DecodeError(f"latent has {c} channels, the model {prior.channels}")
    offsets = prior.table_offset.cpu().numpy().astype(np.int64)
    freqs = prior.table_freq.cpu().numpy()
    dec = RansDecoder(payload)
    reader = Reader(escapes, label="latent escapes")
    out = np.empty((c, h * w), dtype=np.int64)
    for ch in range(c):
        model, n = channel_model(freqs[ch])
        sym = dec.decode(model, count=h * w).astype(np.int64)
        vals = sym + offsets[ch]
        esc = np.nonzero(sym == n)[0]
        for i in esc:
            vals[i] = unzigzag(read_escape_varint(reader))
        out[ch] = vals
    dec.finish()
    if reader.remaining:
        raise DecodeError("latent escapes: data left over")
    return torch.from_numpy(out.reshape(1, c, h, w)).float() + prior.medians().cpu().view(1, -1, 1, 1)


def read_escape_varint(reader: Reader) -> int:
    value, shift = 0, 0
    while True:
        b = reader.byte("escape varint")
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise DecodeError("latent escapes: varint too long")
