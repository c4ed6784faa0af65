"""A learned codec in a few lines on codecbench's torch base: a block transform fitted to photographs (PCA).

Each 4×4 RGB block (48 samples) goes through a linear transform whose rows are
the principal components of 4×4 blocks of photographs (the network: a
strided convolution and its transposed twin, fitted by ``fit_block_pca.py``
beside this package's ``pyproject.toml``); the coefficients are quantized
with a uniform step and Deflate-coded, coefficient by coefficient.
The checkpoint and its model card ship in this package
(``codecbench_example/checkpoints``), named by ``checkpoint_package``.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

from codecbench import DecodeError, Setting
from codecbench.codecs import TorchCodec

BLOCK = 4
#: Deflate expands a stream by at most ~1032:1, so a payload can hold no more than this many bytes per byte
DEFLATE_RATIO = 1032


class BlockPcaNet(torch.nn.Module):
    """Analysis (block → coefficients) and synthesis (coefficients → block) transforms."""

    def __init__(self, block: int = BLOCK, channels: int = 3) -> None:
        super().__init__()
        size = block * block * channels
        self.analysis = torch.nn.Conv2d(channels, size, block, stride=block)
        self.synthesis = torch.nn.ConvTranspose2d(size, channels, block, stride=block)


class BlockPca(TorchCodec):
    """4×4 block PCA, uniform quantization, Deflate; the rate knob is the quantizer step."""

    name = "block-pca"
    description = ("example learned codec: 4×4 block PCA transform fitted to photographs, uniform quantizer, "
                   "Deflate; rate knob: quantizer step 1-255 (smaller = more bits)")
    checkpoint = "block-pca.pt"
    checkpoint_package = "codecbench_example.checkpoints"
    stride = BLOCK
    native_channels = (3,)
    libraries = ("zlib",)
    param = "step"
    settings = {"step": Setting(int, 16, "quantizer step, in units of 8-bit samples (1 = finest)", low=1, high=255)}
    sweep = (64, 32, 16, 8, 4)

    def build_model(self, arch: dict) -> torch.nn.Module:
        return BlockPcaNet(**arch)

    def _coefficients(self, shape: tuple[int, int, int]) -> int:
        h, w, _ = shape
        return (h // BLOCK) * (w // BLOCK) * self.model.analysis.out_channels

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        coefficients = self.model.analysis(self.to_tensor(tile) * 255.0) / self.config["step"]
        quantized = coefficients.round().clamp(-32768, 32767).to(torch.int16)[0]  # C×h×w, coefficient-major
        return [zlib.compress(quantized.cpu().numpy().astype("<i2").tobytes(), 9)]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        return math.ceil(2 * self._coefficients(shape) / DEFLATE_RATIO)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        h, w, _ = shape
        expected = 2 * self._coefficients(shape)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(sections[0], expected + 1)  # never more than the declared size holds
        if len(sections) != 1 or len(raw) != expected or not inflater.eof:
            raise DecodeError(f"{self.name}: payload does not hold the {expected} coefficient bytes of a {w}×{h} tile")
        channels = self.model.analysis.out_channels
        quantized = np.frombuffer(raw, "<i2").reshape(channels, h // BLOCK, w // BLOCK)
        coefficients = torch.from_numpy(quantized.astype(np.float32)).to(self.torch_device)[None]
        return self.to_image(self.model.synthesis(coefficients * self.config["step"]) / 255.0)
