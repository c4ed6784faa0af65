"""``torch-model``: any torch module with CompressAI's ``compress``/``decompress`` API, as a codecbench codec.

The model comes from ``factory=MODULE:CALLABLE`` (called with no arguments, or with ``quality=N`` where the spec
gives a quality), optionally with the weights of ``checkpoint=PATH``; e.g.
``torch-model:factory=mypkg.models:make,checkpoint=runs/q3.pt``. Its API: ``compress(x)`` of a float 1×3×H×W
tensor in [0, 1] returns ``{"strings": [[bytes], ...], "shape": ...}``, ``decompress(strings, shape)`` returns
``{"x_hat": tensor}``. The adapter's jobs: padding to ``stride``, ``update()`` of the entropy tables, device,
threads and the deterministic settings; the stream layout is in ``docs/compressai.md`` and
:mod:`codecbench.codecs.learned.adapters.strings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np
import torch

from codecbench.codecs.learned.adapters.strings import MODEL_ID_BYTES, model_digest, pack_output, strings_bytes
from codecbench.codecs.learned.adapters.strings import unpack_output
from codecbench.codecs.learned.base import TorchCodec
from codecbench.codecs.learned.container import Container
from codecbench.codecs.learned.threads import single_thread
from codecbench.codecs.learned.weights import CheckpointError, load_checkpoint, load_weights
from codecbench.core.codec import Setting, register_codec
from codecbench.core.errors import DecodeError, EncodeError, SpecError


class CompressAIProtocolCodec(TorchCodec):
    """The stream format and coding of a CompressAI-API model; subclasses say how the model is built
    (:meth:`make_model`) and what code makes its bits (:meth:`model_versions`)."""

    native_channels: ClassVar[tuple[int, ...]] = (3,)
    header_settings: ClassVar[tuple[str, ...] | None] = ("stride",)
    #: settings every adapter declares (the subclass adds how its model is named)
    common_settings: ClassVar[dict[str, Setting]] = {
        "stride": Setting(int, 64, "pad images to a multiple of this many pixels (the model's total "
                          "down-sampling), bottom and right, repeating edge pixels", low=1, high=1024),
        "update": Setting(bool, True, "call model.update(force=True) after loading: build the entropy tables"),
        "seed": Setting(int, 0, "torch seed while the model is built (randomly initialised weights are then the "
                        "same in every process)", low=0, high=2**31 - 1),
        "deterministic": Setting(bool, True, "code with one torch thread and deterministic cuDNN, so that the "
                                 "stream and the decoded image do not depend on the thread count"),
    }

    def __init__(self, *, device: str = "cpu", threads: int | None = None, **settings: Any) -> None:
        # a "checkpoint" setting names the model's state dict file, not TorchCodec's override of a shipped checkpoint
        weights = settings.pop("checkpoint", None)
        super().__init__(device=device, threads=threads, checkpoint=None, **settings)
        if weights is not None:
            self.config["checkpoint"] = self.settings["checkpoint"].parse("checkpoint", weights)
        self.stride = self.config["stride"]
        self._set_threads()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config["seed"])
            model = self.make_model()
        if not (isinstance(model, torch.nn.Module) and callable(getattr(model, "compress", None))
                and callable(getattr(model, "decompress", None))):
            raise SpecError(f"{self.name}: {self.model_label()} is a {type(model).__name__}, not a torch module "
                            "with compress() and decompress()")
        model = model.eval()
        if self.wants_update() and callable(getattr(model, "update", None)):
            try:
                with torch.no_grad(), single_thread():
                    model.update(force=True)
            except Exception as exc:  # the model's own error: one line naming it
                raise SpecError(f"{self.name}: {self.model_label()}: update(force=True) failed "
                                f"({type(exc).__name__}: {exc})") from None
        #: SHA-256 of the model's weights and entropy tables (the stream's model id is its first bytes)
        self.model_sha256 = model_digest(model)
        self.model = model.to(self.torch_device)

    # -- hooks ------------------------------------------------------------
    def make_model(self) -> torch.nn.Module:
        """The model, weights loaded, on the CPU (called under the configured seed)."""
        raise NotImplementedError

    def model_label(self) -> str:
        """How messages name the model."""
        return "the model"

    def model_versions(self) -> dict[str, str]:
        """Versions of the code that makes the model's bits (beside torch and the weights' digest)."""
        return {}

    def wants_update(self) -> bool:
        """Whether the entropy tables are built with ``update(force=True)`` after loading."""
        return bool(self.config["update"])

    # -- codec --------------------------------------------------------------
    def library_versions(self) -> dict[str, str]:
        return {**super().library_versions(), **self.model_versions(), "model sha256": self.model_sha256[:16]}

    @property
    def model_id(self) -> bytes:
        return bytes.fromhex(self.model_sha256)[:MODEL_ID_BYTES]

    @contextlib.contextmanager
    def coding(self) -> Iterator[None]:
        """The block of a compress or decompress call: one thread and deterministic cuDNN when ``deterministic``."""
        if not self.config["deterministic"]:
            yield
            return
        with single_thread(), torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
            yield

    def encode_tile(self, tile: np.ndarray) -> list[bytes]:
        who = f"{self.name} ({self.model_label()})"
        try:
            with self.coding():
                out = self.model.compress(self.to_tensor(tile))
        except Exception as exc:  # the model's own error: one line naming it
            raise EncodeError(f"{who}: compress() failed ({type(exc).__name__}: {exc})") from exc
        return pack_output(out, self.model_id, who)

    def decode_tile(self, sections: list[bytes], shape: tuple[int, int, int]) -> np.ndarray:
        who = f"{self.name} ({self.model_label()})"
        strings, latent = unpack_output(sections, self.model_id, shape[0] * shape[1], who)
        with self.coding():
            out = self.model.decompress(strings, latent)
        x_hat = out.get("x_hat") if isinstance(out, dict) else None
        expected = (1, shape[2], shape[0], shape[1])
        if not isinstance(x_hat, torch.Tensor) or tuple(x_hat.shape) != expected:
            got = tuple(x_hat.shape) if isinstance(x_hat, torch.Tensor) else type(out).__name__
            raise DecodeError(f"{who}: decompress() gave x_hat {got}, expected a tensor of shape {expected}")
        return self.to_image(x_hat.clamp(0, 1))

    def payload_bytes(self, data: bytes) -> int:
        """Bytes of the entropy-coded strings in ``data`` (without the container and strings header):
        what CompressAI's own bpp counts. DecodeError for a stream that is not this codec's."""
        box = Container.from_bytes(data, self.name, setting_kinds=self._setting_kinds(),
                                   format_versions=(self.format_version,))
        return strings_bytes(box.sections)


def resolve_factory(text: str) -> Callable[..., Any]:
    """The callable ``MODULE:ATTRIBUTE`` names (the attribute may be dotted); SpecError saying what is wrong."""
    module_name, colon, attribute = text.partition(":")
    if not colon or not module_name or not attribute:
        raise SpecError(f"torch-model: factory={text!r}: expected MODULE:CALLABLE, e.g. mypkg.models:make")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # the module's own import error, whatever it is
        raise SpecError(f"torch-model: factory module {module_name!r} cannot be imported "
                        f"({type(exc).__name__}: {exc})") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise SpecError(f"torch-model: {module_name!r} has no {attribute!r} (factory={text})")
        target = getattr(target, part)
    if not callable(target):
        raise SpecError(f"torch-model: factory={text} names a {type(target).__name__}, not a callable")
    return target


def read_state_dict(path: Path) -> dict:
    """The state dict of a checkpoint file: its ``"state_dict"`` entry (CompressAI's training checkpoints) or the
    file's dict itself; read with ``weights_only=True`` (:func:`~codecbench.codecs.learned.weights.load_checkpoint`)."""
    if not path.is_file():
        raise CheckpointError(f"torch-model: checkpoint {path} does not exist")
    obj = load_checkpoint(path)
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} holds no state dict (a dict of tensors, or one under 'state_dict')")
    return state


