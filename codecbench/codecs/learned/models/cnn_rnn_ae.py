"""``cnn-rnn-ae``: the full-resolution recurrent coder of Toderici et al. 2017 (seed 004's CNN-RNN-AE).

ConvGRU encoder and decoder with a sign binarizer and additive reconstruction: iteration t codes the
residual x − x̂_{t−1}. Each iteration adds exactly ``bits`` bits per 16×16 block of the padded tile,
so the stream is progressive (:meth:`CnnRnnAECodec.truncate`) and the decoder reads the iteration
count from the payload size (any other size is a DecodeError before a network runs).
Network, training and bit layout: docs/codecs/learned.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from codecbench.codecs.learned.container import Container, pack_sections, unpack_sections
from codecbench.core.codec import Setting, register_codec
from codecbench.codecs.learned.base import TorchCodec, load_checkpoint, load_weights, make_checkpoint, tile_grid
from codecbench.core.errors import DecodeError, SpecError
from codecbench.training import Trainable, evaluate_codec, register_trainable

MAX_ITERATIONS = 16
DEFAULT_ARCH = {"enc": [32, 64, 96, 96], "dec": [128, 128, 128, 64, 32], "bits": 32}
#: the network's total down-sampling: one binary code of ``bits`` bits per 16×16 block per iteration
STRIDE = 16


class ConvGRU(nn.Module):
    """A convolutional GRU cell: gates from conv(x) (k×k, ``stride``) + conv(h) (``hidden_kernel``)."""

    def __init__(self, inp: int, hidden: int, stride: int = 1, kernel: int = 3, hidden_kernel: int = 1) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_x = nn.Conv2d(inp, 3 * hidden, kernel, stride=stride, padding=kernel // 2)
        self.conv_h = nn.Conv2d(hidden, 3 * hidden, hidden_kernel, padding=hidden_kernel // 2, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        gx = self.conv_x(x)
        if h is None:
            h = gx.new_zeros(gx.shape[0], self.hidden, gx.shape[2], gx.shape[3])
        xr, xz, xn = gx.chunk(3, dim=1)
        hr, hz, hn = self.conv_h(h).chunk(3, dim=1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h


class Encoder(nn.Module):
    def __init__(self, enc: Sequence[int], bits: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, enc[0], 3, stride=2, padding=1)
        self.rnns = nn.ModuleList(ConvGRU(enc[i], enc[i + 1], stride=2) for i in range(3))
        self.binarizer = nn.Conv2d(enc[3], bits, 1)

    def forward(self, r: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        """tanh activations in (−1, 1) of the binarizer (before sign), and the new states."""
        x = self.conv(r)
        new = []
        for rnn, h in zip(self.rnns, states):
            x = rnn(x, h)
            new.append(x)
        return torch.tanh(self.binarizer(x)), new


class Decoder(nn.Module):
    def __init__(self, dec: Sequence[int], bits: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(bits, dec[0], 1)
        chans = [dec[0]] + [c // 4 for c in dec[1:4]]
        self.rnns = nn.ModuleList(ConvGRU(chans[i], dec[i + 1]) for i in range(4))
        self.conv_out = nn.Conv2d(dec[4] // 4, 3, 1)
        nn.init.zeros_(self.conv_out.weight)  # start at x̂_t = x̂_0: residuals that add up cannot blow up
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, b: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        """The residual estimate (tanh, full resolution) for bits ``b`` (±1), and the new states."""
        x = self.conv_in(b)
        new = []
        for rnn, h in zip(self.rnns, states):
            h = rnn(x, h)
            new.append(h)
            x = F.pixel_shuffle(h, 2)
        return torch.tanh(self.conv_out(x)), new


class CnnRnnAE(nn.Module):
    """Encoder, binarizer and decoder of the recurrent coder (see the module docstring)."""

    def __init__(self, enc: Sequence[int], dec: Sequence[int], bits: int) -> None:
        super().__init__()
        if len(enc) != 4 or len(dec) != 5 or any(c % 4 for c in dec[1:]):
            raise ValueError("enc needs 4 channel counts, dec 5 (the last four multiples of 4)")
        self.bits = int(bits)
        self.encoder = Encoder(enc, self.bits)
        self.decoder = Decoder(dec, self.bits)

    def forward(self, x: torch.Tensor, iterations: int, stochastic: bool = True) -> list[torch.Tensor]:
        """Training pass: the reconstructions x̂_1 … x̂_k (straight-through binarization).

        ``stochastic``: b = +1 with probability (1+a)/2 (Raiko et al.); else
        b = sign(a), the test-time binarizer (for a final fine-tuning that
        removes the train/test mismatch while activations are not saturated).
        """
        enc_s, dec_s = [None] * 3, [None] * 4
        x_hat = torch.full_like(x, 0.5)
        out = []
        for _ in range(iterations):
            a, enc_s = self.encoder(x - x_hat, enc_s)
            hard = torch.rand_like(a) < (1 + a.detach()) / 2 if stochastic else a.detach() >= 0
            b = a + (torch.where(hard, 1.0, -1.0) - a).detach()
            d, dec_s = self.decoder(b, dec_s)
            x_hat = x_hat + d
            out.append(x_hat)
        return out

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, iterations: int) -> list[torch.Tensor]:
        """The bit planes (bool, 1×bits×h/16×w/16, True for +1) of iterations 1…``iterations``."""
        enc_s, dec_s = [None] * 3, [None] * 4
        x_hat = torch.full_like(x, 0.5)
        planes = []
        for _ in range(iterations):
            a, enc_s = self.encoder(x - x_hat, enc_s)
            b = a >= 0
            d, dec_s = self.decoder(torch.where(b, 1.0, -1.0), dec_s)
            x_hat = x_hat + d
            planes.append(b)
        return planes

    @torch.inference_mode()
    def decode(self, planes: Sequence[torch.Tensor]) -> torch.Tensor:
        """x̂_k (unclamped) from the bit planes of iterations 1…k."""
        dec_s = [None] * 4
        n, _, h, w = planes[0].shape
        x_hat = torch.full((n, 3, h * STRIDE, w * STRIDE), 0.5, device=planes[0].device)
        for b in planes:
            d, dec_s = self.decoder(torch.where(b, 1.0, -1.0), dec_s)
            x_hat = x_hat + d
        return x_hat


def build(arch: dict) -> CnnRnnAE:
    return CnnRnnAE([int(c) for c in arch["enc"]], [int(c) for c in arch["dec"]], int(arch["bits"]))


# -- stream layout -------------------------------------------------------------------
def iteration_bytes(bits: int, shape: tuple[int, ...]) -> int:
    """Payload bytes one iteration adds for a padded tile of ``shape`` (h, w, …): bits per 16×16 block."""
    return bits * (shape[0] // STRIDE) * (shape[1] // STRIDE) // 8


# -- codec -----------------------------------------------------------------------------
@register_codec
class CnnRnnAECodec(TorchCodec):
    name = "cnn-rnn-ae"
    description = ("Toderici 2017 recurrent (ConvGRU) coder, binarized residual iterations; one model, "
                   "the iteration count is the rate (0.125 bpp each), progressive stream (seed 004)")
    param = "iterations"
    sweep = (1, 2, 4, 8)  # the iterations it was trained for (8 per step); 9–16 are beyond its training
    settings = {"iterations": Setting(int, 8, f"residual iterations 1–{MAX_ITERATIONS}; each adds 32 bits per "
                                      "16×16 block (0.125 bpp)", low=1, high=MAX_ITERATIONS)}
    checkpoint = "cnn-rnn-ae.pt"
    stride = STRIDE
    tile_size = 1024
    native_channels = (3,)
    header_settings = ()  # the iteration count is read from the payload size: a cut stream decodes

    def build_model(self, arch: dict) -> torch.nn.Module:
        model = build(arch)
        if model.bits % 8:
            raise ValueError(f"bits={model.bits}: must be a multiple of 8 (byte-aligned iterations)")
        return model

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        planes = self.model.encode(self.to_tensor(tile), self.config["iterations"])
        return [b"".join(np.packbits(p[0].cpu().numpy().reshape(-1)).tobytes() for p in planes)]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """Exactly one iteration's bytes at least; DecodeError for a size no encoding has."""
        step = iteration_bytes(self.model.bits, shape)
        have = sum(len(s) for s in sections)
        if len(sections) != 1:
            raise DecodeError(f"{self.name}: expected 1 section per tile, got {len(sections)}")
        if have >= step and (have % step or have // step > MAX_ITERATIONS):
            raise DecodeError(f"{self.name}: tile payload of {have} bytes is not 1–{MAX_ITERATIONS} iterations of "
                              f"{step} bytes for a {shape[1]}×{shape[0]} tile")
        return step

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        h, w, _ = shape
        bits = self.model.bits
        step = iteration_bytes(bits, shape)
        payload = np.frombuffer(sections[0], dtype=np.uint8)
        planes = [
            torch.from_numpy(np.unpackbits(payload[i * step : (i + 1) * step]).astype(bool))
            .reshape(1, bits, h // STRIDE, w // STRIDE).to(self.torch_device)
            for i in range(len(payload) // step)
        ]
        return self.to_image(self.model.decode(planes).clamp_(0, 1))

    def truncate(self, data: bytes, iterations: int) -> bytes:
        """The stream ``data`` cut after its first ``iterations`` iterations (progressive decoding).

        Every tile's payload is cut to ``iterations`` × its per-iteration size
        and the container rewritten (same header; new section sizes and
        check): byte for byte what ``iterations=k`` encodes. DecodeError if
        ``data`` is no stream of this codec or holds fewer iterations.
        """
        box = Container.from_bytes(data, self.name, setting_kinds={}, format_versions=(self.format_version,))
        grid = tile_grid(box.height, box.width, self.tile_side())
        single = len(grid) == 1
        tiles = [box.sections] if single else [unpack_sections(s, label=f"{self.name} tile {i}")
                                                for i, s in enumerate(box.sections)]
        if len(tiles) != len(grid):
            raise DecodeError(f"{self.name}: stream has {len(tiles)} tile sections, expected {len(grid)}")
        cut = []
        for sections, (_, _, th, tw) in zip(tiles, grid):
            need = iterations * iteration_bytes(self.model.bits, (th + (-th) % STRIDE, tw + (-tw) % STRIDE))
            if len(sections) != 1 or len(sections[0]) < need:
                raise DecodeError(f"{self.name}: stream holds fewer than {iterations} iterations")
            cut.append([sections[0][:need]])
        box.sections = cut[0] if single else [pack_sections(s) for s in cut]
        return box.to_bytes()


# -- training --------------------------------------------------------------------------
@register_trainable
class CnnRnnAETrainable(Trainable):
    name = "cnn-rnn-ae"
    codec = "cnn-rnn-ae"
    description = "Toderici 2017 recurrent binarized coder (ConvGRU), L1 on the residual of every iteration"
    defaults = {"steps": 1000, "batch": 8, "patch": 32, "lr": 1e-3}
    options = {
        "iterations": Setting(int, MAX_ITERATIONS, "residual iterations per training step", low=1, high=MAX_ITERATIONS),
        "bits": Setting(int, DEFAULT_ARCH["bits"], "bits per 16×16 block per iteration (multiple of 8)",
                        choices=(8, 16, 32, 64)),
        "binarizer": Setting(str, "stochastic", "training binarizer: stochastic (Toderici) or sign (as at test)",
                             choices=("stochastic", "sign")),
        "init": Setting(str, "", "checkpoint to start from (fine-tuning); empty: fresh weights"),
    }

    def arch(self) -> dict:
        return {**DEFAULT_ARCH, "bits": self.opts["bits"]}

    def build(self) -> torch.nn.Module:
        model = build(self.arch())
        if self.opts["init"]:
            ck = load_checkpoint(self.opts["init"])
            if ck.get("arch") != self.arch():
                raise SpecError(f"init checkpoint {self.opts['init']} has arch {ck.get('arch')}, not {self.arch()}")
            load_weights(model, ck, self.opts["init"])
        return model

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch.float().div(255.0)
        recs = model(x, self.opts["iterations"], self.opts["binarizer"] == "stochastic")
        l1 = torch.stack([(x - r).abs().mean() for r in recs])
        parts = l1.detach()
        with torch.no_grad():
            mse = ((recs[-1].clamp(0, 1) - x) ** 2).mean()
            mse_half = ((recs[len(recs) // 2 - 1].clamp(0, 1) - x) ** 2).mean() if len(recs) > 1 else mse
        return l1.mean(), {
            "l1_first": float(parts[0]),
            "l1_last": float(parts[-1]),
            "psnr_last": float(-10 * torch.log10(mse.clamp_min(1e-10))),
            "psnr_half": float(-10 * torch.log10(mse_half.clamp_min(1e-10))),
        }

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        return make_checkpoint(self.name, self.arch(), model.state_dict(), {**meta, "iterations": self.opts["iterations"],
                                                                          "binarizer": self.opts["binarizer"],
                                                                          "init": self.opts["init"] or None})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        out: dict[str, float] = {}
        for k in (2, 4, 8, 16):
            figs = evaluate_codec(CnnRnnAECodec, checkpoint, images, iterations=k)
            out.update({f"{m} (iterations={k})": v for m, v in figs.items() if m != "images"})
        out["images"] = len(images)
        return out

    def describe(self, model: torch.nn.Module) -> str:
        e, d, b = DEFAULT_ARCH["enc"], DEFAULT_ARCH["dec"], self.opts["bits"]
        training = "stochastic" if self.opts["binarizer"] == "stochastic" else "sign, as at test,"
        return (
            f"Toderici et al. 2017 full-resolution recurrent coder, GRU variant with additive reconstruction. "
            f"Encoder: conv 3×3 s2 (3→{e[0]}), 3 ConvGRU (3×3 s2 input conv, 1×1 hidden conv; {e[1]}, {e[2]}, "
            f"{e[3]} channels) to 1/16 resolution; binarizer 1×1 conv → {b} channels, tanh, sign ({training} in "
            f"training, straight-through). Decoder: 1×1 conv {b}→{d[0]}, 4 ConvGRU ({d[1]}, {d[2]}, {d[3]}, {d[4]} "
            "channels, 3×3 input / 1×1 hidden conv) each followed by depth-to-space ×2, 1×1 conv → 3, tanh (the "
            f"residual). {self.opts['iterations']} iterations per step, loss mean over iterations of mean |x − x̂_t| "
            f"(pixels in [0, 1]). Rate: {b} bits per 16×16 block per iteration = {b / 256:g} bpp, no entropy coding."
        )
