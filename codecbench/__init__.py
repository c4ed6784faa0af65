"""codecbench: benchmark and evaluation harness for learned and classical image codecs."""

from codecbench.core.codec import (
    Codec,
    Setting,
    available_codecs,
    create_codec,
    expand_spec,
    get_codec_class,
    register_codec,
)
from codecbench.core.errors import (
    CodecbenchError,
    DatasetError,
    DecodeError,
    EncodeError,
    ImageError,
    ResultsError,
    SpecError,
)
from codecbench.core.registry import declare_builtins

__version__ = "0.1.0"

# The package root is the one module that may name modules of every layer: here each registry learns which
# modules define its built-ins (imported on first need, cheapest first; why: codecbench.core.registry).
declare_builtins("codec", "codecbench.codecs.classical.pillow", "codecbench.codecs.classical.jpeg2000",
                 "codecbench.codecs.classical.imagecodecs", "codecbench.codecs.learned.models",
                 "codecbench.codecs.learned.adapters")
declare_builtins("trainable model", "codecbench.codecs.learned.models")
declare_builtins("metric", "codecbench.core.iqa.table")

__all__ = [
    "Codec",
    "Setting",
    "available_codecs",
    "create_codec",
    "expand_spec",
    "get_codec_class",
    "register_codec",
    "CodecbenchError",
    "DatasetError",
    "DecodeError",
    "EncodeError",
    "ImageError",
    "ResultsError",
    "SpecError",
]
