"""The codecs ``mlp-huffman`` and ``mlp-ans``: wavefront-ordered prediction, residuals coded by Huffman or rANS."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from codecbench.codecs.learned import coders as entropy
from codecbench.codecs.learned.base import CheckpointError, TorchCodec
from codecbench.codecs.learned.threads import single_thread
from codecbench.core.codec import register_codec
from codecbench.core.errors import DecodeError
from codecbench.codecs.learned.models.mlp.network import (
    ANS_PMAX, OFFSETS, PAD_SIDE, PAD_TOP, SCALE_KMIN, SCALE_LOG_MIN, SCALE_STEP, SCALE_TABLE, WAVE, IntPredictor,
    coding_features, coding_order, neighbours_rows, net_keys, pad_image, shared_width, wavefronts,
)


BAND_PIXELS = 1 << 16  # pixels per encoder batch (bounds memory for large images)


class _MLPCodec(TorchCodec):
    lossless = True
    devices = ("cpu",)  # wavefront decoding is host-bound; see the package docstring
    native_channels = (1, 3)
    channels = (1, 3)
    # 2048: the encoder holds the predictions, symbols and their wavefront order for a whole tile,
    # about 200 bytes a pixel (mlp-ans), so a tile peaks near 850 MB; images up to 2048 px a side are one tile
    tile_size = 2048
    version = "2"  # 2: tiles of 2048 (were untiled)
    format_version = 2
    libraries = ("numpy", "constriction")
    flavour: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:  # build the integer networks now: load time, and the exactness bound is checked here
            for channels in (1, 3):
                for key in net_keys(channels):
                    self.model.net(key)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint {self.checkpoint_file}: {exc}") from None

    def build_model(self, arch: dict) -> torch.nn.Module:
        if arch.get("flavour") != self.flavour:
            raise ValueError(f"checkpoint is for the {arch.get('flavour')!r} flavour, {self.name} needs {self.flavour!r}")
        return IntPredictor(arch["flavour"], arch["hidden"])

    # -- prediction ----------------------------------------------------------------
    def _all_outputs(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per coding position k: (network output (H·W, n_out), MED base or None), raster order."""
        h, w, c = image.shape
        order = coding_order(c)
        keys = net_keys(c)
        sw = shared_width(self.flavour, c)
        padded = pad_image(image)
        rows = max(1, BAND_PIXELS // w)
        outs: list[list[np.ndarray]] = [[] for _ in order]
        bases: list[list[np.ndarray]] = [[] for _ in order]
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            nb = neighbours_rows(padded, y0, y1, w)
            ys, xs = np.divmod(np.arange(y0 * w, y1 * w), w)
            feats, base = coding_features(self.flavour, nb, ys, xs, w)
            cur = image[y0:y1].reshape(-1, c).astype(np.float32)
            for k, ch in enumerate(order):
                outs[k].append(self.model.net(keys[k])(feats[:, : sw + k]))
                bases[k].append(None if base is None else base[:, ch])
                if k < c - 1:
                    feats[:, sw + k] = cur[:, ch] if base is None else cur[:, ch] - base[:, ch]
        return [
            (np.concatenate(outs[k]), None if self.flavour == "raw" else np.concatenate(bases[k]))
            for k in range(len(order))
        ]

    @single_thread()  # thousands of small batches, one per wavefront: too small to split (see threads.py)
    def _decode_all(self, shape: tuple[int, int, int], step: Any) -> np.ndarray:
        """Walk the wavefronts on one torch thread; ``step(k, ys, xs, out, base) -> values`` decodes channel
        order[k] of them."""
        h, w, c = shape
        order = coding_order(c)
        nets = [self.model.net(key) for key in net_keys(c)]
        sw = shared_width(self.flavour, c)
        pw = w + 2 * PAD_SIDE
        flat = np.zeros(((h + PAD_TOP) * pw, c), dtype=np.uint8)
        offs = np.array([dy * pw + dx for dy, dx in OFFSETS], dtype=np.int64)
        for t, (y0, y1) in enumerate(wavefronts(h, w)):
            ys = np.arange(y0, y1)
            xs = t - WAVE * ys
            idx = (ys + PAD_TOP) * pw + xs + PAD_SIDE
            nb = flat[idx[:, None] + offs].astype(np.float32)  # (n, 12, C)
            feats, base = coding_features(self.flavour, nb, ys, xs, w)
            for k, ch in enumerate(order):
                b = None if base is None else base[:, ch]
                values = step(k, ys, xs, nets[k](feats[:, : sw + k]), b)
                flat[idx, ch] = values
                if k < c - 1:
                    feats[:, sw + k] = values if b is None else values - b
        return self._crop(flat, shape)

    @staticmethod
    def _crop(flat: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        h, w, c = shape
        return np.ascontiguousarray(flat.reshape(h + PAD_TOP, w + 2 * PAD_SIDE, c)[PAD_TOP:, PAD_SIDE : PAD_SIDE + w])


def _prediction(out: np.ndarray) -> np.ndarray:
    """mlp-huffman: the network output (already ReLU'd) rounded and clamped to a pixel value."""
    return np.clip(np.rint(out[:, 0]), 0, 255).astype(np.int64)


@register_codec
class MLPHuffmanCodec(_MLPCodec):
    """Seed 004's MLP predictive coder: pixel prediction, residuals Huffman-coded (one table per channel)."""

    name = "mlp-huffman"
    description = "MLP predictive lossless coder (seed 004): 12-pixel causal context, Huffman-coded residuals"
    checkpoint = "mlp-huffman.pt"
    flavour = "raw"

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        h, w, c = tile.shape
        order = coding_order(c)
        sections = []
        for k, (out, _) in enumerate(self._all_outputs(tile)):
            x = tile[..., order[k]].reshape(-1).astype(np.int64)
            res = (x - _prediction(out)) % 256
            signed = np.where(res >= 128, res - 256, res)
            zz = np.where(signed >= 0, 2 * signed, -2 * signed - 1)
            sections.append(entropy.huffman_encode(zz, 256, min_used=2))  # >= 1 bit a value
        return sections

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """At least 1 bit a residual: the Huffman code has at least two symbols (``min_used=2``)."""
        h, w, c = shape
        return c * (h * w // 8)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        h, w, c = shape
        if len(sections) != c:
            raise DecodeError(f"{self.name}: {len(sections)} residual sections for {c} channels")
        residuals = []
        for s in sections:
            z = entropy.huffman_decode(s, h * w, min_used=2)  # refuses sizes the payload cannot hold
            if z.max(initial=0) > 255:
                raise DecodeError(f"{self.name}: corrupt residual table")
            residuals.append(np.where(z & 1, -((z + 1) >> 1), z >> 1).reshape(h, w))

        def step(k, ys, xs, out, base):
            return (_prediction(out) + residuals[k][ys, xs]) % 256

        return self._decode_all(shape, step)


def _laplace_params(out: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.clip(base + out[:, 0].astype(np.float64), 0.0, 255.0)
    k = np.clip(np.floor((out[:, 1].astype(np.float64) - SCALE_LOG_MIN) * SCALE_STEP + 0.5), SCALE_KMIN, len(SCALE_TABLE) - 1).astype(np.int64)
    return mean, SCALE_TABLE[k]


LAPLACE = entropy.laplace(0, 255)


@register_codec
class MLPAnsCodec(_MLPCodec):
    """The improved coder: the MLP predicts mean and scale of a Laplace per value, coded with rANS."""

    name = "mlp-ans"
    description = "MLP lossless coder: MED-relative context, predicted Laplace mean/scale per value, rANS"
    checkpoint = "mlp-ans.pt"
    flavour = "med"
    # 3: the rANS coder starts from a seed state, so every value costs bits and the payload bounds
    # the declared size (format 2 started empty: a run of 0s at the end cost nothing)
    version = "3"
    format_version = 3

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        h, w, c = tile.shape
        order = coding_order(c)
        outs = self._all_outputs(tile)
        # the decoder reads, per wavefront t, channel order[0] of its pixels (by y), then order[1], …
        n, kk = h * w, len(order)
        ys, xs = np.divmod(np.arange(n), w)
        perm = np.lexsort((np.tile(ys, kk), np.repeat(np.arange(kk), n), np.tile(WAVE * ys + xs, kk)))
        syms, means, scales = [], [], []
        for k, (out, base) in enumerate(outs):
            mean, scale = _laplace_params(out, base)
            syms.append(tile[..., order[k]].reshape(-1))
            means.append(mean)
            scales.append(scale)
        all_sym = np.concatenate(syms)[perm]
        all_mean = np.concatenate(means)[perm]
        all_scale = np.concatenate(scales)[perm]
        enc = entropy.RansEncoder(seeded=True)
        enc.add(all_sym, LAPLACE, all_mean, all_scale)
        return [enc.finish()]

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """Seeded rANS: no value costs less than −log2 :data:`ANS_PMAX` (quantized), about 0.10 bit.

        So the decoder walks at most about 78 values per payload byte, whatever the
        header declares.
        """
        h, w, c = shape
        return entropy.rans_min_bytes(h * w * c, ANS_PMAX)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        if len(sections) != 1:
            raise DecodeError(f"{self.name}: expected 1 payload section, got {len(sections)}")
        dec = entropy.RansDecoder(sections[0], seeded=True)

        def step(k, ys, xs, out, base):
            mean, scale = _laplace_params(out, base)
            return dec.decode(LAPLACE, mean, scale)

        image = self._decode_all(shape, step)
        dec.finish()  # data left over, or not ending on the seed: corrupt
        return image
