"""The torch base of learned codecs: device, threads, checkpoints, padding, tiling, container.

A learned codec subclasses :class:`TorchCodec`, sets its class attributes and implements
``build_model(arch)``, ``encode_tile(tile)`` and ``decode_tile(sections, shape)`` (and may
implement ``min_tile_payload`` against decode bombs); the base pads, tiles, writes and checks
the container. Checkpoints are read with ``torch.load(..., weights_only=True)`` only.
The hooks and class attributes are documented in docs/codecs/learned.md ("The TorchCodec contract").
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import math
import os
import zlib
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np
import PIL.features
import torch

from codecbench.codecs.learned.container import CHECK_CRC32, MAX_SIDE, Container, declare_size, pack_sections, unpack_sections
from codecbench.core.codec import Codec
from codecbench.core.errors import CodecbenchError, DecodeError, EncodeError, SpecError
from codecbench.core.images import to_gray
from codecbench.codecs.learned.weights import (  # noqa: F401 - the checkpoint functions, re-exported here
    CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, load_weights, make_checkpoint, save_atomic)

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


#: version getters of the libraries a learned codec's ``libraries`` may name
LIBRARIES: dict[str, Callable[[], str]] = {
    "numpy": lambda: np.__version__,
    "constriction": lambda: importlib.metadata.version("constriction"),
    "pillow": lambda: importlib.metadata.version("pillow"),
    "libjpeg-turbo": lambda: str(PIL.features.version("libjpeg_turbo") or "absent"),  # Pillow's, as JpegCodec
    "libjpeg-api": lambda: str(PIL.features.version("jpg")),
    "zlib": lambda: zlib.ZLIB_RUNTIME_VERSION,
}


# -- padding and tiles ----------------------------------------------------
def pad_to_multiple(image: np.ndarray, multiple: int, mode: str = "edge") -> np.ndarray:
    """Pad H×W×C at the bottom and right to multiples of ``multiple`` (no copy if already)."""
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return image
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "symmetric"  # reflect needs the pad to be shorter than the side
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)


def tile_grid(height: int, width: int, tile: int | None) -> list[tuple[int, int, int, int]]:
    """Tiles (y, x, h, w) covering the image in raster order; one tile if ``tile`` is None or not exceeded."""
    if tile is None or (height <= tile and width <= tile):
        return [(0, 0, height, width)]
    return [
        (y, x, min(tile, height - y), min(tile, width - x))
        for y in range(0, height, tile)
        for x in range(0, width, tile)
    ]


class TorchCodec(Codec):
    """Base of learned codecs; see the module docstring for the hooks."""

    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    max_size: ClassVar[int | None] = MAX_SIDE  # the container's bound, checked before any network runs
    checkpoint: ClassVar[str | None] = None
    checkpoint_package: ClassVar[str | None] = None
    stride: ClassVar[int] = 1
    pad_mode: ClassVar[str] = "edge"
    tile_size: ClassVar[int | None] = None
    native_channels: ClassVar[tuple[int, ...]] = (1, 3)
    format_version: ClassVar[int] = 1
    header_settings: ClassVar[tuple[str, ...] | None] = None
    check: ClassVar[int] = CHECK_CRC32
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        device: str = "cpu",
        threads: int | None = None,
        checkpoint: str | os.PathLike | None = None,
        **settings: Any,
    ) -> None:
        """``checkpoint`` overrides the shipped file (a path), e.g. for a freshly trained model."""
        super().__init__(device=device, threads=threads, **settings)
        if device == "cuda" and not torch.cuda.is_available():
            raise SpecError(f"codec {self.name!r}: device 'cuda' requested but CUDA is not available here")
        self.torch_device = torch.device(device)
        path = Path(checkpoint) if checkpoint is not None else self.checkpoint_path()
        self.checkpoint_file: Path | None = path
        self.checkpoint_data: dict | None = None
        #: SHA-256 of every checkpoint file this codec loaded, by file name (part of its identity)
        self.checkpoint_digests: dict[str, str] = {}
        self.model: torch.nn.Module | None = None
        if path is not None:
            self._set_threads()
            self.checkpoint_data, self.model = self.load_network(path)

    # -- hooks ----------------------------------------------------------
    def checkpoint_name(self) -> str | None:
        """The checkpoint file name for this configuration (default: the ``checkpoint`` attribute)."""
        return self.checkpoint

    def checkpoint_path(self) -> Path | None:
        name = self.checkpoint_name()
        return None if name is None else self.checkpoint_dir() / name

    @classmethod
    def checkpoint_dir(cls) -> Path:
        """The folder of the codec's checkpoints and model cards: that of its ``checkpoint_package``
        (resolved with importlib.resources), else :data:`CHECKPOINT_DIR`. CheckpointError, naming the
        package, where it cannot be imported or is not a folder on disk."""
        if cls.checkpoint_package is None:
            return CHECKPOINT_DIR
        where = f"checkpoint package {cls.checkpoint_package!r} of {cls.__qualname__}"
        try:
            folder = importlib.resources.files(cls.checkpoint_package)
        except (ImportError, TypeError) as exc:
            raise CheckpointError(f"{where} cannot be imported ({type(exc).__name__}: {exc})") from None
        if not isinstance(folder, Path) or not folder.is_dir():
            raise CheckpointError(f"{where} is not a folder on disk: make it a regular package (with an "
                                  "__init__.py), installed unzipped")
        return folder

    def build_model(self, arch: dict) -> torch.nn.Module:
        """The network for ``arch`` (from the checkpoint); weights are loaded by the base."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_model")

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        """Code one padded uint8 h×w×c tile; return its payload sections."""
        raise NotImplementedError

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        """Rebuild the padded tile of ``shape`` (h, w, c) from its sections."""
        raise NotImplementedError

    def min_tile_payload(self, sections: list[bytes], shape: tuple[int, int, int]) -> int:
        """A lower bound on the payload bytes (all ``sections`` together) of any tile of ``shape``.

        The promise: no stream this codec's encoder writes has a tile of
        ``shape`` with fewer payload bytes, so :meth:`_decode` may reject a
        tile below the bound, before any network runs, as a stream whose
        payload is too small for its declared size (a decode bomb). A codec
        may read its own headers in ``sections`` to tighten the bound, and
        raise DecodeError for a payload no tile of ``shape`` can have.
        Default 0: no bound known.
        """
        return 0

    def forge_oversized(self, data: bytes, width: int, height: int) -> bytes:
        """The container's header rewritten to declare width×height, its check recomputed
        (:func:`codecbench.codecs.learned.container.declare_size`)."""
        return declare_size(bytes(data), width, height)

    # -- helpers for subclasses ----------------------------------------
    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """uint8 h×w×c -> float32 1×c×h×w in [0, 1] on the codec's device."""
        # read-only arrays (e.g. views of a cached dataset) must be copied: torch tensors are always writable
        array = image if image.flags.writeable and image.flags.c_contiguous else np.array(image, order="C")
        t = torch.from_numpy(array).to(self.torch_device)
        return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)

    @staticmethod
    def to_image(tensor: torch.Tensor) -> np.ndarray:
        """float 1×c×h×w in [0, 1] -> uint8 h×w×c (rounded, clamped), on the CPU."""
        t = tensor.detach()[0].mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        return t.permute(1, 2, 0).contiguous().cpu().numpy()

    def synchronize(self) -> None:
        if self.torch_device.type == "cuda":
            torch.cuda.synchronize(self.torch_device)

    def library_versions(self) -> dict[str, str]:
        """torch, every library in ``libraries``, and the digest of every checkpoint loaded.

        The weights are part of the codec: a retrained checkpoint must not hit
        cached results of the old one. Subclasses set ``libraries`` rather than
        override this, so that no codec drops its checkpoints from its identity.
        """
        return {
            "torch": torch.__version__,
            **{name: LIBRARIES[name]() for name in self.libraries},
            **{f"checkpoint {n}": d[:16] for n, d in self.checkpoint_digests.items()},
        }

    def load_network(self, path: Path) -> tuple[dict, torch.nn.Module]:
        """Load the checkpoint at ``path`` and build its network; its digest joins the codec's identity."""
        ckpt = load_checkpoint(path)
        self.checkpoint_digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        return ckpt, self._load_model(ckpt, path)

    # -- internals ------------------------------------------------------
    def _set_threads(self) -> None:
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _load_model(self, ckpt: dict, path: Path) -> torch.nn.Module:
        arch = ckpt.get("arch", {})
        if not isinstance(ckpt.get("state_dict"), dict) or not isinstance(arch, dict):
            raise CheckpointError(f"checkpoint {path} has no state_dict/arch (format {ckpt.get('format')!r})")
        try:
            model = self.build_model(arch)
        except CodecbenchError:
            raise
        except Exception as exc:
            raise CheckpointError(f"checkpoint {path}: architecture {arch} not buildable ({type(exc).__name__}: {exc})") from None
        load_weights(model, ckpt, path)
        return model.to(self.torch_device).eval()

    def tile_side(self) -> int | None:
        """The tile side for this configuration (default: ``tile_size``)."""
        return self.tile_size

    def _header_settings(self) -> dict[str, Any]:
        keys = self.settings if self.header_settings is None else self.header_settings
        return {k: self.config[k] for k in keys}

    def _setting_kinds(self) -> dict[str, type]:
        keys = self.settings if self.header_settings is None else self.header_settings
        return {k: self.settings[k].kind for k in keys}

    def _tiles(self, image: np.ndarray) -> Iterator[tuple[tuple[int, int, int, int], np.ndarray]]:
        h, w = image.shape[:2]
        for y, x, th, tw in tile_grid(h, w, self.tile_side()):
            yield (y, x, th, tw), pad_to_multiple(image[y : y + th, x : x + tw], self.stride, self.pad_mode)

    def _encode(self, image: np.ndarray) -> bytes:
        if self.model is None and self.checkpoint_file is not None:
            raise EncodeError(f"{self.name}: no model loaded")
        h, w, c = image.shape
        coded = image
        if c not in self.native_channels:
            if c == 1 and 3 in self.native_channels:
                coded = np.repeat(image, 3, axis=2)
            else:
                raise EncodeError(f"{self.name} codes {self.native_channels} channels, not {c}")
        self._set_threads()
        with torch.inference_mode():
            per_tile = [self.encode_tile(np.ascontiguousarray(tile)) for _, tile in self._tiles(coded)]
        sections = per_tile[0] if len(per_tile) == 1 else [pack_sections(s) for s in per_tile]
        container = Container(
            self.name, h, w, c, list(sections), self._header_settings(), self.format_version, self.check
        )
        return container.to_bytes()

    def check_stream_settings(self, settings: dict[str, Any]) -> None:
        """DecodeError if the stream's header settings differ from this instance's."""
        mine = self._header_settings()
        if settings != mine:
            theirs = ",".join(f"{k}={v}" for k, v in sorted(settings.items()))
            raise DecodeError(
                f"{self.name}: stream was encoded with {theirs}, this decoder is {self.spec}; "
                f"decode it with a codec configured as {self.name}:{theirs}"
            )

    def _check_payload_sizes(
        self, per_tile: list[list[bytes]], shapes: list[tuple[int, int, int]], size: tuple[int, int]
    ) -> None:
        """DecodeError if any tile's payload is below :meth:`min_tile_payload` (checked for all tiles first)."""
        for i, (sections, shape) in enumerate(zip(per_tile, shapes)):
            have, need = sum(len(s) for s in sections), self.min_tile_payload(sections, shape)
            if have < need:
                where = "" if len(shapes) == 1 else f" tile {i} ({shape[1]}×{shape[0]})"
                raise DecodeError(
                    f"{self.name}: stream declares {size[0]}×{size[1]} but{where} holds {have} payload bytes; "
                    f"this codec writes at least {need} for that size (corrupt or hostile header)"
                )

    def _decode(self, data: bytes) -> np.ndarray:
        box = Container.from_bytes(
            data, self.name, setting_kinds=self._setting_kinds(), format_versions=(self.format_version,)
        )
        self.check_stream_settings(box.settings)
        h, w, c = box.height, box.width, box.channels
        cc = c
        if c not in self.native_channels:
            if c == 1 and 3 in self.native_channels:
                cc = 3
            else:
                raise DecodeError(f"{self.name}: stream declares {c} channels; this codec codes {self.native_channels}")
        grid = tile_grid(h, w, self.tile_side())
        if len(grid) == 1:
            per_tile = [box.sections]
        else:
            if len(box.sections) != len(grid):
                raise DecodeError(f"{self.name}: stream has {len(box.sections)} tile sections, expected {len(grid)}")
            per_tile = [unpack_sections(s, label=f"{self.name} tile {i}") for i, s in enumerate(box.sections)]
        shapes = [(th + (-th) % self.stride, tw + (-tw) % self.stride, cc) for _, _, th, tw in grid]
        self._check_payload_sizes(per_tile, shapes, (w, h))
        out = np.empty((h, w, cc), dtype=np.uint8)
        self._set_threads()
        with torch.inference_mode():
            for (y, x, th, tw), sections, shape in zip(grid, per_tile, shapes):
                tile = self.decode_tile(sections, shape)
                if not isinstance(tile, np.ndarray) or tile.shape != shape or tile.dtype != np.uint8:
                    got = getattr(tile, "shape", type(tile).__name__)
                    raise DecodeError(f"{self.name}: tile decoder returned {got}, expected uint8 {shape}")
                out[y : y + th, x : x + tw] = tile[:th, :tw]
        if cc != c:
            out = to_gray(out)
        return out


def param_count(model: torch.nn.Module) -> int:
    """Number of parameters (and integer weight tensors) in a module's state."""
    return sum(math.prod(t.shape) for t in model.state_dict().values() if isinstance(t, torch.Tensor))
