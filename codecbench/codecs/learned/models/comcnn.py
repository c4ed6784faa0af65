"""``comcnn``: ComCNN → half-resolution compact image → real JPEG → up-sampling → RecCNN (seed 002, Jiang et al. 2017).

The stream is the container header plus the compact image's JPEG (Pillow, at ``quality``), byte for
byte; one model serves every JPEG quality. RGB (``comcnn.pt``) and grayscale (``comcnn-gray.pt``) are
separate networks. The networks, the training of both halves and the gray fallback: docs/codecs/learned.md.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from codecbench.core.codec import Setting, register_codec
from codecbench.core.headers import jpeg_frame
from codecbench.codecs.learned.base import CHECKPOINT_DIR, TorchCodec, make_checkpoint
from codecbench.core.errors import DecodeError, EncodeError
from codecbench.core.images import to_gray
from codecbench.training import Trainable, evaluate_codec, register_trainable

DEFAULT_ARCH = {"channels": 3, "com_width": 64, "rec_width": 32, "rec_depth": 10}


class ComCNN(nn.Module):
    """Jiang et al.'s ComCNN; with ``residual`` its output is added to a 2×2 average-pooled image.

    The residual form (a documented deviation, arch key ``residual``) starts
    training from a sensible compact image — the plain down-sampled one — so
    a short CPU training improves on down-sample → JPEG → bicubic instead of
    first having to learn to down-sample.
    """

    def __init__(self, channels: int = 3, width: int = 64, residual: bool = False):
        super().__init__()
        self.residual = residual
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.residual:
            out = out + F.avg_pool2d(x, 2, ceil_mode=True)
        return out


class RecCNN(nn.Module):
    def __init__(self, channels: int = 3, width: int = 32, depth: int = 10):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(width, channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, up: torch.Tensor) -> torch.Tensor:
        return up + self.net(up)


class ComRec(nn.Module):
    def __init__(self, channels: int = 3, com_width: int = 64, rec_width: int = 32, rec_depth: int = 10,
                 residual: bool = False):
        super().__init__()
        self.com = ComCNN(channels, com_width, residual)
        self.rec = RecCNN(channels, rec_width, rec_depth)


def build(arch: dict) -> ComRec:
    return ComRec(int(arch["channels"]), int(arch["com_width"]), int(arch["rec_width"]), int(arch["rec_depth"]),
                  bool(arch.get("residual", False)))


def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def compact_to_uint8(c: torch.Tensor) -> np.ndarray:
    """1×C×h×w float in [0, 1] -> uint8 h×w×C (rounded, clamped)."""
    return c[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def jpeg_bytes(img: np.ndarray, quality: int) -> bytes:
    mode = "L" if img.shape[2] == 1 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if mode == "L" else img, mode).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def jpeg_decode(data: bytes, channels: int | None = None) -> np.ndarray:
    """A JPEG file -> uint8 h×w×C (C from the file: 1 for grayscale, else 3; or forced by ``channels``)."""
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "JPEG":
            raise DecodeError(f"comcnn: payload is {im.format}, not JPEG")
        mode = {1: "L", 3: "RGB"}[channels] if channels else ("L" if im.mode == "L" else "RGB")
        arr = np.array(im.convert(mode))
    return arr[..., None] if arr.ndim == 2 else arr


@register_codec
class ComCNNCodec(TorchCodec):
    name = "comcnn"
    description = "ComCNN compact image -> Pillow JPEG (quality knob) -> bicubic up-sampling -> RecCNN (seed 002)"
    param = "quality"
    sweep = (5, 10, 20, 35, 50, 75, 90)
    settings = {"quality": Setting(int, 50, "JPEG quality of the half-resolution compact image", low=1, high=95)}
    stride = 2
    # 1024: ComCNN's first 64-channel map at full resolution makes a tile peak at about 650 MB (a
    # 4000×3000 photo in one tile took 7 GB); images up to 1024 px a side (Kodak, BSDS, CIFAR) are one tile
    tile_size = 1024
    native_channels = (1, 3)
    version = "2"  # 2: tiles of 1024 (were 4096)
    format_version = 2

    checkpoint = "comcnn.pt"
    libraries = ("pillow", "libjpeg-turbo", "libjpeg-api")  # the compact image is Pillow's JPEG

    def __init__(self, *, checkpoint: Any = None, gray_checkpoint: Any = None, **kw: Any) -> None:
        super().__init__(checkpoint=checkpoint, **kw)
        # networks by channel count: the main checkpoint's (RGB when shipped) and the grayscale one
        self._models: dict[int, torch.nn.Module] = {int(self.checkpoint_data["arch"]["channels"]): self.model}
        self._gray_path = Path(gray_checkpoint) if gray_checkpoint is not None else CHECKPOINT_DIR / "comcnn-gray.pt"
        if 1 not in self._models and self._gray_path.is_file():  # load now, outside any timed region
            self._models[1] = self.load_network(self._gray_path)[1]

    def build_model(self, arch: dict) -> torch.nn.Module:
        return build(arch)

    def _model_for(self, channels: int, error: type) -> torch.nn.Module:
        if channels not in self._models:
            what = "grayscale checkpoint " + str(self._gray_path) if channels == 1 else "an RGB checkpoint"
            raise error(f"{self.name}: no network for {channels}-channel images ({what} is missing)")
        return self._models[channels]

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        if tile.shape[2] == 1 and 1 not in self._models and 3 in self._models:
            tile = np.repeat(tile, 3, axis=2)  # no grayscale network: the RGB one on 3 equal channels
        model = self._model_for(tile.shape[2], EncodeError)
        compact = model.com(self.to_tensor(tile))
        return [jpeg_bytes(compact_to_uint8(compact), self.config["quality"])]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """The compact JPEG's headers plus 2 bits an 8×8 block (a Huffman DC code and an end-of-block code).

        Read from the JPEG's own frame header, which must be the baseline or
        extended Huffman frame Pillow writes, of the compact size (⌈h/2⌉×⌈w/2⌉);
        anything else is a DecodeError here, before Pillow decodes a pixel.
        """
        if len(sections) != 1:
            return 0  # decode_tile names the error
        frame = jpeg_frame(sections[0])
        if frame is None or frame.marker not in (0xC0, 0xC1) or not frame.scan_start:
            what = "no frame header" if frame is None else f"a SOF{frame.marker - 0xC0} frame" + (
                "" if frame.scan_start else " without a scan")
            raise DecodeError(f"{self.name}: payload is not the baseline Huffman JPEG this codec writes ({what})")
        expected = (shape[1] // 2, shape[0] // 2)
        if (frame.width, frame.height) != expected:
            raise DecodeError(f"{self.name}: compact JPEG is {frame.width}×{frame.height}, expected {expected[0]}×{expected[1]}")
        blocks = frame.blocks()
        if blocks is None:
            raise DecodeError(f"{self.name}: compact JPEG has corrupt sampling factors {frame.sampling}")
        return frame.scan_start + (2 * blocks + 7) // 8

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        if len(sections) != 1:
            raise DecodeError(f"{self.name}: expected 1 section, got {len(sections)}")
        h, w, c = shape
        compact = jpeg_decode(sections[0])
        coded = compact.shape[2]  # a 1-channel image coded by the RGB network carries an RGB JPEG
        if coded not in (1, 3) or (c == 3 and coded != 3):
            raise DecodeError(f"{self.name}: compact JPEG has {coded} channels for a {c}-channel image")
        model = self._model_for(coded, DecodeError)
        if compact.shape[:2] != (h // 2, w // 2):
            raise DecodeError(f"{self.name}: compact image is {compact.shape[:2]}, expected {(h // 2, w // 2)}")
        up = upsample(self.to_tensor(compact), (h, w))
        out = self.to_image(model.rec(up).clamp_(0, 1))
        return to_gray(out) if coded != c else out


@register_trainable
class ComCNNTrainable(Trainable):
    name = "comcnn"
    codec = "comcnn"
    description = "ComCNN/RecCNN around a real JPEG codec (Jiang et al. 2017 training: codec in the loop for RecCNN, identity proxy for ComCNN)"
    defaults = {"steps": 1500, "batch": 8, "patch": 64, "lr": 1e-3}
    options = {
        "channels": Setting(int, 3, "3 (RGB) or 1 (grayscale, the seed's setting)", choices=(1, 3)),
        "qmin": Setting(int, 10, "lowest JPEG quality drawn in training", low=1, high=95),
        "qmax": Setting(int, 90, "highest JPEG quality drawn in training", low=1, high=95),
        "residual": Setting(bool, False, "ComCNN adds its output to a 2×2 average-pooled image (deviation, see ComCNN)"),
    }

    def arch(self) -> dict:
        arch = {**DEFAULT_ARCH, "channels": self.opts["channels"]}
        if self.opts["residual"]:
            arch["residual"] = True
        return arch

    def build(self) -> torch.nn.Module:
        return build(self.arch())

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch.float().div(255.0)
        if self.opts["channels"] == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        size = tuple(x.shape[2:])
        compact = model.com(x)
        # (1) RecCNN on the real codec's output (no gradient to ComCNN)
        decoded = []
        for i in range(x.shape[0]):
            q = int(torch.randint(self.opts["qmin"], self.opts["qmax"] + 1, (1,)))
            img = compact_to_uint8(compact[i : i + 1].detach())
            decoded.append(torch.from_numpy(jpeg_decode(jpeg_bytes(img, q), img.shape[2]).copy()).permute(2, 0, 1).float() / 255)
        up_real = upsample(torch.stack(decoded), size)
        rec_loss = F.mse_loss(model.rec(up_real), x)
        # (2) ComCNN through the identity proxy of the codec, RecCNN weights fixed for this term
        params = {k: v.detach() for k, v in model.rec.named_parameters()}
        buffers = dict(model.rec.named_buffers())
        out = torch.func.functional_call(model.rec, {**params, **buffers}, (upsample(compact, size),))
        com_loss = F.mse_loss(out, x)
        psnr = -10 * torch.log10(rec_loss.detach().clamp_min(1e-10))
        return rec_loss + com_loss, {"rec_mse255": float(rec_loss.detach()) * 255**2,
                                     "com_mse255": float(com_loss.detach()) * 255**2, "psnr_jpeg_path": float(psnr)}

    def export(self, model: torch.nn.Module, meta: dict) -> dict:
        return make_checkpoint(self.name, self.arch(), model.state_dict(),
                               {**meta, "training": "Jiang et al. 2017: real JPEG for RecCNN, identity proxy for ComCNN"})

    def evaluate(self, checkpoint: Path, images: Sequence[np.ndarray]) -> dict[str, float]:
        if self.opts["channels"] == 1:
            images = [to_gray(im) for im in images]
        kw = {"checkpoint": checkpoint}
        out = {}
        for q in (10, 50, 90):
            codec = ComCNNCodec(quality=q, threads=torch.get_num_threads(), **kw)
            figs = evaluate_codec(lambda **s: codec, checkpoint, images)
            out.update({f"{k}@q={q}": v for k, v in figs.items() if k != "images"})
        return out

    def describe(self, model: torch.nn.Module) -> str:
        a = self.arch()
        return (
            f"ComCNN: conv 3×3 ({a['channels']}→{a['com_width']}) + ReLU; conv 3×3 stride 2 + BN + ReLU; conv 3×3 "
            f"→ {a['channels']} (compact image at half resolution"
            f"{'; residual: added to the 2×2 average-pooled image' if a.get('residual') else ''}). Codec: Pillow JPEG at the `quality` knob. "
            f"RecCNN: bicubic ×2 up-sampling, then {a['rec_depth']} conv 3×3 layers of width {a['rec_width']} "
            "(ReLU; BN+ReLU in the middle ones) predicting a residual added to the up-sampled image. "
            "Training (Jiang et al. 2017): RecCNN on real JPEG-decoded compact images (quality ~ U{"
            f"{self.opts['qmin']}…{self.opts['qmax']}}}), ComCNN through an identity proxy of the codec with "
            "RecCNN's weights fixed for that term; both terms in every step."
        )
