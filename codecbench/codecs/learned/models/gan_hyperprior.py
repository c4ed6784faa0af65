"""``gan-hyperprior``: seed 003's CNN+GAN generative codec, read as a HiFiC-like model (Mentzer et al. 2020).

The codec is the ``hyperprior`` codec with other checkpoints. Training is HiFiC's second stage: GAN
fine-tuning of a shipped ``hyperprior-q<k>.pt`` with a :class:`LatentConditionalDiscriminator` that
sees the image with the quantized latent ŷ; both are updated in one backward pass. Only the generator
ships; no LPIPS term (its pretrained weights cannot be fetched here). Details: docs/codecs/learned.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from codecbench.core.codec import Setting, register_codec
from codecbench.codecs.learned.base import make_checkpoint
from codecbench.codecs.learned.models.cnn_ae import ClippedAdam
from codecbench.training import evaluate_codec, register_trainable
from codecbench.codecs.learned.models.hyperprior import HyperpriorCodec, HyperpriorTrainable, ScaleHyperprior, _shipped, build, warm_start


class LatentConditionalDiscriminator(nn.Module):
    """HiFiC's patch discriminator, narrowed: logits per 1/8-resolution patch of (image, upsampled ŷ)."""

    def __init__(self, M: int, cond_channels: int = 12, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        self.cond = nn.Conv2d(M, cond_channels, 3, padding=1)
        layers: list[nn.Module] = []
        c = 3 + cond_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = w
        layers.append(nn.Conv2d(c, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        cond = F.interpolate(F.leaky_relu(self.cond(y_hat), 0.2), size=x.shape[-2:], mode="nearest")
        return self.net(torch.cat([x, cond], dim=1))


class ScaledGroupsAdam(ClippedAdam):
    """:class:`ClippedAdam` whose param groups may carry an ``lr_scale``: the step of such a group uses lr × lr_scale.

    The training loop sets one learning rate (and its schedule) for every
    group; the discriminator, trained from scratch against a generator that
    starts converged, needs a larger one (here 10×) to learn anything in a
    short fine-tuning.
    """

    def step(self, closure=None):
        saved = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] = g["lr"] * g.get("lr_scale", 1.0)
        try:
            return super().step(closure)
        finally:
            for g, lr in zip(self.param_groups, saved):
                g["lr"] = lr


class GanHyperprior(nn.Module):
    """The generator ``g`` (a :class:`ScaleHyperprior`) and its discriminator ``d``, trained together."""

    def __init__(self, g: ScaleHyperprior, d: LatentConditionalDiscriminator):
        super().__init__()
        self.g = g
        self.d = d


@register_trainable
class GanHyperpriorTrainable(HyperpriorTrainable):
    name = "gan-hyperprior"
    codec = "gan-hyperprior"
    description = "hyperprior fine-tuned with a latent-conditional GAN (HiFiC-like, seed 003): λ·rate + MSE + β·adversarial"
    defaults = {"steps": 300, "batch": 8, "patch": 128, "lr": 1e-4}
    options = {
        **HyperpriorTrainable.options,
        "init": Setting(str, "", "stage-1 hyperprior checkpoint (a path, or a shipped file name; default hyperprior-q<quality>.pt)"),
        "beta": Setting(float, 0.15, "weight of the generator's adversarial loss (HiFiC: 0.15)", low=0.0, high=100.0),
        "d_lr_scale": Setting(float, 10.0, "discriminator learning rate ÷ the generator's", low=0.01, high=1000.0),
    }

    def build(self) -> torch.nn.Module:
        g = build(self.arch())
        warm_start(g, self.arch(), self.opts["init"] or f"hyperprior-q{self.opts['quality']}.pt", self.opts["init_transforms"])
        return GanHyperprior(g, LatentConditionalDiscriminator(self.opts["M"]))

    def configure_optimizer(self, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        main = [p for n, p in model.g.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in model.g.named_parameters() if n.endswith("quantiles")]
        return ScaledGroupsAdam([{"params": main}, {"params": aux},
                                 {"params": list(model.d.parameters()), "lr_scale": self.opts["d_lr_scale"]}], lr=lr)

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch.float().div(255.0)
        rd, x_hat, y_hat, parts = self.rd_loss(model.g, x)
        cond = y_hat.detach()
        frozen = {k: v.detach() for k, v in model.d.named_parameters()}
        g_adv = F.softplus(-functional_call(model.d, frozen, (x_hat, cond))).mean()
        d_loss = F.softplus(-model.d(x, cond)).mean() + F.softplus(model.d(x_hat.detach(), cond)).mean()
        aux = model.g.z_prior.aux_loss()
        total = rd + self.opts["beta"] * g_adv + d_loss + aux
        return total, {**parts, "g_adv": float(g_adv.detach()), "d_loss": float(d_loss.detach()), "aux": float(aux.detach())}

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        model.g.update_tables()
        return make_checkpoint(self.name, self.arch(), model.g.state_dict(),
                               {**meta, "lambda": self.lmbda, "quality": self.opts["quality"], "beta": self.opts["beta"],
                                "init": self.opts["init"] or f"hyperprior-q{self.opts['quality']}.pt"})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        return evaluate_codec(GanHyperpriorCodec, checkpoint, images, quality=self.opts["quality"])

    def describe(self, model: torch.nn.Module) -> str:
        return (
            "Generator: " + super().describe(model.g) + " Stage 2 (this checkpoint): GAN fine-tuning of the stage-1 "
            f"hyperprior checkpoint on λ·255²·MSE + bpp + β·L_adv, β = {self.opts['beta']:g}, non-saturating loss, "
            f"discriminator learning rate {self.opts['d_lr_scale']:g}× the generator's; "
            "discriminator (not shipped): ŷ → conv 3×3 (→12) → nearest-upsampled ×16, concatenated with the image, "
            "3 × conv 4×4/2 (32, 64, 128) with LeakyReLU(0.2), conv 1×1 → patch logits. No LPIPS term (no "
            "pretrained weights here)."
        )


@register_codec
class GanHyperpriorCodec(HyperpriorCodec):
    name = "gan-hyperprior"
    description = "hyperprior generator fine-tuned with a latent-conditional GAN (HiFiC-like; seed 003's generative codec)"
    prefix = "gan-hyperprior"
    sweep = _shipped("gan-hyperprior")
