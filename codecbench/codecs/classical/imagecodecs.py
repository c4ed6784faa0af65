"""Codecs from the imagecodecs package: JPEG-LS (CharLS), lossless JPEG (libjpeg-turbo) and JPEG XL (libjxl).

Each returns the library's native stream: a JPEG-LS file (SOI … EOI, with
the 46-byte SPIFF header imagecodecs always writes), a lossless JPEG file
(ITU-T T.81 lossless process: SOF3 frame, DPCM with one of the seven
predictors, Huffman-coded differences), or a bare JPEG XL codestream (no
ISOBMFF container, which only adds boxes).
Encoding and decoding run in memory; the timed region holds the library call.
imagecodecs exposes no header-only read, so the header is read by
:mod:`codecbench.core.headers` and :mod:`codecbench.core.jxl_header`, and a
stream is refused before the library allocates anything when it declares
more than MAX_PIXELS pixels, more than MAX_DECODED_SAMPLES samples (JPEG XL:
colour plus extra channels) or more than MAX_JPEG_SCANS scans (lossless JPEG).
"""

from __future__ import annotations

from typing import Any, ClassVar

import imagecodecs
import numpy as np

from codecbench.core.codec import Codec, Setting, register_codec
from codecbench.core import headers as _headers
from codecbench.codecs._common import (as_image, check_complete, check_decoded_samples, check_decoded_size,
                                      check_scan_count)
from codecbench.core.jxl_header import jpegxl_header
from codecbench.core.errors import DecodeError


class ImagecodecsCodec(Codec):
    """A codec that is one imagecodecs encode/decode pair, ``<library>_encode`` and ``<library>_decode``.

    Subclasses set ``library`` and return their keyword arguments from
    :meth:`encode_options` and :meth:`decode_options`.
    """

    library: ClassVar[str]
    #: bytes every complete stream ends with, checked before the library sees it
    end_marker: ClassVar[bytes] = b""

    def encode_options(self, image: np.ndarray) -> dict[str, Any]:
        """Keyword arguments for ``imagecodecs.<library>_encode``."""
        return {}

    def decode_options(self) -> dict[str, Any]:
        """Keyword arguments for ``imagecodecs.<library>_decode``."""
        return {}

    def library_versions(self) -> dict[str, str]:
        # e.g. "charls 2.4.3", "libjxl 0.11.2"
        label, _, version = getattr(imagecodecs, f"{self.library}_version")().rpartition(" ")
        return {"imagecodecs": imagecodecs.__version__, label: version}

    def _encode(self, image: np.ndarray) -> bytes:
        encode = getattr(imagecodecs, f"{self.library}_encode")
        return encode(image[..., 0] if image.shape[2] == 1 else image, **self.encode_options(image))

    def check_header(self, data: bytes) -> None:
        """Refuse (DecodeError), from the header alone, a stream that declares more than the harness decodes."""

    def _decode(self, data: bytes) -> np.ndarray:
        check_complete(self.name, data, self.end_marker)
        self.check_header(data)
        decode = getattr(imagecodecs, f"{self.library}_decode")
        return as_image(self.name, decode(data, **self.decode_options()))


@register_codec
class JpeglsCodec(ImagecodecsCodec):
    """Lossless JPEG-LS (CharLS, NEAR = 0), imagecodecs' default interleaving, no colour transform."""

    name = "jpegls"
    description = "JPEG-LS lossless (imagecodecs, CharLS), NEAR=0, no colour transform"
    lossless = True
    library = "jpegls"
    end_marker = b"\xff\xd9"  # EOI; CharLS 2.4 spins for tens of seconds on a cut-off scan
    # ISO 14495-1's oversize-dimension LSE segment holds 32-bit sizes; CharLS 2.x writes it above 65535
    max_size = 2**32 - 1

    def check_header(self, data: bytes) -> None:
        size = _headers.jpegls_size(data)
        if size is not None:
            check_decoded_size(self.name, *size)

    def encode_options(self, image: np.ndarray) -> dict[str, Any]:
        # CharLS's own size estimate is too small for noisy images; JPEG-LS codes an 8-bit sample
        # in at most 32 bits, plus one stuffed bit per 0xFF byte, so 5 bytes a sample always suffice.
        return {"level": 0, "out": 5 * image.nbytes + 1024}


