"""JPEG without chroma subsampling, on codecbench's public Pillow base."""

from __future__ import annotations

from typing import Any

import numpy as np

from codecbench import Setting
from codecbench.codecs import PillowCodec


class Jpeg444(PillowCodec):
    """Baseline JPEG (Pillow, libjpeg-turbo) with full-resolution chroma (4:4:4) and optimized Huffman tables."""

    name = "jpeg444"
    description = "JPEG 4:4:4 with optimized Huffman tables (Pillow, libjpeg-turbo); rate knob: IJG quality 1-100"
    format = "JPEG"  # Pillow's format name: the base saves and opens only this format
    param = "quality"
    settings = {"quality": Setting(int, 75, "IJG quality factor (1 = smallest file, 100 = best)", low=1, high=100)}
    sweep = (5, 10, 20, 30, 50, 70, 85, 95)
    max_size = 65500  # libjpeg's JPEG_MAX_DIMENSION
    pillow_features = {"libjpeg-turbo": "libjpeg_turbo"}  # library_versions(): what makes the bits

    def save_options(self, image: np.ndarray) -> dict[str, Any]:
        return {"quality": self.config["quality"], "subsampling": "4:4:4", "optimize": True}
