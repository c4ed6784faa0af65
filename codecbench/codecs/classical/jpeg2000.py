"""JPEG 2000 through glymur and OpenJPEG: lossy (irreversible 9/7) and lossless (reversible 5/3).

Both write a raw J2K codestream (smaller than JP2) with OpenJPEG's defaults otherwise. glymur works
on files only, so each call goes through a temporary file in a RAM-backed folder (inside the timed
region); where glymur finds no libopenjp2, :func:`_bind_openjpeg` points it at Pillow's copy.
Details: docs/codecs/classical.md.
"""

from __future__ import annotations

import ctypes
import importlib
import math
import os
import tempfile
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import glymur
import glymur.config
import glymur.lib.openjp2
import glymur.version
import numpy as np
import PIL

from codecbench.core.codec import Codec, Setting, register_codec
from codecbench.codecs._common import as_image, check_complete, check_decoded_samples, check_decoded_size
from codecbench.core.headers import jpeg2000_image
from codecbench.core.errors import CodecbenchError, DecodeError

_SOC_SIZ = b"\xff\x4f\xff\x51"  # start of codestream, then the image and tile size marker
_EOC = b"\xff\xd9"  # end of codestream
_MAX_RESOLUTIONS = 6  # OpenJPEG's default
_RAM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _pillow_openjp2() -> Path | None:
    """The libopenjp2 that Pillow's wheel bundles (Linux ``pillow.libs``, macOS ``PIL/.dylibs``), if any."""
    pil_dir = Path(PIL.__file__).parent
    candidates = ((pil_dir.parent / "pillow.libs", "libopenjp2*.so*"), (pil_dir / ".dylibs", "libopenjp2*.dylib"))
    for folder, pattern in candidates:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def _bind_openjpeg() -> None:
    """Make glymur use Pillow's bundled libopenjp2 when glymur found no OpenJPEG of its own.

    Setting ``glymur.lib.openjp2.OPENJP2`` after the fact is not enough:
    that module sizes its ctypes structures from the library version at
    import time (fields added in OpenJPEG 2.1 are left out for "0.0.0"),
    and structures of the wrong size corrupt the heap. So the module is
    re-executed with glymur's library lookup answering with Pillow's copy;
    glymur's other modules reach it as ``opj2.<name>`` and ``version.<name>``
    at call time, so they see the reloaded definitions.
    """
    if glymur.lib.openjp2.OPENJP2 is not None:
        return
    path = _pillow_openjp2()
    if path is None:
        return
    lookup = glymur.config.glymur_config
    glymur.config.glymur_config = lambda libname: ctypes.CDLL(str(path)) if libname == "openjp2" else lookup(libname)
    try:
        importlib.reload(glymur.lib.openjp2)
        importlib.reload(glymur.version)
    finally:
        glymur.config.glymur_config = lookup


_bind_openjpeg()


def openjpeg_version() -> str:
    """The version of the OpenJPEG library glymur calls ("0.0.0" when it has none)."""
    return glymur.version.openjpeg_version


@contextmanager
def _scratch_file() -> Iterator[Path]:
    """A path for a ``.j2k`` file in a fresh temporary folder (in RAM where possible), removed afterwards.

    A new folder, not a pre-created file: glymur parses any file that
    already exists at the path it is asked to write.
    """
    with tempfile.TemporaryDirectory(prefix="codecbench-", dir=_RAM_DIR) as folder:
        yield Path(folder) / "image.j2k"


