"""The codec interface, declared settings, spec strings and the codec registry.

A codec is a class with a registry name, declared settings (one of them the rate knob) and two
methods: :meth:`Codec.encode` turns a uint8 H×W×C image into the bytes that would be stored,
:meth:`Codec.decode` turns those bytes, and nothing else, back into an image. A configured codec
is named by a *spec string* (``jpeg:quality=75``), parsed by :meth:`Spec.parse` only; ``key=a|b|c``
expands to several specs (:func:`expand_spec`) and a spec without its rate knob to the codec's
default sweep. Codecs register in :data:`CODECS` with ``@register_codec`` or through the
entry-point group ``codecbench.codecs``.
"""

from __future__ import annotations

import functools
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping

import numpy as np

from codecbench.core.errors import CodecbenchError, DecodeError, EncodeError, ImageError, SpecError
from codecbench.core.headers import declare_size
from codecbench.core.registry import Registry

ENTRY_POINT_GROUP = "codecbench.codecs"


@dataclass(frozen=True)
class Setting:
    """One declared codec setting: its type, default and allowed values.

    ``low``/``high`` bound numeric settings (inclusive); ``choices`` lists the
    allowed values of any type. ``help`` says what it means, with units.
    """

    kind: type
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None

    def parse(self, key: str, raw: Any) -> Any:
        """Convert ``raw`` (a string from a spec, or a value) and validate it."""
        try:
            if self.kind is bool and isinstance(raw, str):
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(raw)
                value = raw.lower() in ("1", "true", "yes")
            else:
                value = self.kind(raw)
        except (TypeError, ValueError):
            raise SpecError(f"setting {key}={raw!r}: expected {self.kind.__name__}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"setting {key}={raw!r}: must be finite")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise SpecError(f"setting {key}={raw!r}: allowed values are {allowed}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise SpecError(f"setting {key}={raw!r}: must be in [{self.low}, {self.high}]")
        return value

    def describe(self) -> str:
        """A short human description: type, range or choices, default."""
        if self.choices is not None:
            allowed = "|".join(map(str, self.choices))
        elif self.low is not None or self.high is not None:
            allowed = f"{self.low}..{self.high}"
        else:
            allowed = self.kind.__name__
        return f"{allowed} (default {self.default})"


class Codec(ABC):
    """Base class of every codec, classical or learned.

    Subclasses declare ``name``, ``settings`` and ``param`` (the rate knob,
    one of ``settings``; None for a codec without one), a default ``sweep``
    of knob values, implement :meth:`_encode` and :meth:`_decode`, and
    register with ``@register_codec`` (or an entry point). The
    base class validates images (channels, ``min_size``, ``max_size``) and
    settings and turns library errors during decoding into
    :class:`~codecbench.core.errors.DecodeError`.

    Bump ``version`` whenever the bits a codec writes for the same input and
    settings change; results caches and comparisons key on it.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    lossless: ClassVar[bool] = False
    param: ClassVar[str | None] = None
    sweep: ClassVar[tuple] = ()
    settings: ClassVar[Mapping[str, Setting]] = {}
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    channels: ClassVar[tuple[int, ...]] = (1, 3)
    #: smallest height/width the codec accepts; smaller images raise EncodeError
    min_size: ClassVar[int] = 1
    #: largest height/width (pixels) the format or its library can code; larger images raise
    #: EncodeError before the library is called. None: no limit of the codec's own
    max_size: ClassVar[int | None] = None

    def __init__(self, *, device: str = "cpu", threads: int | None = None, **settings: Any) -> None:
        if device not in self.devices:
            raise SpecError(f"codec {self.name!r} runs on {', '.join(self.devices)}, not {device!r}")
        self.device = device
        self.threads = threads if threads is not None else (os.cpu_count() or 1)
        self.config: dict[str, Any] = self.parse_settings(settings)

    @classmethod
    def parse_settings(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Validate settings (raw strings or values); return every setting with defaults filled in."""
        unknown = sorted(set(settings) - set(cls.settings))
        if unknown:
            allowed = ", ".join(f"{k}={s.describe()}" for k, s in cls.settings.items()) or "none"
            raise SpecError(f"codec {cls.name!r} has no setting {', '.join(unknown)}; settings: {allowed}")
        return {key: s.parse(key, settings.get(key, s.default)) for key, s in cls.settings.items()}

    # -- identity ------------------------------------------------------
    @property
    def spec(self) -> str:
        """The canonical spec string: name and every setting, sorted."""
        if not self.config:
            return self.name
        return str(Spec.of(self.name, dict(sorted(self.config.items()))))

    @property
    def setting(self) -> Any:
        """The value of the rate knob (None for a codec without one)."""
        return self.config.get(self.param) if self.param else None

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries that produce this codec's bits."""
        return {}

    @functools.cached_property
    def identity(self) -> dict[str, str]:
        """What every record of this codec carries as ``versions``: codecbench, the codec's format version and
        :meth:`library_versions`; computed once per codec object (learned codecs hash their checkpoints)."""
        from codecbench import __version__  # the package root imports this module: a top-level import is a cycle

        return {"codecbench": __version__, self.name: self.version, **self.library_versions()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec} on {self.device}>"

    # -- coding --------------------------------------------------------
    def encode(self, image: np.ndarray) -> bytes:
        """Encode a uint8 H×W×C image; return the complete stored bitstream."""
        check_image(image, self.channels)
        h, w = image.shape[:2]
        if min(h, w) < self.min_size:
            raise EncodeError(f"{self.name} needs images of at least {self.min_size}×{self.min_size}, got {w}×{h}")
        if self.max_size is not None and max(h, w) > self.max_size:
            raise EncodeError(f"{self.name} codes images of at most {self.max_size} pixels a side, got {w}×{h}")
        return bytes(self._encode(np.ascontiguousarray(image)))

    def decode(self, data: bytes) -> np.ndarray:
        """Decode a bitstream from :meth:`encode`; return a uint8 H×W×C image.

        Raises :class:`DecodeError` for truncated, corrupt or foreign data.
        """
        if not data:
            raise DecodeError(f"{self.name}: empty bitstream")
        try:
            image = self._decode(bytes(data))
        except CodecbenchError:
            raise
        except (MemoryError, RecursionError) as exc:
            raise DecodeError(f"{self.name}: bitstream rejected ({type(exc).__name__})") from exc
        except Exception as exc:  # a library's own error for bad data
            raise DecodeError(f"{self.name}: corrupt bitstream ({type(exc).__name__}: {exc})") from exc
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3):
            raise DecodeError(f"{self.name}: decoder did not produce a uint8 H×W×C image")
        return image

    def forge_oversized(self, data: bytes, width: int, height: int) -> bytes:
        """``data`` (a stream from :meth:`encode`) with its header rewritten to declare width×height.

        The hook of the decode-bomb tests: a stream that claims a huge image over
        a small payload, which :meth:`decode` must refuse with DecodeError before
        allocating the image. Fields narrower than the values take them modulo
        their range. The default knows the classical formats
        (:func:`codecbench.core.headers.declare_size`: JPEG family, PNG, JPEG
        2000, AVIF, WebP, JPEG XL) and returns other data unchanged; a codec
        with another format overrides it (the contract tests fail until it does).
        """
        return declare_size(bytes(data), width, height)

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this codec cannot run here by its name alone (a library missing, a setting the spec must give), or
        None. Such a codec stays registered (a spec that gives what it needs builds it) and is listed with the
        reason, but :func:`available_codecs` leaves it out, so runs over every codec skip it."""
        return None

    def payload_bytes(self, data: bytes) -> int | None:
        """The bytes of stream ``data`` that are entropy-coded payload, without container and headers, where the
        codec tells them apart (the strings that CompressAI's bpp counts); None where it does not."""
        return None

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU); called by timers."""

    @abstractmethod
    def _encode(self, image: np.ndarray) -> bytes:
        """Encode a validated, contiguous uint8 H×W×C image."""

    @abstractmethod
    def _decode(self, data: bytes) -> np.ndarray:
        """Decode non-empty bytes; library exceptions become DecodeError."""


def check_image(image: Any, channels: Iterable[int] = (1, 3)) -> None:
    """Raise :class:`ImageError` unless ``image`` is a uint8 H×W×C array with an allowed C."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"expected a uint8 H×W×C image, got {image.dtype} array of shape {image.shape}")
    if image.shape[2] not in tuple(channels):
        raise ImageError(f"expected {' or '.join(map(str, channels))} channels, got {image.shape[2]}")


