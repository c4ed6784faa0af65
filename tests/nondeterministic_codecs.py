"""Test-only codecs that break determinism on purpose, one way each, for ``codecbench verify``'s tests.

Each stores raw pixels behind a header (``b"ND"``, height, width, channels) and decodes them exactly,
except for its one fault:

``nd-counter``   appends how many images this codec object has encoded: a second encode differs;
``nd-threads``   decodes the first sample one level higher when decoding with more than one thread;
``nd-process``   decodes the first sample one level higher in a process that has encoded nothing: the decode
                 depends on the encoding process's state, so a fresh process decodes another image.

Importing the module registers them (so that a fresh process finds them too); tests register them again inside
``CODECS.restoring()`` to keep them out of other tests.
"""

from __future__ import annotations

import struct

import numpy as np

from codecbench.core.codec import Codec, register_codec
from codecbench.core.errors import DecodeError

_HEADER = struct.Struct("<2sHHB")
_encoded_here = False


class _Raw(Codec):
    lossless = True

    def library_versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def _encode(self, image: np.ndarray) -> bytes:
        global _encoded_here
        _encoded_here = True
        return _HEADER.pack(b"ND", *image.shape) + image.tobytes()

    def _decode(self, data: bytes) -> np.ndarray:
        magic, h, w, c = _HEADER.unpack_from(data)
        if magic != b"ND" or len(data) < _HEADER.size + h * w * c:
            raise DecodeError(f"{self.name}: not a stream of this codec")
        return np.frombuffer(data, np.uint8, h * w * c, _HEADER.size).reshape(h, w, c).copy()

    @staticmethod
    def _bump(image: np.ndarray) -> np.ndarray:
        image[0, 0, 0] = (int(image[0, 0, 0]) + 1) % 256
        return image


@register_codec
class CounterCodec(_Raw):
    name = "nd-counter"

    def _encode(self, image: np.ndarray) -> bytes:
        self.count = getattr(self, "count", 0) + 1
        return super()._encode(image) + bytes([self.count % 256])


@register_codec
class ThreadsCodec(_Raw):
    name = "nd-threads"

    def _decode(self, data: bytes) -> np.ndarray:
        image = super()._decode(data)
        return self._bump(image) if self.threads > 1 else image


@register_codec
class ProcessCodec(_Raw):
    name = "nd-process"

    def _decode(self, data: bytes) -> np.ndarray:
        image = super()._decode(data)
        return image if _encoded_here else self._bump(image)


FAULTY = (CounterCodec, ThreadsCodec, ProcessCodec)
