"""Equal-rate and equal-quality cases of a `pytest bench` session: ``--target-bpp``, ``--target-psnr``.

A case at a target is a configuration (a spec without its rate knob) on a dataset and device. Before its
benchmarks time anything, the knob is searched on each image with the search of ``codecbench run --target-bpp``
(:class:`~codecbench.engine.targets.KnobSearch`, untimed); the timed rounds then code each image at the setting
found on it. A configuration without a rate knob is one case, measured once and written for every target
(``target_encodes`` 0); lossless codecs are left out (:func:`~codecbench.engine.targets.target_configs`).
The manual: ``docs/running.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
import pytest

from codecbench.core.codec import Codec, Spec, get_codec_class
from codecbench.core.results import Record
from codecbench.core.targets import METRICS, Target, targets_of
from codecbench.engine.targets import KnobSearch

#: what the timed region of a session with target cases adds to :data:`~.bench_session.SESSION_TIMED_REGION`
SEARCH_UNTIMED = ("; at a --target-bpp/--target-psnr target, each image is coded at the setting its untimed "
                  "search of the rate knob found (the search is outside)")

#: what a case says in place of a target where its codec has no rate knob (its test ids, ``extra_info``)
KNOBLESS = "knobless"


def session_targets(config: pytest.Config) -> list[Target]:
    """The targets of ``--target-bpp`` and ``--target-psnr`` (none: a sweep); OptionError for a bad value."""
    return targets_of({metric: config.getoption(f"codecbench_target_{metric}") for metric in METRICS})


def target_points(config: str, targets: Sequence[Target]) -> list[tuple[tuple[str, ...], bool]]:
    """(targets, knobless) of each case of configuration ``config``: one per target, or one for every target
    where its codec has no rate knob. SpecError for a setting the codec does not take."""
    cls = get_codec_class(Spec.parse(config).name)
    cls.parse_settings(Spec.parse(config).raw)  # a bad setting fails before anything runs
    texts = tuple(str(t) for t in targets)
    return [(texts, True)] if cls.param is None else [((text,), False) for text in texts]


Found = tuple[Codec, int] | BaseException  # an image's codec at the setting found, with the search's encodes


class CaseSearch:
    """Searches a session's configurations to their targets, one image at a time (each knob's usable values
    found once per device)."""

    def __init__(self) -> None:
        self._searches: dict[str, KnobSearch] = {}  # device → its search

    def found(self, build: Callable[[str, str], Codec], config: str, device: str, target: str,
              images: Sequence[np.ndarray]) -> list[Found]:
        """Per image: the codec of ``config`` at the knob value closest to ``target`` and how many encodes the
        search made, or the exception the search raised there; ``build(spec, device)`` builds a setting's codec."""
        if device not in self._searches:
            self._searches[device] = KnobSearch(lambda spec: build(spec, device))
        search, aim = self._searches[device], Target.parse(target)
        out: list[Found] = []
        for image in images:
            try:
                codec, result = search.find(config, image, aim)
                out.append((codec, result.evaluations))
            except BaseException as exc:  # one image's failure is its record's error, as in `codecbench run`
                if isinstance(exc, KeyboardInterrupt):
                    raise
                out.append(exc)
        return out


def codecs_of(found: Sequence[Found]) -> list[Codec | BaseException]:
    """Each image's codec, or why it has none (its search failed)."""
    return [f[0] if isinstance(f, tuple) else f for f in found]


def at_target(records: Sequence[Record], target: str, found: Sequence[Found]) -> None:
    """Put a target case's records at ``target`` as `codecbench run` writes them, with the search's encodes on each
    successful one (``found``: the readable images', in the records' order; the unreadable images' follow)."""
    for i, record in enumerate(records):
        record.target = target
        image = found[i] if i < len(found) else None
        record.target_encodes = image[1] if record.ok and isinstance(image, tuple) else None


def written(records: list[Record], targets: Sequence[str], knobless: bool) -> list[Record]:
    """A case's records as its results file holds them: a knobless case's once for every target."""
    if not knobless:
        return records
    return [dataclasses.replace(r, target=target) for target in targets for r in records]


def target_info(targets: Sequence[str], knobless: bool, records: Sequence[Record]) -> dict[str, Any]:
    """What a target case adds to ``benchmark.extra_info``: its target, how many images reached it (within the
    search's tolerance), and per image the setting found, the bpp and PSNR it gave and the search's encodes."""
    ok = [r for r in records if r.ok]
    aim = Target.parse(targets[0])
    return {
        "target": KNOBLESS if knobless else targets[0],
        "targets": list(targets),
        "setting": None,  # per image in "found"
        "on_target": None if knobless else sum(aim.reached(getattr(r, aim.metric)) for r in ok
                                               if getattr(r, aim.metric) is not None),
        "found": [{"image": r.image, "setting": r.setting, "bpp": r.bpp, "psnr": r.psnr,
                   "target_encodes": r.target_encodes} for r in ok],
    }
