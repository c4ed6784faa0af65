"""Equal-rate and equal-quality runs: per image, each codec configuration's rate knob searched to each target.

``codecbench run --target-bpp``/``--target-psnr`` runs a :class:`TargetRun`.
For each image, configuration (a spec without its rate knob) and
:class:`~codecbench.core.targets.Target`, the knob is searched on that image
(:func:`~codecbench.engine.rate_search.search_knob`, untimed), then the setting
found is measured by the :class:`~codecbench.engine.runner.Runner` like any
record, carrying ``target`` and ``target_encodes``. A knobless codec is measured
once and recorded for every target (``target_encodes`` 0); lossless codecs are
left out. A failed search is the record's ``error``. One call at a time, in
process (no jobs, isolation or Dask); a resumed run skips what the store holds.
The `pytest bench` plugin's ``--target-bpp``/``--target-psnr`` cases search with
the same :class:`KnobSearch` and :func:`target_configs`.
The manual: ``docs/running.md``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from codecbench.core.codec import Codec, Setting, Spec, get_codec_class
from codecbench.core.errors import CodecbenchError, OptionError, SpecError
from codecbench.core.images import SourceFile, source_file
from codecbench.core.results import Record
from codecbench.core.targets import Target, configuration
from codecbench.datasets import DatasetItem, get_dataset
from codecbench.engine.channels import refused_by, takes_dataset
from codecbench.engine.measure import encoded_bpp, measure
from codecbench.engine.rate_search import SearchResult, search_knob
from codecbench.engine.runner import Runner
from codecbench.engine.records import error_text, unreadable_record


def check_options(*, jobs: int, isolate: bool, dask: bool) -> None:
    """:class:`OptionError` unless a target run can go this way: one codec call at a time, in this process."""
    if jobs != 1 or isolate or dask:
        raise OptionError("--target-bpp/--target-psnr search each image in this process, one codec call at "
                          "a time: use them with --jobs 1 and without --isolate, --timeout or Dask")


class TargetRun:
    """Searches and measures each configuration at each target on every image (module docstring).

    ``runner`` measures the settings found and stores the records; it must run one codec call at a time in
    this process (:class:`OptionError` otherwise). ``configs`` are specs without their rate knob
    (:class:`SpecError` for one that sets it or lists several values).
    """

    def __init__(self, runner: Runner, configs: Sequence[str], targets: Sequence[Target]) -> None:
        check_options(jobs=runner.jobs, isolate=runner.isolate, dask=runner.executor.remote)
        if not targets:
            raise OptionError("no targets given")
        self.runner, self.targets = runner, list(targets)
        self.search = KnobSearch(runner.codec)
        self.configs = target_configs(configs, self.targets)
        for spec in self.configs:
            self.runner.codec(spec)  # validates the other settings now, before anything runs

    @property
    def tasks_per_image(self) -> int:
        """Records per image of a dataset: one per configuration and target."""
        return len(self.configs) * len(self.targets)

    def run_dataset(self, dataset: str, *, max_images: int | None = None, download: bool = False) -> Iterator[Record]:
        """Yield the records of every configuration and target on every image of ``dataset`` (resuming a store)."""
        data = get_dataset(dataset, max_images=max_images, download=download)
        configs = [c for c in self.configs if takes_dataset(type(self.runner.codec(c)), data.name)]
        if len(configs) < len(self.configs):
            refused = refused_by((type(self.runner.codec(c)) for c in self.configs), data.name)
            warnings.warn(f"skipped on {data.name}: {refused}", stacklevel=2)
        done = self._done(data.name)
        for item in data:
            pending = [(c, t) for c in configs for t in self.targets
                       if (self._key(c), item.id, str(t)) not in done]
            if pending:
                yield from self._item(data.name, item, pending)

    def _key(self, spec: str) -> tuple:
        """The configuration of ``spec`` as :func:`configuration` gives it for the codec's canonical spec."""
        codec = self.runner.codec(spec)
        return (*configuration(codec.spec, codec.param), codec.device)

    def _done(self, dataset: str) -> set[tuple]:
        """(configuration, image, target) of the store's successful target records made by today's codec."""
        store = self.runner.store
        if store is None:
            return set()
        return {((*configuration(r.spec, r.knob), r.device), r.image, r.target) for r in store.records
                if r.target is not None and r.dataset == dataset and r.ok
                and r.versions == self.runner.codec(r.spec).identity}

    def _item(self, dataset: str, item: DatasetItem, pending: list[tuple[str, Target]]) -> Iterator[Record]:
        """The records of one image: loaded once, then each pending (configuration, target)."""
        source = source_file(item.path)
        start = time.perf_counter()
        try:
            image, failure = item.load(), None
        except CodecbenchError as exc:
            image, failure = None, exc
        self.runner.time_spent.loading += time.perf_counter() - start
        once: dict[str, Record] = {}  # a knob-less configuration's one measurement of this image
        for spec, target in pending:
            base = self.runner.codec(spec)
            if failure is not None:
                record = unreadable_record(base, dataset, item.id, failure, source)
            elif base.param is None:
                if spec not in once:
                    once[spec] = self.runner.evaluate(base, dataset, item.id, image, source)
                record = dataclasses.replace(once[spec])
            else:
                record = self._searched(spec, target, dataset, item.id, image, source)
            record.target = str(target)
            if record.target_encodes is None and record.ok:
                record.target_encodes = 0
            yield self.runner.keep(record)

    def _searched(self, spec: str, target: Target, dataset: str, item_id: str, image: np.ndarray,
                  source: SourceFile | None) -> Record:
        """The record of the setting of ``spec``'s knob closest to ``target`` on this image (its search failing:
        a failed record of the configuration's default setting)."""
        base = self.runner.codec(spec)
        start = time.perf_counter()
        try:
            codec, found = self.search.find(spec, image, target)
        except BaseException as exc:  # one image's failure must not end the run (as a failed measurement)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return search_failure(base, dataset, item_id, exc, source, target)
        finally:
            self.runner.time_spent.codec += time.perf_counter() - start
        record = self.runner.evaluate(codec, dataset, item_id, image, source)
        record.target_encodes = found.evaluations
        return record


