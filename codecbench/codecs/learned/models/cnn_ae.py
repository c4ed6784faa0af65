"""``cnn-ae`` and ``cnn-ae-ft``: a compressive convolutional autoencoder with a factorized prior (seed 004).

Four strided 5×5 convolutions with GDN (after Ballé et al. 2017/2018, sized for a 2-core CPU), trained
on λ·255²·MSE + bpp; the latent is rANS-coded from integer tables frozen into the checkpoint (two
sections: payload, escapes). ``cnn-ae``: one model per rate point; ``cnn-ae-ft``: one base of
``BASE_QUALITY`` fine-tuned for every other point. ``quality`` (0–4) picks λ from :data:`LAMBDAS`.
Network and training: docs/codecs/learned.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
import torch.nn as nn

from codecbench.core.codec import Setting, register_codec
from codecbench.codecs.learned.base import CHECKPOINT_DIR, TorchCodec, load_checkpoint, load_weights, make_checkpoint
from codecbench.codecs.learned.priors import GDN, FactorizedPrior, code_latent, decode_latent, min_latent_bytes
from codecbench.core.errors import DecodeError, SpecError
from codecbench.training import Trainable, evaluate_codec, register_trainable

#: λ of each quality (rate point), as in loss = λ·255²·MSE + bpp (compressai's values of its qualities 1–5)
LAMBDAS = {0: 0.0018, 1: 0.0035, 2: 0.0067, 3: 0.0130, 4: 0.0250}
_QUALITY_HELP = "rate point 0–4 (λ = " + ", ".join(f"{v:g}" for v in LAMBDAS.values()) + ")"
BASE_QUALITY = 3
DEFAULT_ARCH = {"N": 64, "M": 96, "in_channels": 3}


class CnnAE(nn.Module):
    """g_a, g_s and the prior; ``scale`` is a fixed gain on the latent (g_a's output × scale, g_s's input ÷ scale).

    With PyTorch's default initialisation the analysis output has a standard
    deviation of about 0.05, so rounding erases it and the first few hundred
    steps mostly grow the weights; a gain of about 20 would start the latent
    at unit scale (a quantization step of 1/20 in the initial transform's
    units). It is the ``scale`` training option, stored in the checkpoint's ``arch``.
    """

    def __init__(self, N: int = 64, M: int = 96, in_channels: int = 3, scale: float = 1.0):
        super().__init__()
        self.scale = float(scale)

        def conv(i: int, o: int) -> nn.Module:
            return nn.Conv2d(i, o, 5, stride=2, padding=2)

        def deconv(i: int, o: int) -> nn.Module:
            return nn.ConvTranspose2d(i, o, 5, stride=2, padding=2, output_padding=1)

        self.g_a = nn.Sequential(conv(in_channels, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, in_channels))
        self.prior = FactorizedPrior(M)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_a(x) * self.scale

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat / self.scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.analysis(x)
        y_hat, lik = self.prior(y)
        return self.synthesis(y_hat), lik


def build(arch: dict) -> CnnAE:
    return CnnAE(int(arch["N"]), int(arch["M"]), int(arch.get("in_channels", 3)), float(arch.get("scale", 1.0)))


# -- training ------------------------------------------------------------------------
class ClippedAdam(torch.optim.Adam):
    """Adam that clips the gradient norm of its first parameter group (to 1.0) before each step.

    As compressai's example trainer: the network's parameters (group 0) are
    clipped; the entropy model's quantiles (group 1, trained by the auxiliary
    loss, whose gradients are orders of magnitude larger) are not — clipping
    them together would shrink the network's updates to almost nothing.
    """

    def __init__(self, params, lr: float, max_norm: float = 1.0):
        super().__init__(params, lr=lr)
        self.max_norm = max_norm

    def step(self, closure=None):
        params = [p for p in self.param_groups[0]["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        return super().step(closure)


@register_trainable
class CnnAETrainable(Trainable):
    name = "cnn-ae"
    codec = "cnn-ae"
    description = "conv autoencoder + factorized prior, trained from scratch on λ·255²·MSE + bpp (one model per quality)"
    defaults = {"steps": 6000, "batch": 8, "patch": 64, "lr": 1e-3}
    options = {
        "quality": Setting(int, BASE_QUALITY, _QUALITY_HELP, choices=tuple(LAMBDAS)),
        "N": Setting(int, DEFAULT_ARCH["N"], "hidden channels", low=8, high=512),
        "M": Setting(int, DEFAULT_ARCH["M"], "latent channels", low=8, high=512),
        "scale": Setting(float, 1.0, "fixed gain on the latent (g_a output × scale); ~20 starts it at unit scale",
                         low=0.01, high=1000.0),
        "init": Setting(str, "", "checkpoint to start from (fine-tuning); empty: fresh weights"),
    }

    @property
    def lmbda(self) -> float:
        return LAMBDAS[self.opts["quality"]]

    def arch(self) -> dict:
        arch = {"N": self.opts["N"], "M": self.opts["M"], "in_channels": 3}
        if self.opts["scale"] != 1.0:
            arch["scale"] = self.opts["scale"]
        return arch

    def build(self) -> torch.nn.Module:
        model = build(self.arch())
        if self.opts["init"]:
            init = Path(self.opts["init"])
            if not init.exists() and (CHECKPOINT_DIR / init).exists():
                init = CHECKPOINT_DIR / init
            ck = load_checkpoint(init)
            if ck.get("arch") != self.arch():
                raise SpecError(f"init checkpoint {self.opts['init']} has arch {ck.get('arch')}, not {self.arch()}")
            load_weights(model, ck, init)
        return model

    def configure_optimizer(self, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
        return ClippedAdam([{"params": main}, {"params": aux}], lr=lr)

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch.float().div(255.0)
        x_hat, lik = model(x)
        b, _, h, w = x.shape
        mse = torch.mean((x_hat - x) ** 2)
        bpp = -torch.log2(lik).sum() / (b * h * w)
        aux = model.prior.aux_loss()  # only the quantiles get gradients from it
        rd = self.lmbda * 255**2 * mse + bpp
        psnr = -10 * torch.log10(mse.detach().clamp_min(1e-10))
        return rd + aux, {"rd": float(rd.detach()), "bpp_est": float(bpp.detach()), "psnr": float(psnr), "aux": float(aux.detach())}

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        model.prior.update_tables()
        return make_checkpoint(self.name, self.arch(), model.state_dict(),
                               {**meta, "lambda": self.lmbda, "quality": self.opts["quality"], "init": self.opts["init"] or None})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        return evaluate_codec(CnnAECodec, checkpoint, images, quality=self.opts["quality"])

    def describe(self, model: torch.nn.Module) -> str:
        n, m = self.opts["N"], self.opts["M"]
        return (
            f"Analysis: 4 × conv 5×5 stride 2 (3→{n}→{n}→{n}→{m}) with GDN between them; synthesis: 4 × transposed "
            f"conv 5×5 stride 2 ({m}→{n}→{n}→{n}→3) with IGDN; latent {m} channels at 1/16 resolution, "
            "factorized prior (Ballé 2018 non-parametric density per channel, filters 3-3-3) frozen into integer "
            "tables and coded with constriction's rANS. Loss λ·255²·MSE + bpp (noisy-latent likelihoods), "
            f"λ = {self.lmbda}. compressai is not used: it needs torchvision, torch-geometric and numpy<2, "
            "which this project cannot install beside torch 2.13/numpy 2 — the entropy model is re-implemented "
            "in `codecbench/codecs/learned/priors.py`."
        )


@register_trainable
class CnnAEFTTrainable(CnnAETrainable):
    name = "cnn-ae-ft"
    codec = "cnn-ae-ft"
    description = "cnn-ae base model fine-tuned briefly to another quality (the seed's CNN-AE-FT approach)"
    defaults = {"steps": 1200, "batch": 8, "patch": 64, "lr": 3e-4}
    options = {
        **CnnAETrainable.options,
        "quality": Setting(int, 1, "target " + _QUALITY_HELP, choices=tuple(LAMBDAS)),
        "init": Setting(str, f"cnn-ae-ft-q{BASE_QUALITY}.pt", "base checkpoint (a path, or a file name in the shipped checkpoints)"),
    }

    def lr_at(self, step: int, steps: int, lr: float) -> float:
        # fine-tuning: constant, then cosine to lr/10 over the last half
        return super().lr_at(step, steps, lr) if step < int(0.5 * steps) else lr * (
            0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - int(0.5 * steps)) / max(1, steps - int(0.5 * steps)))))

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        return evaluate_codec(CnnAEFTCodec, checkpoint, images, quality=self.opts["quality"])


# -- codecs -----------------------------------------------------------------------------
def _shipped(names: dict[int, str]) -> tuple[int, ...]:
    """The qualities whose checkpoint is shipped (the default sweep; a missing one is a clear CheckpointError)."""
    return tuple(q for q, n in names.items() if (CHECKPOINT_DIR / n).is_file()) or (BASE_QUALITY,)


@register_codec
class CnnAECodec(TorchCodec):
    name = "cnn-ae"
    description = "convolutional autoencoder (GDN) + factorized prior, rANS-coded; one model per rate point (seed 004)"
    param = "quality"
    sweep = _shipped({q: f"cnn-ae-q{q}.pt" for q in LAMBDAS})
    settings = {"quality": Setting(int, 3, _QUALITY_HELP, choices=tuple(LAMBDAS))}
    stride = 16
    # 1024: decoding a tile peaks at about 400 MB (64-channel GDN maps at 1/2 resolution; 2048 px tiles
    # needed about 1.2 GB); images up to 1024 px a side (Kodak, BSDS, CIFAR) are one tile
    tile_size = 1024
    native_channels = (3,)
    version = "2"  # 2: tiles of 1024 (were 2048)
    format_version = 2
    prefix: ClassVar[str] = "cnn-ae"
    libraries = ("numpy", "constriction")  # the rANS payload

    def checkpoint_name(self) -> str:
        return f"{self.prefix}-q{self.config['quality']}.pt"

    def build_model(self, arch: dict) -> torch.nn.Module:
        model = build(arch)
        return model

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        x = self.to_tensor(tile)
        y = self.model.analysis(x)
        payload, escapes = code_latent(self.model.prior, y)
        return [payload, escapes]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """The rANS bound of the tile's latent (M channels at 1/16 resolution)."""
        return min_latent_bytes(self.model.prior, (shape[0] // 16) * (shape[1] // 16))

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        if len(sections) != 2:
            raise DecodeError(f"{self.name}: expected 2 sections per tile, got {len(sections)}")
        h, w, _ = shape
        m = self.model.prior.channels
        y_hat = decode_latent(self.model.prior, sections[0], sections[1], (m, h // 16, w // 16)).to(self.torch_device)
        return self.to_image(self.model.synthesis(y_hat).clamp_(0, 1))


@register_codec
class CnnAEFTCodec(CnnAECodec):
    name = "cnn-ae-ft"
    description = "cnn-ae base model fine-tuned briefly per rate point (the seed's CNN-AE-FT approach)"
    prefix = "cnn-ae-ft"
    sweep = _shipped({q: f"cnn-ae-ft-q{q}.pt" for q in LAMBDAS})