def _source_digest(module_name: str) -> str:
    """The first 16 hex digits of the SHA-256 of the source file of module ``module_name``; "unknown" without one."""
    try:
        source = inspect.getsourcefile(importlib.import_module(module_name))
    except (TypeError, ImportError):
        source = None
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16] if source else "unknown"


@register_codec
class TorchModelCodec(CompressAIProtocolCodec):
    name = "torch-model"
    description = ("any torch module with CompressAI's compress()/decompress() API, built by "
                   "factory=MODULE:CALLABLE (with an optional checkpoint=PATH); bpp counts strings and header")
    version = "1"
    param = "quality"
    settings = {
        "factory": Setting(str, "none", "MODULE:CALLABLE that returns the model (the spec must give it)"),
        "quality": Setting(int, 0, "passed to the factory as quality=N; 0: the factory is called without "
                           "arguments", low=0, high=1000),
        "checkpoint": Setting(str, "none", "state dict file loaded into the model (torch.load weights_only=True: "
                              "the file's 'state_dict' entry or the file's dict); none: the factory's weights"),
        **CompressAIProtocolCodec.common_settings,
    }

    @classmethod
    def unavailable(cls) -> str | None:
        return "needs factory=MODULE:CALLABLE naming a model of CompressAI's API (see docs/compressai.md)"

    def model_label(self) -> str:
        return self.config["factory"]

    def make_model(self) -> torch.nn.Module:
        if self.config["factory"] == "none":
            raise SpecError(f"torch-model: {self.unavailable()}")
        factory = resolve_factory(self.config["factory"])
        quality = self.config["quality"]
        try:
            model = factory(quality=quality) if quality else factory()
        except Exception as exc:  # the factory's own error, whatever it is: one line naming it
            call = f"{self.config['factory']}({f'quality={quality}' if quality else ''})"
            raise SpecError(f"torch-model: factory {call} failed: {type(exc).__name__}: {exc}") from None
        if self.config["checkpoint"] != "none" and isinstance(model, torch.nn.Module):  # else __init__ refuses it
            path = Path(self.config["checkpoint"]).expanduser()
            load_weights(model, {"state_dict": read_state_dict(path)}, path)
            self.checkpoint_digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        return model

    def model_versions(self) -> dict[str, str]:
        module = self.config["factory"].partition(":")[0]
        return {f"factory {module}": _source_digest(module)}
