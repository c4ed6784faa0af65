"""``gan-ae``: seed 004's GAN-AE (L2+W) and GAN-AE (L2+DC): the ``cnn-ae`` codec fine-tuned adversarially.

The codec is ``cnn-ae`` unchanged (same network, stream and decoder); ``loss`` picks the weights:
``w`` (a WGAN-GP critic) or ``dc`` (a DCGAN-style discriminator). :class:`GanAETrainable` starts from a
shipped ``cnn-ae-q{quality}`` and adds ``adv_weight`` × the generator term to its RD loss; the patch
:class:`Critic` trains alongside in the same backward pass and is not shipped.
Losses and training: docs/codecs/learned.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from codecbench.core.codec import Setting, register_codec
from codecbench.codecs.learned.models.cnn_ae import (
    LAMBDAS,
    ClippedAdam,
    CnnAECodec,
    CnnAETrainable,
    _QUALITY_HELP,
    _shipped,
)
from codecbench.training import evaluate_codec, register_trainable

LOSSES = ("w", "dc")
#: weight of the gradient penalty of WGAN-GP (Gulrajani et al.)
GP_WEIGHT = 10.0


class Critic(nn.Module):
    """DCGAN-style patch critic: 3 × [conv 4×4 stride 2, LeakyReLU 0.2] (3→32→64→128), conv 3×3 → 1 score a position.

    No normalisation layers (WGAN-GP's gradient penalty is per sample; batch
    norm would couple the samples); :meth:`forward` returns one raw score per
    image (the mean over positions).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        chans = [3, width, 2 * width, 4 * width]
        for i, o in zip(chans, chans[1:]):
            layers += [nn.Conv2d(i, o, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(chans[-1], 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).mean(dim=(1, 2, 3))


class GanPair(nn.Module):
    """The autoencoder being fine-tuned and its critic; behaves as the autoencoder for the RD loss.

    ``forward`` is the autoencoder's (reconstruction, likelihoods) and keeps
    the reconstruction in ``last`` for the adversarial terms; ``prior`` is
    the autoencoder's.
    """

    def __init__(self, ae: nn.Module, critic: Critic) -> None:
        super().__init__()
        self.ae = ae
        self.critic = critic
        self.last: torch.Tensor | None = None

    @property
    def prior(self) -> nn.Module:
        return self.ae.prior

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_hat, lik = self.ae(x)
        self.last = x_hat
        return x_hat, lik


def adversarial_terms(critic: Critic, x: torch.Tensor, x_hat: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(generator term, critic loss) of ``loss`` ("w" or "dc") for real ``x`` and reconstruction ``x_hat``.

    The generator term's gradient reaches ``x_hat`` only (the critic's
    parameters enter detached); the critic loss's reaches the critic only.
    """
    frozen = {n: p.detach() for n, p in critic.named_parameters()}
    fake_g = torch.func.functional_call(critic, frozen, (x_hat,))
    fake, real = critic(x_hat.detach()), critic(x)
    if loss == "w":
        eps = torch.rand(x.shape[0], 1, 1, 1, device=x.device)
        mix = (eps * x + (1 - eps) * x_hat.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
        penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        return -fake_g.mean(), fake.mean() - real.mean() + GP_WEIGHT * penalty
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    d_loss = F.binary_cross_entropy_with_logits(real, ones) + F.binary_cross_entropy_with_logits(fake, zeros)
    return F.binary_cross_entropy_with_logits(fake_g, torch.ones_like(fake_g)), d_loss


@register_trainable
class GanAETrainable(CnnAETrainable):
    name = "gan-ae"
    codec = "gan-ae"
    description = "cnn-ae fine-tuned with L2 rate–distortion + a small adversarial term (loss=w: WGAN-GP, dc: DCGAN)"
    defaults = {"steps": 800, "batch": 8, "patch": 64, "lr": 1e-4}
    options = {
        **CnnAETrainable.options,
        "loss": Setting(str, "w", "adversarial loss: w (WGAN-GP critic) or dc (DCGAN cross-entropy)", choices=LOSSES),
        "adv_weight": Setting(float, 0.01, "weight of the generator term beside λ·255²·MSE + bpp", low=0.0, high=10.0),
        "init": Setting(str, "", "checkpoint to fine-tune (empty: the shipped cnn-ae-q{quality}.pt)"),
        "scale": Setting(float, 20.0, "latent gain of the init checkpoint's arch (the shipped cnn-ae's is 20)",
                         low=0.01, high=1000.0),
    }

    def build(self) -> torch.nn.Module:
        if not self.opts["init"]:
            self.opts["init"] = f"cnn-ae-q{self.opts['quality']}.pt"
        return GanPair(super().build(), Critic())

    def configure_optimizer(self, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        ae = model.ae
        main = [p for n, p in ae.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in ae.named_parameters() if n.endswith("quantiles")]
        # the critic with Adam β = (0.5, 0.9) (WGAN-GP's and DCGAN's choice); only group 0 is clipped
        return ClippedAdam([{"params": main}, {"params": aux},
                            {"params": list(model.critic.parameters()), "betas": (0.5, 0.9)}], lr=lr)

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        total, parts = super().loss(model, batch)
        x = batch.float().div(255.0)
        g_term, d_loss = adversarial_terms(model.critic, x, model.last, self.opts["loss"])
        total = total + self.opts["adv_weight"] * g_term + d_loss
        return total, {**parts, "g_adv": float(g_term.detach()), "critic": float(d_loss.detach())}

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        return super().export(model.ae, {**meta, "loss": self.opts["loss"], "adv_weight": self.opts["adv_weight"]})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        return evaluate_codec(GanAECodec, checkpoint, images, quality=self.opts["quality"], loss=self.opts["loss"])

    def describe(self, model: torch.nn.Module) -> str:
        kind = ("WGAN-GP critic (Wasserstein loss, gradient penalty 10)" if self.opts["loss"] == "w"
                else "DCGAN discriminator (binary cross-entropy, non-saturating generator loss)")
        return (
            super().describe(model.ae)
            + f" Fine-tuned from `{self.opts['init']}` on λ·255²·MSE + bpp + {self.opts['adv_weight']:g} × the "
            f"generator term of a {kind}; critic: 3 × conv 4×4 stride 2 (3→32→64→128, LeakyReLU 0.2) + conv 3×3 → 1, "
            "scores averaged over positions, trained simultaneously (not shipped)."
        )


@register_codec
class GanAECodec(CnnAECodec):
    name = "gan-ae"
    description = "cnn-ae fine-tuned with an adversarial loss (loss=w: WGAN-GP, dc: DCGAN); seed 004's GAN-AE (L2+W/DC)"
    settings = {
        "quality": Setting(int, 4, _QUALITY_HELP + "; shipped: 1–4", choices=tuple(LAMBDAS)),
        "loss": Setting(str, "w", "adversarial loss of the fine-tuning: w (WGAN-GP) or dc (DCGAN)", choices=LOSSES),
    }
    sweep = _shipped({q: f"gan-ae-w-q{q}.pt" for q in LAMBDAS})
    prefix = "gan-ae"

    def checkpoint_name(self) -> str:
        return f"{self.prefix}-{self.config['loss']}-q{self.config['quality']}.pt"
