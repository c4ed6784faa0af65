"""``hyperprior``: Ballé et al. 2018 scale hyperprior, the field's standard learned anchor.

compressai's ``ScaleHyperprior`` sized for a 2-core CPU: the ``cnn-ae`` transforms (so a ``cnn-ae``
checkpoint can warm-start them), z with a factorized prior (:func:`code_latent`) and y with a
Gaussian conditional (:func:`code_indexed`); four sections per tile. Every network pass runs on one
torch thread and the hyper-synthesis in float64, so stream and decoded image are the same for any
``threads``. ``quality`` (0–4) picks λ from :data:`~codecbench.codecs.learned.models.cnn_ae.LAMBDAS`.
Network and determinism: docs/codecs/learned.md.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
import torch.nn as nn

from codecbench.core.codec import Setting, register_codec
from codecbench.codecs.learned.base import (
    CHECKPOINT_DIR, CheckpointError, TorchCodec, load_checkpoint, load_weights, make_checkpoint,
)
from codecbench.codecs.learned.threads import single_thread
from codecbench.codecs.learned.models.cnn_ae import LAMBDAS, ClippedAdam, CnnAE
from codecbench.codecs.learned.gaussian import GaussianConditional, code_indexed, decode_indexed, min_indexed_bytes
from codecbench.codecs.learned.priors import FactorizedPrior, code_latent, decode_latent, min_latent_bytes
from codecbench.core.errors import DecodeError, SpecError
from codecbench.training import Trainable, evaluate_codec, register_trainable

_QUALITY_HELP = "rate point 0–4 (λ = " + ", ".join(f"{v:g}" for v in LAMBDAS.values()) + ")"
DEFAULT_ARCH = {"N": 64, "M": 96, "in_channels": 3, "scale": 20.0}


class ScaleHyperprior(CnnAE):
    """cnn-ae's g_a/g_s plus h_a, h_s, the factorized prior over z and the Gaussian conditional over y."""

    def __init__(self, N: int = 64, M: int = 96, in_channels: int = 3, scale: float = 1.0):
        super().__init__(N, M, in_channels, scale)
        del self.prior  # cnn-ae's prior over y; here y is conditional on z
        self.h_a = nn.Sequential(
            nn.Conv2d(M, N, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(N, N, 5, stride=2, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(N, N, 5, stride=2, padding=2),
        )
        self.h_s = nn.Sequential(
            nn.ConvTranspose2d(N, N, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(N, N, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(N, M, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.z_prior = FactorizedPrior(N)
        self.y_cond = GaussianConditional()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (x_hat, y_hat, likelihoods of y, likelihoods of z)."""
        y = self.analysis(x)
        z = self.h_a(torch.abs(y))
        z_hat, z_lik = self.z_prior(z)
        y_hat, y_lik = self.y_cond(y, self.h_s(z_hat))
        return self.synthesis(y_hat), y_hat, y_lik, z_lik

    def update_tables(self) -> None:
        self.z_prior.update_tables()
        self.y_cond.update_tables()


def build(arch: dict) -> ScaleHyperprior:
    return ScaleHyperprior(int(arch["N"]), int(arch["M"]), int(arch.get("in_channels", 3)), float(arch.get("scale", 1.0)))


def _resolve(name: str) -> Path:
    """A checkpoint path, or a file name among the shipped checkpoints."""
    path = Path(name)
    return path if path.exists() or not (CHECKPOINT_DIR / path).exists() else CHECKPOINT_DIR / path


def warm_start(model: ScaleHyperprior, arch: dict, init: str, init_transforms: str) -> None:
    """Load ``init`` (a hyperprior checkpoint: everything), then ``init_transforms`` (a cnn-ae one: g_a and g_s)."""
    if init:
        ck = load_checkpoint(_resolve(init))
        if ck.get("arch") != arch:
            raise SpecError(f"init checkpoint {init} has arch {ck.get('arch')}, not {arch}")
        load_weights(model, ck, init)
    if init_transforms:
        ck = load_checkpoint(_resolve(init_transforms))
        their_arch = ck.get("arch") if isinstance(ck.get("arch"), dict) else {}
        theirs = {k: their_arch.get(k) for k in ("N", "M", "in_channels", "scale")}
        if theirs != {k: arch.get(k) for k in theirs}:
            raise SpecError(f"init_transforms checkpoint {init_transforms} has arch {ck.get('arch')}, not {arch}")
        load_weights(model, ck, init_transforms, only=("g_a.", "g_s."))


# -- training ------------------------------------------------------------------------
@register_trainable
class HyperpriorTrainable(Trainable):
    name = "hyperprior"
    codec = "hyperprior"
    description = "Ballé 2018 scale hyperprior, trained on λ·255²·MSE + bpp (one model per quality)"
    defaults = {"steps": 3000, "batch": 8, "patch": 128, "lr": 1e-4}
    options = {
        "quality": Setting(int, 3, _QUALITY_HELP, choices=tuple(LAMBDAS)),
        "N": Setting(int, DEFAULT_ARCH["N"], "hidden and z channels", low=8, high=512),
        "M": Setting(int, DEFAULT_ARCH["M"], "y latent channels", low=8, high=512),
        "scale": Setting(float, DEFAULT_ARCH["scale"], "fixed gain on the latent (g_a output × scale)", low=0.01, high=1000.0),
        "init": Setting(str, "", "hyperprior checkpoint to start from (all weights); empty: fresh weights"),
        "init_transforms": Setting(str, "", "cnn-ae checkpoint whose g_a/g_s start the transforms (after init)"),
    }

    @property
    def lmbda(self) -> float:
        return LAMBDAS[self.opts["quality"]]

    def arch(self) -> dict:
        return {"N": self.opts["N"], "M": self.opts["M"], "in_channels": 3, "scale": self.opts["scale"]}

    def build(self) -> torch.nn.Module:
        model = build(self.arch())
        warm_start(model, self.arch(), self.opts["init"], self.opts["init_transforms"])
        return model

    def configure_optimizer(self, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
        return ClippedAdam([{"params": main}, {"params": aux}], lr=lr)

    def rd_loss(self, model: ScaleHyperprior, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, float]]:
        """(λ·255²·MSE + bpp, x_hat, y_hat, log parts) for a float batch in [0, 1]."""
        x_hat, y_hat, y_lik, z_lik = model(x)
        b, _, h, w = x.shape
        mse = torch.mean((x_hat - x) ** 2)
        bpp_y = -torch.log2(y_lik).sum() / (b * h * w)
        bpp_z = -torch.log2(z_lik).sum() / (b * h * w)
        rd = self.lmbda * 255**2 * mse + bpp_y + bpp_z
        psnr = -10 * torch.log10(mse.detach().clamp_min(1e-10))
        return rd, x_hat, y_hat, {"rd": float(rd.detach()), "bpp_y": float(bpp_y.detach()), "bpp_z": float(bpp_z.detach()),
                           "psnr": float(psnr)}

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        rd, _, _, parts = self.rd_loss(model, batch.float().div(255.0))
        aux = model.z_prior.aux_loss()  # only the quantiles get gradients from it
        return rd + aux, {**parts, "aux": float(aux.detach())}

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        model.update_tables()
        return make_checkpoint(self.name, self.arch(), model.state_dict(),
                               {**meta, "lambda": self.lmbda, "quality": self.opts["quality"],
                                "init": self.opts["init"] or None, "init_transforms": self.opts["init_transforms"] or None})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        return evaluate_codec(HyperpriorCodec, checkpoint, images, quality=self.opts["quality"])

    def describe(self, model: torch.nn.Module) -> str:
        n, m = self.opts["N"], self.opts["M"]
        return (
            f"Scale hyperprior (Ballé et al. 2018; compressai's ScaleHyperprior at N={n}, M={m}). g_a: 4 × conv 5×5/2 "
            f"(3→{n}→{n}→{n}→{m}) with GDN, latent gain ×{self.opts['scale']:g}; g_s: the mirror with IGDN. h_a: conv 3×3 "
            f"({m}→{n}), ReLU, 2 × conv 5×5/2 on |y|; z ({n} channels, 1/64 resolution) has a factorized prior "
            f"(filters 3-3-3); h_s: 2 × deconv 5×5/2, ReLU, conv 3×3 ({n}→{m}), ReLU → the scales of a zero-mean "
            "Gaussian over y. Coding: z with the factorized prior's integer tables, y with one integer table per "
            "entry of compressai's scale table (64 scales, 0.11–256, log-spaced; scale → first table entry ≥ it), "
            "both with constriction's rANS; the hyper-synthesis runs in float64 on one thread on both sides. "
            f"Loss λ·255²·MSE + bpp(y) + bpp(z) (noisy-latent likelihoods), λ = {self.lmbda}."
        )


# -- codec ------------------------------------------------------------------------------
def _shipped(prefix: str) -> tuple[int, ...]:
    """The qualities whose checkpoint is shipped (the default sweep)."""
    return tuple(q for q in LAMBDAS if (CHECKPOINT_DIR / f"{prefix}-q{q}.pt").is_file()) or (3,)


@register_codec
class HyperpriorCodec(TorchCodec):
    name = "hyperprior"
    description = "Ballé 2018 scale hyperprior (GDN transforms, Gaussian conditional on a hyper-latent), rANS-coded"
    param = "quality"
    prefix: ClassVar[str] = "hyperprior"
    sweep = _shipped("hyperprior")
    settings = {"quality": Setting(int, 3, _QUALITY_HELP, choices=tuple(LAMBDAS))}
    stride = 64
    tile_size = 1024  # as cnn-ae: a Kodak/BSDS image is one tile; decoding one peaks at a few hundred MB
    native_channels = (3,)
    version = "1"
    format_version = 1
    libraries = ("numpy", "constriction")

    def checkpoint_name(self) -> str:
        return f"{self.prefix}-q{self.config['quality']}.pt"

    def build_model(self, arch: dict) -> torch.nn.Module:
        model = build(arch)
        return model

    def _load_model(self, ckpt: dict, path: Path) -> torch.nn.Module:
        model = super()._load_model(ckpt, path)
        if not (model.z_prior.has_tables() and model.y_cond.has_tables()):
            raise CheckpointError(f"checkpoint {path} has no frozen coding tables (export it with the trainer)")
        #: the hyper-synthesis in float64 on the CPU: the scale indexes both sides derive from z
        self.h_s64 = copy.deepcopy(model.h_s).cpu().double().eval()
        return model

    def scale_indexes(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Scale-table indexes of y from the decoded z (float64 on the CPU: identical on both sides)."""
        scales = self.h_s64(z_hat.cpu().double())
        return self.model.y_cond.indexes(scales)

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        with single_thread():
            return self._encode_tile(tile)

    def _encode_tile(self, tile: np.ndarray) -> list[bytes]:
        y = self.model.analysis(self.to_tensor(tile))
        z = self.model.h_a(torch.abs(y))
        z_payload, z_escapes = code_latent(self.model.z_prior, z)
        med = self.model.z_prior.medians().cpu().view(1, -1, 1, 1)
        z_hat = torch.round(z.cpu().float() - med) + med  # exactly what decode_latent returns
        y_payload, y_escapes = code_indexed(self.model.y_cond, y, self.scale_indexes(z_hat))
        return [z_payload, z_escapes, y_payload, y_escapes]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """The rANS bound of the tile's z (N channels at 1/64 resolution); y's tables allow near-0-bit symbols."""
        return min_latent_bytes(self.model.z_prior, (shape[0] // 64) * (shape[1] // 64))

    def decode_y(self, sections: list[bytes], shape: tuple[int, int, int]) -> torch.Tensor:
        """The decoded latent y_hat (1, M, h/16, w/16) on the codec's device.

        After z is decoded (cheap, 1/64 resolution), a y payload shorter than
        its scales allow is a DecodeError before the y decoder or synthesis run.
        """
        if len(sections) != 4:
            raise DecodeError(f"{self.name}: expected 4 sections per tile, got {len(sections)}")
        h, w, _ = shape
        n = self.model.z_prior.channels
        z_hat = decode_latent(self.model.z_prior, sections[0], sections[1], (n, h // 64, w // 64))
        idx = self.scale_indexes(z_hat)
        need = min_indexed_bytes(self.model.y_cond, idx)
        if len(sections[2]) < need:
            raise DecodeError(f"{self.name}: y payload of {len(sections[2])} bytes; its scales need at least {need} "
                              "(corrupt or hostile stream)")
        y_hat = decode_indexed(self.model.y_cond, sections[2], sections[3], idx)
        return y_hat.float().to(self.torch_device)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        with single_thread():
            return self.to_image(self.model.synthesis(self.decode_y(sections, shape)).clamp_(0, 1))