@register_codec
class LjpegCodec(ImagecodecsCodec):
    """Lossless JPEG (ITU-T T.81 lossless process, SOF3) through libjpeg-turbo, gray or RGB, no colour transform.

    imagecodecs' own ``ljpeg`` codec (liblj92) encodes single-component images only, so both gray and RGB
    go through its ``jpeg8`` codec (libjpeg-turbo ≥ 3) in lossless mode: point transform 0, one
    interleaved scan of R, G, B (or the gray component), Huffman tables fitted to the image (libjpeg-turbo
    always does so in lossless mode). The knob is the predictor selection value of T.81 Table H.1
    (1 = left neighbour, imagecodecs' default; 7 = mean of left and above).
    """

    name = "ljpeg"
    description = (
        "lossless JPEG (ITU-T T.81 lossless process, SOF3; imagecodecs, libjpeg-turbo), no colour transform; "
        "knob: predictor 1-7 (T.81 Table H.1, default 1 = left neighbour)"
    )
    lossless = True
    library = "jpeg8"
    end_marker = b"\xff\xd9"  # EOI: libjpeg-turbo decodes a cut-off scan without an error, pixels made up
    max_size = 65535  # the SOF's 16-bit sizes (imagecodecs' libjpeg-turbo lifts JPEG_MAX_DIMENSION to them)
    param = "predictor"
    settings = {
        "predictor": Setting(int, 1, "T.81 predictor: 1 = Ra, 2 = Rb, 3 = Rc, 4 = Ra+Rb-Rc, 5 = Ra+(Rb-Rc)/2, "
                             "6 = Rb+(Ra-Rc)/2, 7 = (Ra+Rb)/2 (Ra left, Rb above, Rc above-left)", low=1, high=7),
    }
    sweep = (1,)

    def check_header(self, data: bytes) -> None:
        # libjpeg-turbo also decodes lossy (DCT) JPEGs: a stream without a lossless frame is foreign
        size = _headers.ljpeg_size(data)
        if size is None:
            raise DecodeError(f"{self.name}: not a lossless JPEG (no SOF3 frame header before the first scan)")
        check_decoded_size(self.name, *size)
        check_scan_count(self.name, data)  # after a one-component first scan, libjpeg-turbo decodes every scan

    def encode_options(self, image: np.ndarray) -> dict[str, Any]:
        return {"lossless": True, "predictor": self.config["predictor"]}


class _JpegxlCodec(ImagecodecsCodec):
    """JPEG XL via libjxl; ``effort`` defaults to libjxl's (and cjxl's) 7, not imagecodecs' 5."""

    library = "jpegxl"
    max_size = 2**30  # the SizeHeader's largest U32 value (ISO 18181-1; libjxl's level-10 bound)

    def check_header(self, data: bytes) -> None:
        head = jpegxl_header(data)
        if head is None:
            raise DecodeError(f"{self.name}: no complete JPEG XL header (signature, image size, metadata)")
        check_decoded_size(self.name, head.width, head.height)
        check_decoded_samples(self.name, head.samples(),
                              f"{head.width}×{head.height} with {head.extra_channels} extra channels")

    def decode_options(self) -> dict[str, Any]:
        # index=0: only the first frame of a (foreign) animation is returned, so a stream of many
        # frames cannot multiply the memory that MAX_PIXELS bounds
        return {"numthreads": self.threads, "index": 0}


_EFFORT = Setting(int, 7, "encoder effort (1 = fastest, 10 = slowest, best)", low=1, high=10)


@register_codec
class JpegxlCodec(_JpegxlCodec):
    """Lossy JPEG XL (VarDCT). The knob is cjxl's quality, mapped to a butteraugli distance by libjxl."""

    name = "jpegxl"
    description = (
        "JPEG XL lossy (imagecodecs, libjxl), bare codestream; rate knob: quality 0-99 as cjxl -q "
        "(libjxl's JxlEncoderDistanceFromQuality: 90 = distance 1.0); effort 7"
    )
    param = "quality"
    settings = {
        # Not 100: that is distance 0, which libjxl's lossy mode codes larger than 99 yet still lossy.
        "quality": Setting(int, 75, "cjxl quality (0 = smallest file; 90 = distance 1, visually lossless)",
                           low=0, high=99),
        "effort": _EFFORT,
    }
    sweep = (5, 20, 40, 55, 70, 80, 90, 95)

    def encode_options(self, image: np.ndarray) -> dict[str, Any]:
        return {
            "level": self.config["quality"],
            "lossless": False,
            "effort": self.config["effort"],
            "numthreads": self.threads,
        }


@register_codec
class JpegxlLosslessCodec(_JpegxlCodec):
    """Lossless JPEG XL (modular mode)."""

    name = "jpegxl-lossless"
    description = "JPEG XL lossless (imagecodecs, libjxl, modular), bare codestream; knob: effort 1-10 (default 7)"
    lossless = True
    param = "effort"
    settings = {"effort": _EFFORT}
    sweep = (7,)

    def encode_options(self, image: np.ndarray) -> dict[str, Any]:
        return {"lossless": True, "effort": self.config["effort"], "numthreads": self.threads}
