"""Which codec cases a `pytest bench` session runs: ``--codecs`` × ``--datasets`` × ``--devices``.

The selection (:class:`Selection`) is made once per session and kept in the config's stash. A spec without its
rate knob is the codec's default sweep (with ``--target-bpp`` or ``--target-psnr``: the configuration searched to
each target); a codec runs only on the devices it declares and the datasets whose channels it takes. What the
options select but cannot run is never dropped in silence (pytest's "got empty parameter set"):

- a codec named with ``--codecs`` on a device or dataset it refuses: one skipped test per (codec, device) or
  (codec, dataset) saying why (:class:`LeftOut`); left out of the default (every registered codec): one line in
  the session header (:attr:`Selection.notes`);
- cuda cases where CUDA is absent: one skipped test per codec saying so where ``--devices`` names cuda (or nothing
  else is left), else one header line counting them;
- a codec that cannot run here by its name alone (:meth:`~codecbench.core.codec.Codec.unavailable`): named, it is
  built before anything runs and a failure is a usage error naming it and why; by default, one header line;
- nothing left to run and nothing this machine lacks: a usage error ``nothing to run: …``, as ``codecbench run``;
  an option given but naming nothing (``--codecs ""``) is one too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pytest

from codecbench.core.codec import (Codec, Spec, available_codecs, create_codec, expand_spec, get_codec_class,
                                   split_specs, unavailable_codecs)
from codecbench.core.errors import CodecbenchError, DatasetError, OptionError, SpecError, error_text
from codecbench.datasets import get_dataset
from codecbench.engine.channels import refused_by, takes_dataset
from codecbench.core.targets import Target
from codecbench.engine.targets import target_configs
from codecbench.integrations.bench_session import BenchCase
from codecbench.integrations.bench_targets import session_targets, target_points

#: the devices ``--devices`` takes
DEVICES = ("cpu", "cuda")

#: why a codec's cuda cases are skipped where CUDA is absent (after "CODEC on ")
NO_CUDA = "cuda: no CUDA device here (torch.cuda.is_available() is False)"

#: what each selecting option takes, for the error when it is given but names nothing
_TAKES = {"codecbench_codecs": ("--codecs", "codec specs, e.g. jpeg,webp (`codecbench list codecs`)"),
          "codecbench_datasets": ("--datasets", "datasets, e.g. embedded,kodak (`codecbench list datasets`)"),
          "codecbench_devices": ("--devices", f"devices: {', '.join(DEVICES)}")}


@dataclass(frozen=True)
class LeftOut:
    """A codec named on a device or dataset where it has no case: the id of its skipped test (``jpeg-cuda``,
    ``webp-kodak:gray``) and why."""

    id: str
    reason: str


@dataclass
class Selection:
    """The session's cases; the named combinations left out (skipped tests); the header lines saying what the
    defaults left out; and the codecs built to check that they run here ((spec, device) → codec, for the session
    to use)."""

    cases: list[BenchCase]
    skipped: list[LeftOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    built: dict[tuple[str, str], Codec] = field(default_factory=dict)

    def params(self) -> list[Any]:
        """The ``codec_case`` parameters: each case, then each left-out combination as a skipped test."""
        return ([pytest.param(case, id=case.id) for case in self.cases]
                + [pytest.param(left, id=left.id, marks=pytest.mark.skip(reason=left.reason))
                   for left in self.skipped])


_SELECTION_KEY = pytest.StashKey[Selection]()


def _commas(text: str) -> list[str]:
    return text.split(",")


def listed(config: pytest.Config, option: str, split: Callable[[str], list[str]] = _commas) -> list[str]:
    """The items of a repeatable option (comma-separated, or as ``split`` splits each value; stripped, empty ones
    left out). OptionError where the option is given but names nothing (``--codecs ""``)."""
    given = config.getoption(option) or []
    items = [item.strip() for text in given for item in split(text) if item.strip()]
    if given and not items:
        flag, takes = _TAKES[option]
        raise OptionError(f"{flag} {' '.join(repr(text) for text in given)} names nothing: give comma-separated "
                          f"{takes}")
    return items


def selection(config: pytest.Config) -> Selection:
    """The session's :class:`Selection`, made once per session.

    Raises :class:`~codecbench.core.errors.CodecbenchError` for an unknown codec, setting or device, an option that
    names nothing, a named codec that cannot run here, or a selection with nothing to run.
    """
    if _SELECTION_KEY not in config.stash:
        config.stash[_SELECTION_KEY] = _select(config)
    return config.stash[_SELECTION_KEY]


def bench_cases(config: pytest.Config) -> list[BenchCase]:
    """Every (spec, dataset, device) case selected by the command-line options (:func:`selection`)."""
    return selection(config).cases


def selection_notes(config: pytest.Config) -> list[str]:
    """The header lines of the selection: what the defaults left out and why (none before selection)."""
    return config.stash[_SELECTION_KEY].notes if _SELECTION_KEY in config.stash else []


def check_selection(config: pytest.Config) -> dict[tuple[str, str], Codec]:
    """Select the cases now where codecs, datasets, devices or targets are given (a bad selection fails before
    anything runs), and check that every dataset given is known, available and has images
    (:class:`~codecbench.core.errors.DatasetError` otherwise). Returns the codecs built to check them
    (:attr:`Selection.built`; none where the selection is left to collection)."""
    for name in listed(config, "codecbench_datasets"):
        if not len(get_dataset(name, max_images=1)):
            raise DatasetError(f"dataset {name!r} has no images")
    if any(config.getoption(option) is not None for option in _TAKES) or session_targets(config):
        return selection(config).built
    return {}


@dataclass
class _Refused:
    """What the options select that the codecs refuse: per dataset or device, the refusing codecs by name; and
    per codec the cuda cases left out because CUDA is absent."""

    by: dict[str, dict[str, type[Codec]]] = field(default_factory=dict)
    no_cuda: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, codec: type[Codec]) -> None:
        self.by.setdefault(what, {})[codec.name] = codec

    def reasons(self) -> list[str]:
        """Why, one per dataset or device: ``webp takes 3-channel images only and kodak:gray has 1``."""
        return [_why(what, codecs.values()) for what, codecs in self.by.items()]

    def left_out(self) -> list[LeftOut]:
        """One skipped test per (codec, dataset or device) refused."""
        return [LeftOut(f"{name}-{what}", _why(what, [codec])) for what, codecs in self.by.items()
                for name, codec in codecs.items()]


def _select(config: pytest.Config) -> Selection:
    named = listed(config, "codecbench_codecs", split_specs)
    datasets = listed(config, "codecbench_datasets") or ["embedded"]
    devices = listed(config, "codecbench_devices")
    unknown = [d for d in devices if d not in DEVICES]
    if unknown:
        raise OptionError(f"unknown device {unknown[0]!r} in --devices; known devices: {', '.join(DEVICES)}")
    cases: list[BenchCase] = []
    refused, built = _Refused(), {}
    for spec, targets, knobless in _points(named or list(available_codecs()), session_targets(config)):
        cls = get_codec_class(Spec.parse(spec).name)
        if named and cls.unavailable() is not None:
            _probe(cls, spec, devices or DEVICES, built)
        for dataset in datasets:
            if not takes_dataset(cls, dataset):
                refused.add(dataset, cls)
                continue
            for device in devices or DEVICES:
                if device not in cls.devices:
                    if devices:  # a device the defaults add is no refusal
                        refused.add(device, cls)
                elif device == "cuda" and not _cuda_available():
                    refused.no_cuda[cls.name] = refused.no_cuda.get(cls.name, 0) + 1
                else:
                    cases.append(BenchCase(spec, dataset, device, targets, knobless))
    return _outcome(cases, refused, built, named=bool(named), devices_named=bool(devices))


def _outcome(cases: list[BenchCase], refused: _Refused, built: dict[tuple[str, str], Codec], *, named: bool,
             devices_named: bool) -> Selection:
    """The selection of ``cases`` with what was refused as skipped tests (what ``--codecs`` named) or header lines
    (what the defaults chose); OptionError where nothing is left to run and nothing this machine lacks."""
    chosen = Selection(cases, built=built)
    if named:
        chosen.skipped += refused.left_out()
    elif refused.by:
        chosen.notes.append("left out: " + "; ".join(refused.reasons()))
    if refused.no_cuda and (devices_named or not cases):
        chosen.skipped += [LeftOut(f"{name}-cuda", f"{name} on {NO_CUDA}") for name in refused.no_cuda]
    elif refused.no_cuda:
        chosen.notes.append(f"CUDA is not available on this machine: {sum(refused.no_cuda.values())} cuda cases "
                            "left out (--devices cuda: one skipped test per codec)")
    missing = {} if named else unavailable_codecs()
    if missing:
        chosen.notes.append(f"{len(missing)} codecs cannot run here and are left out: "
                            + "; ".join(f"{name} ({why})" for name, why in missing.items()))
    if not cases and not refused.no_cuda:
        raise OptionError("nothing to run: " + "; ".join(refused.reasons() or ["no codec selected runs here"]))
    return chosen


def _probe(cls: type[Codec], spec: str, devices: Iterable[str], built: dict[tuple[str, str], Codec]) -> None:
    """Build ``spec`` (of a codec that cannot run here by its name alone) on the first of ``devices`` it can use
    here (else on the cpu: its cases skip, but what stops it is said first), into ``built``; SpecError naming it
    and why where that fails."""
    usable = [d for d in devices if d in cls.devices and (d != "cuda" or _cuda_available())] or [
        d for d in ("cpu",) if d in cls.devices]
    if not usable or (spec, usable[0]) in built:
        return
    try:
        built[(spec, usable[0])] = create_codec(spec, device=usable[0])
    except Exception as exc:  # whatever stops it, a plug-in's own error too: the codec cannot run here
        why = str(exc).splitlines()[0] if isinstance(exc, CodecbenchError) and str(exc) else error_text(exc)
        raise SpecError(f"--codecs {spec} cannot run here: {why}") from None


def _why(what: str, codecs: Iterable[type[Codec]]) -> str:
    """Why ``codecs`` have no case on the device or dataset ``what``."""
    return _off_device(codecs, what) if what in DEVICES else refused_by(codecs, what)


def _off_device(codecs: Iterable[type[Codec]], device: str) -> str:
    """Why ``codecs`` have no case on ``device``, e.g. ``jpeg, png run on cpu only, not cuda``."""
    by_devices: dict[tuple[str, ...], list[str]] = {}
    for codec in codecs:
        by_devices.setdefault(tuple(codec.devices), []).append(codec.name)
    return "; ".join(f"{', '.join(names)} {'runs' if len(names) == 1 else 'run'} on {', '.join(devices)} only"
                     for devices, names in by_devices.items()) + f", not {device}"


def _points(specs: list[str], targets: list[Target]) -> list[tuple[str, tuple[str, ...], bool]]:
    """(spec, targets, knobless) of each case on a dataset and device: each single-point spec of a sweep, or each
    configuration at each target (:mod:`~codecbench.integrations.bench_targets`)."""
    if not targets:
        return [(single, (), False) for spec in specs for single in expand_spec(spec)]
    configs = target_configs(specs, targets)
    if not configs:
        raise OptionError(f"--target-{targets[0].metric}: every codec selected is lossless ({', '.join(specs)}): "
                          "there is no rate to aim at")
    return [(config, at, knobless) for config in configs for at, knobless in target_points(config, targets)]


def _cuda_available() -> bool:
    import torch  # asked only when a selected codec runs on cuda, a learned one: torch is imported anyway

    return bool(torch.cuda.is_available())
