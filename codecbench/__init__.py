"""codecbench: benchmark and evaluation harness for learned and classical image codecs."""

from codecbench.core.codec import Codec, Setting, available_codecs, create_codec, expand_spec, get_codec_class
from codecbench.core.errors import (
    CodecbenchError,
    DatasetError,
    DecodeError,
    EncodeError,
    ImageError,
    ResultsError,
    SpecError,
)

__version__ = "0.1.0"

__all__ = [
    "Codec",
    "Setting",
    "available_codecs",
    "create_codec",
    "expand_spec",
    "get_codec_class",
    "CodecbenchError",
    "DatasetError",
    "DecodeError",
    "EncodeError",
    "ImageError",
    "ResultsError",
    "SpecError",
]
