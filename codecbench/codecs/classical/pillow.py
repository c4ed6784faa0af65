"""Codecs that are one Pillow format: JPEG, WebP, WebP lossless, AVIF, HEVC (HEIF) and PNG.

Each returns the file Pillow writes, byte for byte: the format's own headers
are the only container, so bpp is comparable with published numbers (e.g.
CompressAI's Pillow-based JPEG and WebP results). Encoding and decoding run in
memory; the timed region holds only the library call and the array/Pillow
conversion.

Decoding opens only the codec's own format, never accepts a truncated file
(Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left False, the pixels are
loaded inside the decode, and a PNG must end with its IEND chunk), and
refuses a header declaring more than
:data:`codecbench.core.images.MAX_PIXELS` pixels before any pixel is decoded.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import PIL
from PIL import Image, features

from codecbench.core.codec import Codec, Setting, register_codec
from codecbench.codecs._common import as_image, check_complete, check_decoded_size, check_scan_count
from codecbench.core.errors import CodecbenchError, DecodeError

if not features.check("avif"):
    try:
        import pillow_avif  # noqa: F401  (registers AVIF with Pillow on import)
    except ImportError:
        pass  # AvifCodec says so when it is used

try:
    import pillow_heif
except ImportError:  # HevcCodec says so when it is used
    pillow_heif = None

_DECODED_MODES = ("L", "RGB")  # 8-bit gray and RGB, what codecs hand out
_SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")


class PillowCodec(Codec):
    """A codec that saves and opens one Pillow format; public as ``codecbench.codecs.PillowCodec`` for plug-ins.

    Subclasses set ``name``, ``format`` (Pillow's format name), their
    settings (``settings``, ``param``, ``sweep``), ``max_size`` (the largest
    side the format codes) and ``pillow_features`` (library label →
    :mod:`PIL.features` name, for :meth:`library_versions`), and
    ``end_marker`` where Pillow does not check a file's end itself. Settings
    are named as Pillow's save options; :meth:`save_options` passes them on,
    and subclasses override it to add or adapt options. The base stores the
    file Pillow writes, byte for byte; decoding opens only ``format``,
    refuses a declared size over ``MAX_PIXELS`` before any pixel is decoded,
    a JPEG of more than 100 scans, and modes other than 8-bit gray or RGB
    (DecodeError).
    """

    format: ClassVar[str]
    pillow_features: ClassVar[dict[str, str]] = {}
    #: bytes every complete file ends with, where Pillow itself does not check the end
    end_marker: ClassVar[bytes] = b""

    def save_options(self, image: np.ndarray) -> dict[str, Any]:
        """Keyword arguments for ``Image.save`` for this configuration and image."""
        return dict(self.config)

    def library_versions(self) -> dict[str, str]:
        versions = {"pillow": PIL.__version__}
        for label, feature in self.pillow_features.items():
            if features.check(feature):
                versions[label] = str(features.version(feature))
        return versions

    def _encode(self, image: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        pil = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
        pil.save(buffer, format=self.format, **self.save_options(image))
        return buffer.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        check_complete(self.name, data, self.end_marker)
        if self.format == "JPEG":  # libjpeg decodes every scan, 20,000 repeated ones too
            check_scan_count(self.name, data)
        with warnings.catch_warnings():
            # Our own pixel limit (check_decoded_size) replaces Pillow's lower warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[self.format]) as img:
                check_decoded_size(self.name, img.width, img.height)
                if img.mode not in _DECODED_MODES:
                    raise DecodeError(f"{self.name}: bitstream holds a {img.mode} image, not 8-bit gray or RGB")
                img.load()
                return as_image(self.name, np.asarray(img))


@register_codec
class JpegCodec(PillowCodec):
    """Baseline JPEG via Pillow and libjpeg-turbo (quality scale of the IJG library)."""

    name = "jpeg"
    description = (
        "JPEG (Pillow, libjpeg-turbo); rate knob: IJG quality 1-100; chroma subsampling 4:2:0 by default "
        "(Pillow's default), Huffman tables standard unless optimize=true"
    )
    format = "JPEG"
    param = "quality"
    settings = {
        "quality": Setting(int, 75, "IJG quality factor (1 = smallest file, 100 = best)", low=1, high=100),
        "subsampling": Setting(str, "4:2:0", "chroma subsampling (ignored for gray)", choices=_SUBSAMPLINGS),
        "optimize": Setting(bool, False, "optimized Huffman tables (an extra pass; smaller file)"),
    }
    sweep = (1, 5, 10, 20, 30, 50, 70, 85, 95)
    max_size = 65500  # libjpeg(-turbo)'s JPEG_MAX_DIMENSION (jmorecfg.h); the SOF's 16 bits would allow 65535
    pillow_features = {"libjpeg-turbo": "libjpeg_turbo", "libjpeg-api": "jpg"}


class _WebpCodec(PillowCodec):
    """WebP via Pillow and libwebp. WebP has no grayscale mode, so it takes RGB images only."""

    format = "WEBP"
    channels = (3,)
    max_size = 16383  # WEBP_MAX_DIMENSION: the VP8 and VP8L headers store 14-bit sizes
    pillow_features = {"libwebp": "webp"}
    lossless_mode: ClassVar[bool]

    def save_options(self, image: np.ndarray) -> dict[str, Any]:
        return {"lossless": self.lossless_mode, **self.config}


@register_codec
class WebpCodec(_WebpCodec):
    """Lossy WebP (VP8, 4:2:0)."""

    name = "webp"
    description = "WebP lossy (Pillow, libwebp); rate knob: quality 0-100; RGB only (WebP has no gray mode)"
    lossless_mode = False
    param = "quality"
    settings = {
        "quality": Setting(int, 80, "libwebp quality (0 = smallest file, 100 = best)", low=0, high=100),
        "method": Setting(int, 4, "encoder effort (0 = fastest, 6 = slowest, best)", low=0, high=6),
    }
    sweep = (0, 5, 15, 30, 50, 70, 85, 95)


@register_codec
class WebpLosslessCodec(_WebpCodec):
    """Lossless WebP (VP8L)."""

    name = "webp-lossless"
    description = "WebP lossless (Pillow, libwebp); knob: effort 0-100 (libwebp's quality in lossless mode); RGB only"
    lossless = True
    lossless_mode = True
    param = "quality"
    settings = {
        "quality": Setting(int, 80, "lossless effort (0 = fastest, 100 = slowest, smallest)", low=0, high=100),
        "method": Setting(int, 4, "encoder effort (0 = fastest, 6 = slowest, smallest)", low=0, high=6),
    }
    sweep = (80,)


@register_codec
class AvifCodec(PillowCodec):
    """AVIF (AV1 intra) via libavif, from Pillow's own AVIF plugin or pillow-avif-plugin.

    Pillow ≥ 11.3 has native AVIF; where it lacks it, pillow-avif-plugin is
    imported and registers itself. :meth:`library_versions` names whichever
    plugin Pillow will actually call, libavif's version and its AV1 codecs
    (libavif picks the encoder, normally libaom). Gray images are coded as
    AV1 monochrome (4:0:0) and decode as gray.
    """

    name = "avif"
    description = (
        "AVIF (libavif via Pillow or pillow-avif-plugin); rate knob: quality 0-100; speed 0-10 (default 6); "
        "chroma subsampling 4:2:0 by default, gray as 4:0:0 monochrome"
    )
    format = "AVIF"
    # libavif's default decoder limit (AVIF_DEFAULT_IMAGE_DIMENSION_LIMIT): aom encodes sides up to
    # 65536 (AV1's 16-bit frame size), but libavif refuses to decode those over 32768
    max_size = 32768
    param = "quality"
    settings = {
        "quality": Setting(int, 75, "libavif quality (0 = smallest file, 100 = best)", low=0, high=100),
        "speed": Setting(int, 6, "encoder speed (0 = slowest, best; 10 = fastest)", low=0, high=10),
        "subsampling": Setting(str, "4:2:0", "chroma subsampling of RGB images", choices=_SUBSAMPLINGS),
    }
    sweep = (10, 25, 40, 50, 60, 70, 80, 90)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _avif_plugin()  # fail at construction, not on the first image

    def save_options(self, image: np.ndarray) -> dict[str, Any]:
        subsampling = "4:0:0" if image.shape[2] == 1 else self.config["subsampling"]
        return {**self.config, "subsampling": subsampling, "max_threads": self.threads}

    def _decode(self, data: bytes) -> np.ndarray:
        # The AVIF plugins take the decoder's thread count from a module global only.
        with _module_option(_avif_plugin(), "DEFAULT_MAX_THREADS", self.threads):
            return super()._decode(data)

    def library_versions(self) -> dict[str, str]:
        plugin = _avif_plugin()
        versions = {"pillow": PIL.__version__}
        if plugin.__name__.startswith("pillow_avif"):
            versions["pillow-avif-plugin"] = sys.modules["pillow_avif"].__version__
        versions["libavif"] = str(plugin._avif.libavif_version)
        versions["av1-codecs"] = str(plugin._avif.codec_versions())
        return versions


@contextlib.contextmanager
def _module_option(module: Any, name: str, value: Any) -> Iterator[None]:
    """Set a plugin's module-level option for the duration of one call, then restore it."""
    previous = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, previous)


