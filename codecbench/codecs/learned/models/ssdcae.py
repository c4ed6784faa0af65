"""``ssdcae``: the stacked denoising convolutional autoencoder of seeds 000/001, latent Deflate-compressed.

Strided-convolution encoder and sub-pixel decoder with PReLU, trained as a denoising autoencoder
(MSE + (1 − SSIM)); not rate-trained: the latent is quantized to ``bits`` bits per value and
Deflate-compressed. Images are coded as 128×128 tiles, run in batches of at most
:data:`BATCH_TILES`. Architecture, quantization and deviations from the seeds: docs/codecs/learned.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from codecbench.core.codec import Setting, register_codec
from codecbench.codecs.learned.base import TorchCodec, make_checkpoint
from codecbench.codecs.learned.coders import deflate, inflate
from codecbench.core.errors import DecodeError
from codecbench.training import Trainable, evaluate_codec, register_trainable

TILE = 128
#: 128×128 tiles per network pass (1 Mpx, about 270 MB of decoder feature maps); a Kodak image is 24 tiles
BATCH_TILES = 64
DEFAULT_ARCH = {"widths": [16, 32, 64], "latent": 44, "in_channels": 3}
#: Deflate's largest expansion: a 258-byte match in 2 bits (1-bit length and distance codes)
DEFLATE_MAX_RATIO = 1032


class SSDCAE(nn.Module):
    def __init__(self, widths=(32, 64, 128), latent: int = 44, in_channels: int = 3):
        super().__init__()
        w1, w2, w3 = widths
        enc: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate((w1, w2, w3)):  # down-sampling units; the last one's output is the latent
            o = latent if i == 2 else w
            enc += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.PReLU(w), nn.Conv2d(w, o, 3, padding=1), nn.PReLU(o)]
            c = o
        self.encoder = nn.Sequential(*enc)
        self.latent = latent
        dec: list[nn.Module] = []
        c = latent
        for w in (w3, w2, w1):  # up-sampling units: conv -> sub-pixel shuffle -> PReLU
            dec += [nn.Conv2d(c, 4 * w, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(w)]
            c = w
        dec += [nn.Conv2d(c, in_channels, 3, padding=1), nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def build(arch: dict) -> SSDCAE:
    return SSDCAE(tuple(arch["widths"]), int(arch["latent"]), int(arch.get("in_channels", 3)))


def batched(net: nn.Module, tiles: torch.Tensor) -> torch.Tensor:
    """``net`` applied to a (T, …) stack of tiles in passes of at most :data:`BATCH_TILES`, concatenated."""
    return torch.cat([net(chunk) for chunk in tiles.split(BATCH_TILES)])


@register_trainable
class SSDCAETrainable(Trainable):
    name = "ssdcae"
    codec = "ssdcae"
    description = "stacked denoising conv autoencoder (seeds 000/001): noisy 128×128 inputs, MSE + (1 − SSIM), Adam"
    defaults = {"steps": 1500, "batch": 8, "patch": 128, "lr": 1e-3}
    options = {
        "max_sigma": Setting(float, 0.3, "training noise: sigma ~ U(0, max_sigma) on [0, 1]", low=0.0, high=1.0),
    }

    def build(self) -> torch.nn.Module:
        return build(DEFAULT_ARCH)

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        from pytorch_msssim import ssim

        x = batch.float().div(255.0)
        sigma = torch.rand(x.shape[0], 1, 1, 1) * self.opts["max_sigma"]
        noisy = (x + sigma * torch.randn_like(x)).clamp(0, 1)
        out = model(noisy)
        mse = torch.mean((out - x) ** 2)
        s = ssim(out, x, data_range=1.0)
        return mse + (1 - s), {"mse255": float(mse.detach()) * 255**2, "ssim": float(s.detach())}

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        return make_checkpoint(self.name, DEFAULT_ARCH, model.state_dict(),
                               {**meta, "loss": "MSE + (1 - SSIM)", "noise": f"sigma~U(0,{self.opts['max_sigma']})"})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        out = {}
        for bits in (8, 4):
            figs = evaluate_codec(SSDCAECodec, checkpoint, images, bits=bits)
            out.update({f"{k}@bits={bits}": v for k, v in figs.items() if k != "images"})
        return out

    def describe(self, model: torch.nn.Module) -> str:
        w, lat = DEFAULT_ARCH["widths"], DEFAULT_ARCH["latent"]
        return (
            f"Encoder: 3 down-sampling units [conv 3×3 stride 2 + PReLU, conv 3×3 + PReLU] with widths {w}, "
            f"the last unit's second conv giving the {lat} latent channels (16×16×{lat} per 128×128 tile, after PReLU). Decoder: 3 up-sampling units "
            f"[conv 3×3 to 4×width, PixelShuffle(2), PReLU] with widths {w[::-1]}, conv 3×3 to RGB, sigmoid. "
            "Denoising training: Gaussian noise sigma ~ U(0, "
            f"{self.opts['max_sigma']}) added to the input (clipped), clean target; loss MSE + (1 − SSIM); Adam. "
            "Not rate-trained: the codec quantizes the latent to `bits` per value with per-channel min/max "
            "(float16, stored) and Deflates it."
        )


# -- latent quantization ---------------------------------------------------------------
def quantize_latent(y: torch.Tensor, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y (T, C, h, w) -> (uint8 values, float16 mins, float16 maxs) with one range per channel."""
    levels = (1 << bits) - 1
    yc = y.detach().cpu().float().permute(1, 0, 2, 3).reshape(y.shape[1], -1)
    lo = yc.min(dim=1).values.numpy().astype(np.float16)
    hi = yc.max(dim=1).values.numpy().astype(np.float16)
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    # float16 rounding may move the range inward; widen by one float16 step so every value fits
    hi32 = np.maximum(hi32, yc.max(dim=1).values.numpy())
    lo32 = np.minimum(lo32, yc.min(dim=1).values.numpy())
    lo, hi = lo32.astype(np.float16), hi32.astype(np.float16)
    lo = np.where(lo.astype(np.float32) > lo32, np.nextafter(lo, np.float16(-np.inf)), lo)
    hi = np.where(hi.astype(np.float32) < hi32, np.nextafter(hi, np.float16(np.inf)), hi)
    span = np.maximum(hi.astype(np.float32) - lo.astype(np.float32), 1e-6)
    q = np.rint((yc.numpy() - lo.astype(np.float32)[:, None]) / span[:, None] * levels)
    return np.clip(q, 0, levels).astype(np.uint8), lo, hi