def target_configs(configs: Sequence[str], targets: Sequence[Target]) -> list[str]:
    """The configurations of ``configs`` that a run at ``targets`` searches, in order, without repeats: a lossless
    codec's left out with a warning; :class:`SpecError` for a spec that sets its codec's rate knob."""
    kept = []
    for spec in dict.fromkeys(configs):
        cls = get_codec_class(Spec.parse(spec).name)
        if cls.param is not None and cls.param in Spec.parse(spec).raw:
            raise SpecError(f"{spec}: sets the rate knob {cls.param!r}, which --target-{targets[0].metric} "
                            "searches per image: leave it out")
        if cls.lossless:
            warnings.warn(f"{spec}: a lossless codec has no rate to aim at; left out of the target run",
                          stacklevel=2)
            continue
        kept.append(spec)
    return kept


def search_failure(base: Codec, dataset: str, item_id: str, failure: BaseException, source: SourceFile | None,
                   target: Target) -> Record:
    """The failed record of configuration ``base`` on an image whose search to ``target`` raised ``failure``."""
    record = unreadable_record(base, dataset, item_id, failure, source)
    record.error = f"searching {target}: {error_text(failure)}"
    return record


class KnobSearch:
    """The search of a configuration's rate knob on one image (:func:`search_knob`, untimed), over the codecs that
    ``codec_of`` builds (spec → :class:`Codec`; the caller keeps them, so each setting is built once)."""

    def __init__(self, codec_of: Callable[[str], Codec]) -> None:
        self.codec_of = codec_of
        self._knobs: dict[str, Setting] = {}  # each configuration's rate knob, as searched

    def find(self, spec: str, image: np.ndarray, target: Target) -> tuple[Codec, SearchResult]:
        """The codec of configuration ``spec`` at the knob value closest to ``target`` on ``image``, and the search's
        result; raises what the search (an encode, a decode) raised."""
        found = search_knob(self._knob(spec), lambda v: self._evaluate(spec, v, image, target), target)
        return self._at(spec, found.value), found

    def _knob(self, spec: str) -> Setting:
        """The rate knob of ``spec``'s codec, its ``choices`` narrowed to the values that can be built here (a
        learned model's shipped checkpoints; one warning names the others). SpecError when none can."""
        if spec not in self._knobs:
            setting = self.codec_of(spec).settings[self.codec_of(spec).param]
            if setting.choices is not None:
                usable, missing = [], []
                for value in setting.choices:
                    try:
                        self._at(spec, value)
                        usable.append(value)
                    except CodecbenchError as exc:
                        missing.append(f"{value} ({error_text(exc)})")
                if missing:
                    warnings.warn(f"{spec}: rate knob values that cannot be built here are left out of the search: "
                                  f"{'; '.join(missing)}", stacklevel=2)
                if not usable:
                    raise SpecError(f"{spec}: no value of its rate knob can be built here")
                setting = dataclasses.replace(setting, choices=tuple(usable))
            self._knobs[spec] = setting
        return self._knobs[spec]

    def _at(self, spec: str, value: Any) -> Codec:
        """The codec of configuration ``spec`` with its rate knob at ``value``."""
        parsed = Spec.parse(spec)
        return self.codec_of(str(Spec.of(parsed.name, {**parsed.raw, self.codec_of(spec).param: value})))

    def _evaluate(self, spec: str, value: Any, image: np.ndarray, target: Target) -> float:
        """The bpp (one encode), or the PSNR in dB (encode, decode; inf for an exact decode), at knob ``value``."""
        codec = self._at(spec, value)
        if target.metric == "bpp":
            return encoded_bpp(codec, image)
        psnr = measure(codec, image, metrics=("psnr",))["psnr"]
        return math.inf if psnr is None else psnr
