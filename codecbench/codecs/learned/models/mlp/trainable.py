"""Training of the MLP predictor: Laplace bits of the residuals (``mlp-ans``) or their L1 (``mlp-huffman``)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch

from codecbench.core.codec import Setting
from codecbench.codecs.learned.base import make_checkpoint
from codecbench.core.errors import EncodeError
from codecbench.core.images import to_gray
from codecbench.training import Trainable, register_trainable
from codecbench.codecs.learned.models.mlp.codec import MLPAnsCodec, MLPHuffmanCodec, _MLPCodec
from codecbench.codecs.learned.models.mlp.network import (
    AMAX, SCALE_LOG_MIN, SCALE_STEP, SCALE_TABLE, FloatPredictor, build_features, coding_order, export_state, n_features,
    neighbours_torch, net_keys,
)


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


@register_trainable
class MLPHuffmanTrainable(_MLPTrainable):
    name = "mlp-huffman"
    description = "MLP pixel predictor (L1 loss) for the mlp-huffman codec"
    codec = "mlp-huffman"
    flavour = "raw"
    codec_class = MLPHuffmanCodec


@register_trainable
class MLPAnsTrainable(_MLPTrainable):
    name = "mlp-ans"
    description = "MLP Laplace mean/scale predictor (NLL in bits) for the mlp-ans codec"
    codec = "mlp-ans"
    flavour = "med"
    codec_class = MLPAnsCodec