def _avif_plugin() -> ModuleType:
    """The module of the AVIF plugin registered with Pillow now (native or pillow-avif-plugin)."""
    Image.init()
    opener = Image.OPEN.get("AVIF")
    module = sys.modules.get(opener[0].__module__) if opener else None
    if module is None or not getattr(module, "SUPPORTED", True):
        raise CodecbenchError("avif: this Pillow has no AVIF support and pillow-avif-plugin is not installed")
    return module


_X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                  "placebo")


@register_codec
class HevcCodec(PillowCodec):
    """HEVC intra (HEIC: one HEVC Main still picture in a HEIF file) via pillow-heif, libheif, x265 and libde265.

    The stored bytes are the whole ``.heic`` file (bpp counts the container); the knob is libheif's
    quality 0-100, linear in x265's QP; defaults are libheif's own (docs/codecs/classical.md). Decoding
    opens only HEIF and checks the ``ispe`` size against :data:`~codecbench.core.images.MAX_PIXELS`
    before any pixel is decoded (DecodeError); libheif refuses an SPS larger than ``ispe`` and an item
    extent past the end of the file. Thumbnails, depth and auxiliary images are not decoded.
    """

    name = "hevc"
    description = (
        "HEVC intra in HEIF (pillow-heif: libheif, x265 encoder, libde265 decoder); rate knob: quality 0-100 "
        "(libheif's, linear in x265 QP 51..0); chroma 4:2:0 (x265's default) or 4:4:4, gray as 4:0:0; "
        "x265 preset slow, tune ssim (libheif's defaults)"
    )
    format = "HEIF"
    # libde265 refuses an SPS picture side over 65528 (65535 rounded down to the 8-pixel minimum coding block
    # of the default preset; presets with 16-pixel blocks, e.g. ultrafast, pad 65521..65528 past it).
    # x265 also refuses images under 32 rows that are wider than 4216 pixels (its own error, on encoding).
    max_size = 65528
    param = "quality"
    settings = {
        "quality": Setting(int, 50, "libheif quality (0 = QP 51, smallest file; 100 = QP 0, best)", low=0, high=100),
        "subsampling": Setting(str, "4:2:0", "chroma subsampling of RGB images", choices=("4:2:0", "4:4:4")),
        "preset": Setting(str, "slow", "x265 speed preset (libheif's default: slow)", choices=_X265_PRESETS),
        "tune": Setting(str, "ssim", "x265 tuning (libheif's default: ssim)", choices=("ssim", "psnr")),
    }
    sweep = (5, 10, 20, 30, 40, 50, 60, 70, 80)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _heif_plugin()  # fail at construction, not on the first image

    def save_options(self, image: np.ndarray) -> dict[str, Any]:
        enc_params = {"preset": self.config["preset"], "tune": self.config["tune"],
                      "x265:pools": str(self.threads), "x265:frame-threads": "1"}
        return {"quality": self.config["quality"], "subsampling": self.config["subsampling"],
                "enc_params": enc_params}

    def _decode(self, data: bytes) -> np.ndarray:
        with _module_option(_heif_plugin().options, "DECODE_THREADS", self.threads):
            return super()._decode(data)

    def library_versions(self) -> dict[str, str]:
        info = _heif_plugin().libheif_info()
        versions = {"pillow": PIL.__version__, "pillow-heif": pillow_heif.__version__, "libheif": info["libheif"]}
        for label, text in (("x265", info["encoders"].get("x265", "")), ("libde265", info["decoders"].get("libde265", ""))):
            if text:  # e.g. "x265 HEVC encoder (4.3+1-e9b8812)", "libde265 HEVC decoder, version 1.1.3"
                versions[label] = text.rstrip(")").replace("(", "").split()[-1]
        return versions


def _heif_plugin() -> ModuleType:
    """pillow_heif, its HEIF opener registered with Pillow (thumbnails, depth and auxiliary images not decoded)."""
    if pillow_heif is None:
        raise CodecbenchError("hevc: pillow-heif is not installed (pip install pillow-heif)")
    Image.init()
    if "HEIF" not in Image.OPEN:
        pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return pillow_heif


@register_codec
class PngCodec(PillowCodec):
    """PNG via Pillow and zlib(-ng): the lossless reference."""

    name = "png"
    description = "PNG (Pillow, zlib/zlib-ng), lossless; knob: zlib compress_level 0-9 (Pillow's default 6)"
    lossless = True
    format = "PNG"
    max_size = 2**31 - 1  # the PNG specification's bound on IHDR width and height
    param = "compress_level"
    settings = {
        "compress_level": Setting(int, 6, "zlib level (0 = stored, 9 = smallest)", low=0, high=9),
    }
    sweep = (6,)
    pillow_features = {"zlib": "zlib", "zlib-ng": "zlib_ng"}
    end_marker = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk; Pillow stops reading after the image data