def dequantize_latent(q: np.ndarray, lo: np.ndarray, hi: np.ndarray, bits: int) -> torch.Tensor:
    levels = (1 << bits) - 1
    span = np.maximum(hi.astype(np.float32) - lo.astype(np.float32), 1e-6)
    return torch.from_numpy(q.astype(np.float32) / levels * span[:, None] + lo.astype(np.float32)[:, None])


@register_codec
class SSDCAECodec(TorchCodec):
    name = "ssdcae"
    description = "stacked denoising conv autoencoder (PReLU, sub-pixel), latent quantized + Deflate (seeds 000/001)"
    param = "bits"
    sweep = (8, 6, 5, 4, 3)
    settings = {
        "bits": Setting(int, 8, "bits per latent value (uniform, per-channel range)", low=1, high=8),
        "latent": Setting(int, 44, "latent channels: 44, the seeds' width, the only shipped model", choices=(44,)),
    }
    stride = TILE
    tile_size = None  # the 128×128 tiling happens inside encode_tile (one range for the whole image)
    native_channels = (3,)
    format_version = 1
    libraries = ("numpy", "zlib")  # float16 ranges and rounding; the Deflate payload
    checkpoint = "ssdcae.pt"

    def build_model(self, arch: dict) -> torch.nn.Module:
        if int(arch["latent"]) != self.config["latent"]:  # the header names the latent width: it must be the model's
            raise ValueError(f"checkpoint has {arch['latent']} latent channels, the codec is latent={self.config['latent']}")
        return build(arch)

    def _tiles_of(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return x.unfold(2, TILE, TILE).unfold(3, TILE, TILE).permute(0, 2, 3, 1, 4, 5).reshape(-1, c, TILE, TILE)

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        x = self.to_tensor(tile)
        y = batched(self.model.encoder, self._tiles_of(x))
        bits = self.config["bits"]
        q, lo, hi = quantize_latent(y, bits)
        ranges = np.concatenate([lo, hi]).astype("<f2").tobytes()
        return [ranges, deflate(q.tobytes(), 9)]

    def latent_values(self, shape: tuple[int, int, int]) -> int:
        """Latent values of a padded image of ``shape``: ``latent`` channels at 1/8 resolution."""
        return self.model.latent * (shape[0] // 8) * (shape[1] // 8)

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """The ranges (4 bytes a channel) plus the latent Deflated at Deflate's largest ratio."""
        return 4 * self.model.latent + self.latent_values(shape) // DEFLATE_MAX_RATIO

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        if len(sections) != 2:
            raise DecodeError(f"{self.name}: expected 2 sections, got {len(sections)}")
        h, w, c = shape
        m = self.model.latent
        if len(sections[0]) != 4 * m:
            raise DecodeError(f"{self.name}: range section has {len(sections[0])} bytes, expected {4 * m}")
        r = np.frombuffer(sections[0], dtype="<f2")
        lo, hi = r[:m], r[m:]
        th, tw = h // TILE, w // TILE
        n = self.latent_values(shape)
        raw = inflate(sections[1], n)
        if len(raw) != n:
            raise DecodeError(f"{self.name}: latent has {len(raw)} values, expected {n}")
        q = np.frombuffer(raw, dtype=np.uint8).reshape(m, -1)
        if int(q.max(initial=0)) >= (1 << self.config["bits"]):
            raise DecodeError(f"{self.name}: latent value out of range for {self.config['bits']} bits")
        y = dequantize_latent(q, lo, hi, self.config["bits"])
        y = y.reshape(m, th * tw, TILE // 8, TILE // 8).permute(1, 0, 2, 3)
        # each batch goes straight into the uint8 image: no float copy of the whole image is ever held
        out = np.empty((th, TILE, tw, TILE, 3), dtype=np.uint8)
        for first, chunk in zip(range(0, th * tw, BATCH_TILES), y.split(BATCH_TILES)):
            rows, cols = np.divmod(np.arange(first, first + len(chunk)), tw)
            tiles = self.model.decoder(chunk.to(self.torch_device))  # (T, 3, 128, 128)
            out[rows, :, cols] = np.stack([self.to_image(tile[None]) for tile in tiles])
        return out.reshape(h, w, 3)