def format_value(value: Any) -> str:
    """A setting value as spec strings write it (``75.0`` → ``75``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


@dataclass(frozen=True)
class Spec:
    """A parsed spec string ``name:key=value,...``: the codec name and its raw settings, in the order given.

    The one parser of spec strings: the CLI, the runner, the pytest plugin,
    reports and the regression gate all read specs through :meth:`parse`.
    ``str(spec)`` writes it back.
    """

    name: str
    settings: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Spec:
        """Split ``name:key=value,...``; :class:`SpecError` for an empty spec, a bad or repeated setting."""
        if not isinstance(text, str) or not text.strip():
            raise SpecError("empty codec spec")
        name, _, rest = text.strip().partition(":")
        settings: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = part.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise SpecError(f"bad setting {part!r} in spec {text!r}; expected key=value")
            if key.strip() in settings:
                raise SpecError(f"setting {key.strip()!r} given twice in spec {text!r}")
            settings[key.strip()] = value.strip()
        return cls(name.strip(), tuple(settings.items()))

    @classmethod
    def of(cls, name: str, settings: Mapping[str, Any]) -> Spec:
        """The spec of ``name`` with ``settings`` (values written as :func:`format_value` writes them)."""
        return cls(name, tuple((k, format_value(v)) for k, v in settings.items()))

    @property
    def raw(self) -> dict[str, str]:
        """The settings as a dict of raw strings."""
        return dict(self.settings)

    def __str__(self) -> str:
        return self.name + (":" + ",".join(f"{k}={v}" for k, v in self.settings) if self.settings else "")

    def canonical(self) -> str:
        """The spec as records carry it (every setting, defaults filled, sorted); as given for a codec not
        registered here or a spec its codec refuses (a results file from another installation)."""
        try:
            config = get_codec_class(self.name).parse_settings(self.raw)
        except SpecError:
            return str(self)
        return str(Spec.of(self.name, dict(sorted(config.items()))))


# -- registry ----------------------------------------------------------
def _check_codec(cls: type[Codec]) -> None:
    if cls.param is not None and cls.param not in cls.settings:
        raise CodecbenchError(f"codec {cls.name!r}: rate knob {cls.param!r} is not a declared setting")


#: every codec, by name: the built-in modules' (declared in ``codecbench/__init__.py``) and the entry points'
CODECS: Registry[type[Codec]] = Registry("codec", Codec, group=ENTRY_POINT_GROUP, check=_check_codec,
                                         error=SpecError, sort=True)
#: the class decorator that registers a codec under its ``name``
register_codec = CODECS.register


def available_codecs() -> dict[str, type[Codec]]:
    """The registered codecs (built-in and from entry points) that run here by name alone, by name, sorted: those
    whose :meth:`Codec.unavailable` is None."""
    return {name: cls for name, cls in CODECS.items() if cls.unavailable() is None}


def unavailable_codecs() -> dict[str, str]:
    """The registered codecs that :func:`available_codecs` leaves out, by name, with the reason."""
    return {name: why for name, cls in CODECS.items() if (why := cls.unavailable()) is not None}


def get_codec_class(name: str) -> type[Codec]:
    """The codec class registered as ``name`` (importing built-in modules only up to its own); SpecError naming
    the close and the known ones otherwise."""
    return CODECS.get(name)


def create_codec(spec: str, *, device: str = "cpu", threads: int | None = None) -> Codec:
    """Build one configured codec from a single-point spec string."""
    parsed = Spec.parse(spec)
    if any("|" in v for _, v in parsed.settings):
        raise SpecError(f"spec {spec!r} lists several values; expand it with expand_spec first")
    return get_codec_class(parsed.name)(device=device, threads=threads, **parsed.raw)


def expand_spec(spec: str) -> list[str]:
    """Expand value lists (``q=10|50``) and a missing rate knob (the default sweep).

    Returns single-point specs in sweep order, each validated.
    """
    parsed = Spec.parse(spec)
    name, raw = parsed.name, parsed.raw
    cls = get_codec_class(name)
    if cls.param is not None and cls.param not in raw and cls.sweep:
        raw[cls.param] = "|".join(format_value(v) for v in cls.sweep)
    points: list[dict[str, str]] = [{}]
    for key, value in raw.items():
        points = [{**p, key: v.strip()} for p in points for v in value.split("|")]
    specs = []
    for point in points:
        single = str(Spec.of(name, point))
        cls.parse_settings(point)  # validate now, so a bad spec fails before a run starts
        specs.append(single)
    return specs


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of specs, keeping each spec's own ``key=value`` settings.

    ``"jpeg,webp:quality=80,method=6,avif"`` → ``["jpeg", "webp:quality=80,method=6", "avif"]``:
    a piece ``key=value`` (an ``=`` before any ``:``) continues the spec before it, so values may hold
    ``:`` (``subsampling=4:2:0``, ``factory=mypkg.models:make``); a codec name never holds ``=``.
    """
    specs: list[str] = []
    for piece in filter(None, (p.strip() for p in text.split(","))):
        if "=" in piece.partition(":")[0]:
            if not specs:
                raise SpecError(f"setting {piece!r} comes before any codec name in {text!r}")
            specs[-1] += "," + piece
        else:
            specs.append(piece)
    return specs


def with_settings(specs: Iterable[str], settings: str) -> list[str]:
    """Add ``key=value`` settings (comma-separated, values may be ``a|b`` lists) to every spec that declares them.

    A spec that sets a key itself keeps its own value. Raises SpecError for a
    key that no given codec declares.
    """
    extra = Spec.parse("_:" + settings).raw if settings.strip() else {}
    specs = list(specs)
    used: set[str] = set()
    out = []
    for spec in specs:
        parsed = Spec.parse(spec)
        raw = parsed.raw
        declared = get_codec_class(parsed.name).settings
        for key, value in extra.items():
            if key in declared:
                used.add(key)
                raw.setdefault(key, value)
        out.append(str(Spec.of(parsed.name, raw)))
    unused = sorted(set(extra) - used)
    if unused:
        raise SpecError(f"no selected codec has the setting {', '.join(unused)}")
    return out