class _Jpeg2000Codec(Codec):
    """Shared glymur encode/decode; subclasses give the wavelet and rate options."""

    max_size = 2**32 - 1  # the SIZ marker's 32-bit Xsiz/Ysiz (OpenJPEG's OPJ_UINT32 sizes)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if openjpeg_version() == "0.0.0":
            raise CodecbenchError(f"{self.name}: no OpenJPEG (libopenjp2) for glymur, nor one in Pillow's wheel")

    def library_versions(self) -> dict[str, str]:
        return {"glymur": glymur.__version__, "openjpeg": openjpeg_version()}

    @abstractmethod
    def write_options(self, image: np.ndarray) -> dict[str, Any]:
        """glymur ``Jp2k`` keyword arguments beyond data and resolution count."""

    def _encode(self, image: np.ndarray) -> bytes:
        h, w = image.shape[:2]
        self._set_threads()
        with _scratch_file() as path:
            glymur.Jp2k(
                str(path),
                data=image[..., 0] if image.shape[2] == 1 else image,
                numres=_resolutions(h, w),
                **self.write_options(image),
            )
            return path.read_bytes()

    def _decode(self, data: bytes) -> np.ndarray:
        if not data.startswith(_SOC_SIZ):
            raise DecodeError(f"{self.name}: not a JPEG 2000 codestream")
        check_complete(self.name, data, _EOC)
        _check_declared(self.name, data)
        self._set_threads()
        with _scratch_file() as path:
            path.write_bytes(data)
            return as_image(self.name, glymur.Jp2k(str(path))[:])

    def _set_threads(self) -> None:
        if glymur.lib.openjp2.has_thread_support():
            glymur.set_option("lib.num_threads", self.threads)


def _check_declared(codec: str, data: bytes) -> None:
    """Refuse, from the SIZ segment alone, a stream over MAX_PIXELS pixels or over MAX_DECODED_SAMPLES bytes of
    decoded samples (all components: 64 components or 16-bit samples multiply what the size declares), then
    one that is not 8-bit gray or RGB, which the decode would refuse afterwards (OpenJPEG spends about
    0.3 ms a component, so 16384 components of a tiny image took 5 s to decode before that refusal)."""
    image = jpeg2000_image(data)
    if image is None:
        raise DecodeError(f"{codec}: no complete SIZ segment (image and component sizes)")
    check_decoded_size(codec, image.width, image.height)
    bits = "/".join(str(b) for b in sorted({c[0] for c in image.components}))
    what = f"{image.width}×{image.height}, {len(image.components)} components of {bits} bits"
    check_decoded_samples(codec, image.decoded_bytes(), what, "bytes")
    if len(image.components) not in (1, 3) or any(b > 8 or signed for b, signed, _, _ in image.components):
        raise DecodeError(f"{codec}: bitstream declares {what}; it decodes 8-bit gray or RGB only (1 or 3 "
                          "unsigned components of at most 8 bits)")


def _resolutions(height: int, width: int) -> int:
    """OpenJPEG's default 6 resolution levels, fewer where the image is too small to halve that often."""
    return max(1, min(_MAX_RESOLUTIONS, 1 + int(math.log2(min(height, width)))))


@register_codec
class Jpeg2000Codec(_Jpeg2000Codec):
    """Lossy JPEG 2000: irreversible 9/7 wavelet, one layer at a target rate.

    The knob is the target rate in bits per pixel (all channels together),
    passed to OpenJPEG as the compression ratio 8·C / bpp for a C-channel
    8-bit image. OpenJPEG's rate control counts the headers and lands at or
    just below the target on Kodak-sized images; images of a few thousand
    pixels can overshoot it by a few bytes.
    """

    name = "jpeg2000"
    description = (
        "JPEG 2000 lossy (glymur, OpenJPEG), irreversible 9/7, raw .j2k codestream; "
        "rate knob: target bits per pixel (compression ratio 8·C/bpp)"
    )
    param = "bpp"
    settings = {
        "bpp": Setting(float, 1.0, "target rate in bits per pixel, all channels (≥ 8·C means no rate limit)",
                       low=0.01, high=24.0),
    }
    sweep = (0.1, 0.15, 0.25, 0.4, 0.6, 0.9, 1.3, 2.0, 3.0)

    def write_options(self, image: np.ndarray) -> dict[str, Any]:
        ratio = max(1.0, 8.0 * image.shape[2] / self.config["bpp"])
        return {"irreversible": True, "cratios": [ratio]}


@register_codec
class Jpeg2000LosslessCodec(_Jpeg2000Codec):
    """Lossless JPEG 2000: reversible 5/3 wavelet and reversible colour transform."""

    name = "jpeg2000-lossless"
    description = "JPEG 2000 lossless (glymur, OpenJPEG), reversible 5/3, raw .j2k codestream"
    lossless = True

    def write_options(self, image: np.ndarray) -> dict[str, Any]:
        return {"irreversible": False}
