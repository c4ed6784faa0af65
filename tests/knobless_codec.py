"""A real lossy codec without a rate knob (libjpeg at quality 60, name ``fixed-jpeg-test``), for the equal-rate
tests. Not registered on import: a test registers it inside ``CODECS.restoring()``, and a nested pytest session
through a plug-in module that calls ``register_codec(FixedJpeg)``."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from codecbench.core.codec import Codec


class FixedJpeg(Codec):
    name = "fixed-jpeg-test"
    channels = (3,)

    def _encode(self, image: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(image).save(out, "JPEG", quality=60)
        return out.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
