"""Which codec cases a `pytest bench` session runs: ``--codecs`` × ``--datasets`` × ``--devices``.

The selection is made once per session and kept in the config's stash. A
spec without its rate knob is the codec's default sweep (with ``--target-bpp``
or ``--target-psnr``: the configuration searched to each target); a codec runs only on
the devices it declares and the datasets whose channels it takes. Without
``--devices``, cuda cases are made only where CUDA is available
(:func:`cuda_left_out` counts the others, for one line in the session
header instead of one skipped test each).
"""

from __future__ import annotations

import pytest

from codecbench.core.codec import Spec, available_codecs, expand_spec, get_codec_class, split_specs
from codecbench.core.errors import OptionError
from codecbench.datasets import get_dataset
from codecbench.engine.channels import takes_dataset
from codecbench.core.targets import Target
from codecbench.engine.targets import target_configs
from codecbench.integrations.bench_session import BenchCase
from codecbench.integrations.bench_targets import session_targets, target_points

#: the devices ``--devices`` takes
DEVICES = ("cpu", "cuda")

_CASES_KEY = pytest.StashKey[tuple[list[BenchCase], int]]()  # the selected cases, cuda cases left out


def listed(config: pytest.Config, option: str) -> list[str]:
    """The comma-separated items of a repeatable option, stripped, empty ones left out."""
    return [item.strip() for text in config.getoption(option) or [] for item in text.split(",") if item.strip()]


def bench_cases(config: pytest.Config) -> list[BenchCase]:
    """Every (spec, dataset, device) case selected by the command-line options, computed once per session.

    Raises :class:`~codecbench.core.errors.CodecbenchError` for an unknown codec, setting or device.
    """
    if _CASES_KEY not in config.stash:
        config.stash[_CASES_KEY] = _select(config)
    return config.stash[_CASES_KEY][0]


def cuda_left_out(config: pytest.Config) -> int:
    """How many cuda cases the default ``--devices`` left out because CUDA is absent (0 before selection)."""
    return config.stash[_CASES_KEY][1] if _CASES_KEY in config.stash else 0


def check_selection(config: pytest.Config) -> None:
    """Select the cases now where codecs, devices or targets are given (a bad spec or target fails before anything
    runs), and check
    that every dataset given is known and available (:class:`~codecbench.core.errors.DatasetError` otherwise)."""
    if config.getoption("codecbench_codecs") or config.getoption("codecbench_devices") or session_targets(config):
        bench_cases(config)
    for name in listed(config, "codecbench_datasets"):
        get_dataset(name, max_images=1)


def _select(config: pytest.Config) -> tuple[list[BenchCase], int]:
    specs = [s for text in config.getoption("codecbench_codecs") or [] for s in split_specs(text)]
    specs = specs or list(available_codecs())
    datasets = listed(config, "codecbench_datasets") or ["embedded"]
    devices = listed(config, "codecbench_devices")
    unknown = [d for d in devices if d not in DEVICES]
    if unknown:
        raise OptionError(f"unknown device {unknown[0]!r} in --devices; known devices: {', '.join(DEVICES)}")
    cases = []
    for spec, targets, knobless in _points(specs, session_targets(config)):
        cls = get_codec_class(Spec.parse(spec).name)
        cases += [BenchCase(spec, d, dev, targets, knobless) for d in datasets for dev in devices or DEVICES
                  if dev in cls.devices and takes_dataset(cls, d)]
    if devices or not any(c.device == "cuda" for c in cases) or _cuda_available():
        return cases, 0
    cpu = [c for c in cases if c.device != "cuda"]
    return cpu, len(cases) - len(cpu)


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
