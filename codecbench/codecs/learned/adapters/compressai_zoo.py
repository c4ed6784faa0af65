"""``compressai``: a model of CompressAI's zoo (``compressai:model=bmshj2018-hyperprior,quality=3``) as a codec.

The model is built by CompressAI's own zoo function (``compressai.zoo.image_models[model](quality, metric,
pretrained)``), so pretrained weights load through CompressAI's own loader (a download from CompressAI's servers
on first use, cached by torch.hub; a machine without network gets a one-line error). With ``pretrained=false``
the weights are randomly initialised under ``seed`` and the entropy tables built with ``update(force=True)``;
pretrained weights carry their tables (as CompressAI's ``eval_model`` loads them, without ``update``). Coding is
:class:`~codecbench.codecs.learned.adapters.protocol.CompressAIProtocolCodec`'s.

The codec is always registered; where ``compressai`` cannot be imported, ``codecbench list`` says so and why,
and building it is a SpecError with that reason.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from typing import Any

import torch

from codecbench.codecs.learned.adapters.protocol import CompressAIProtocolCodec
from codecbench.codecs.learned.weights import CheckpointError
from codecbench.core.codec import Setting, register_codec
from codecbench.core.errors import SpecError, error_text


@functools.cache
def _zoo() -> tuple[Any, str | None]:
    """``(compressai.zoo, None)``, or ``(None, why it cannot be imported)``; tried once per process."""
    try:
        return importlib.import_module("compressai.zoo"), None
    except Exception as exc:  # ModuleNotFoundError, or torchvision's own failure beside a CPU torch
        return None, f"compressai cannot be imported here ({error_text(exc)})"


@register_codec
class CompressAICodec(CompressAIProtocolCodec):
    name = "compressai"
    description = ("a model of CompressAI's zoo (model=NAME, quality, metric), pretrained through CompressAI's "
                   "own loader or randomly initialised; bpp counts strings and header")
    version = "1"
    param = "quality"
    sweep = (1, 2, 3, 4, 5, 6)
    settings = {
        "model": Setting(str, "bmshj2018-hyperprior", "a name of compressai.zoo.image_models"),
        "quality": Setting(int, 3, "the zoo's quality 1–8 (cheng2020 models: 1–6), low to high rate",
                           low=1, high=8),
        "metric": Setting(str, "mse", "the distortion the weights were trained for", choices=("mse", "ms-ssim")),
        "pretrained": Setting(bool, True, "CompressAI's published weights (downloaded on first use); false: "
                              "random weights under seed, tables built with update()"),
        **{k: s for k, s in CompressAIProtocolCodec.common_settings.items() if k != "update"},
    }

    @classmethod
    def unavailable(cls) -> str | None:
        return _zoo()[1]

    def model_label(self) -> str:
        return f"{self.config['model']} {self.config['metric']} quality {self.config['quality']}"

    def wants_update(self) -> bool:
        return not self.config["pretrained"]

    def make_model(self) -> torch.nn.Module:
        zoo, why = _zoo()
        if zoo is None:
            raise SpecError(f"codec 'compressai': {why}")
        models = zoo.image_models
        if self.config["model"] not in models:
            raise SpecError(f"compressai: no zoo model {self.config['model']!r}; models: {', '.join(models)}")
        try:
            return models[self.config["model"]](quality=self.config["quality"], metric=self.config["metric"],
                                                pretrained=self.config["pretrained"], progress=False)
        except (ValueError, KeyError) as exc:  # the zoo's refusal of a quality or metric for this model
            raise SpecError(f"compressai: {self.model_label()}: {exc}") from None
        except OSError as exc:  # URLError and HTTPError are OSErrors: the download of the weights failed
            raise CheckpointError(f"compressai: the pretrained weights of {self.model_label()} could not be "
                                  f"downloaded ({type(exc).__name__}: {exc}); pretrained=false gives randomly "
                                  "initialised weights") from None

    def model_versions(self) -> dict[str, str]:
        return {"compressai": importlib.metadata.version("compressai")}
