"""The state and timing of a `pytest bench` session: cases, images, codecs, bitstreams, records.

A case (:class:`BenchCase`) is one single-point codec spec (or configuration at a target) on a dataset and
device; its encode and decode benchmarks share the session's :class:`BenchSession`. Timing
(:data:`SESSION_TIMED_REGION`): one untimed warm-up on a :data:`WARMUP_SIDE`-pixel square, then as many rounds
over the dataset as fit in the benchmark's time budget (:class:`RoundBudget`; at least one, at most
``--rounds``); ``enc_s``/``dec_s`` is the median round time per image. Scores come from the decode benchmark's
last timed round (no extra decode pass). Every codec call gets its own copy of an image, made outside the
timed region, and the contract is checked when scoring. The manual: ``docs/running.md``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from codecbench.core.averaging import mean_over_images
from codecbench.core.codec import Codec, create_codec
from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.images import SourceFile, source_file
from codecbench.core.metrics import METRICS
from codecbench.core.results import Record
from codecbench.core.targets import Target
from codecbench.datasets import get_dataset
from codecbench.engine.measure import check_contract, private_copy, score, timed
from codecbench.engine.records import error_text, record_of, unreadable_record
from codecbench.engine.targets import search_failure
from codecbench.integrations.bench_targets import (KNOBLESS, CaseSearch, Found, at_target, codecs_of, target_info,
                                                    written)

#: the side of the warm-up crop, pixels (the whole image where it is smaller)
WARMUP_SIDE = 128

#: What the session's ``enc_s``/``dec_s`` time (the ``timed_region`` of its reports and results files).
SESSION_TIMED_REGION = (
    "one round of the codec's encode (or decode) calls over every image of the dataset, followed by "
    "codec.synchronize(); per-image time = median round time over the timed rounds (as many as fit in the "
    "benchmark's time budget, 1 to --rounds; after one untimed encode and decode of a "
    f"{WARMUP_SIDE}×{WARMUP_SIDE} crop of the first image) "
    "/ the round's number of images (readable images for encode, encoded ones for decode); image copies, image "
    "loading, model loading and metric computation are outside"
)

Images = list[tuple[str, np.ndarray]]


@dataclass(frozen=True)
class BenchCase:
    """One benchmark case: a single-point codec spec on a dataset and device; or, with ``targets``, a configuration
    (a spec without its rate knob) searched per image to its one target, or measured once for all of them where
    its codec has no rate knob (``knobless``; :mod:`~codecbench.integrations.bench_targets`)."""

    spec: str
    dataset: str
    device: str
    targets: tuple[str, ...] = ()
    knobless: bool = False

    @property
    def id(self) -> str:
        at = [KNOBLESS if self.knobless else self.targets[0]] if self.targets else []
        return "-".join([self.spec, *at, self.dataset, self.device])

    @property
    def group(self) -> str:
        """pytest-benchmark group: the codecs at one target, or the codec's sweep, on one dataset and device."""
        if self.targets and not self.knobless:
            return f"{self.targets[0]} {self.dataset} {self.device}"
        return f"{self.spec.partition(':')[0]} {self.dataset} {self.device}"


@dataclass(frozen=True)
class RoundBudget:
    """How many timed rounds a benchmark gets: as many as fit in ``seconds``, at least 1, at most ``most``."""

    most: int
    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 0:  # NaN too
            raise OptionError(f"--benchmark-max-time must be a number of seconds ≥ 0, got {self.seconds!r}")

    def rounds(self, estimate_s: float | None) -> int:
        """The rounds for a round estimated at ``estimate_s`` seconds (None: unknown, e.g. the warm-up failed: 1)."""
        if estimate_s is None:
            return 1
        if estimate_s <= 0:
            return self.most
        return max(1, min(self.most, int(self.seconds // estimate_s)))


@dataclass
class _Estimate:
    """Estimated seconds of one encode round and one decode round of a case (None: unknown)."""

    encode: float | None = None
    decode: float | None = None


@dataclass
class BenchSession:
    """Images (and the files they were read from), codecs, bitstreams and records shared by the session's tests.

    ``scored_by_decode``: the cases whose decode benchmark runs in this process after their encode benchmark
    (the plugin fills it at collection); their encode benchmark leaves the scoring to it.
    """

    max_images: int | None
    budget: RoundBudget
    metrics: tuple[str, ...]
    images: dict[str, Images] = field(default_factory=dict)
    codecs: dict[tuple[str, str], Codec] = field(default_factory=dict)
    streams: dict[BenchCase, list[bytes | BaseException]] = field(default_factory=dict)
    records: dict[BenchCase, list[Record]] = field(default_factory=dict)
    sources: dict[tuple[str, str], SourceFile | None] = field(default_factory=dict)  # (dataset, image id) → file
    unreadable: dict[str, list[tuple[str, CodecbenchError]]] = field(default_factory=dict)  # dataset → (id, error)
    scored_by_decode: set[BenchCase] = field(default_factory=set)
    _estimates: dict[BenchCase, _Estimate] = field(default_factory=dict)
    _given: dict[BenchCase, list[np.ndarray]] = field(default_factory=dict)  # the copies the codec encoded
    _enc_s: dict[BenchCase, float | None] = field(default_factory=dict)
    _encode_info: dict[BenchCase, dict[str, Any]] = field(default_factory=dict)
    _found: dict[BenchCase, list[Found]] = field(default_factory=dict)  # each image's codec (and search encodes)
    _search: CaseSearch = field(default_factory=CaseSearch)

    def dataset(self, name: str) -> Images:
        """The dataset's readable (id, image) pairs, loaded once; the others go to ``unreadable`` with their error."""
        if name not in self.images:
            loaded, unreadable = [], []
            for item in get_dataset(name, max_images=self.max_images):
                self.sources[(name, item.id)] = source_file(item.path)
                try:
                    loaded.append((item.id, item.load()))
                except CodecbenchError as exc:
                    unreadable.append((item.id, exc))
            self.images[name], self.unreadable[name] = loaded, unreadable
        return self.images[name]

    def codec(self, case: BenchCase) -> Codec:
        """The case's codec (at a target: its configuration at the default setting)."""
        return self.built(case.spec, case.device)

    def built(self, spec: str, device: str) -> Codec:
        """The codec of a single-point ``spec`` on ``device``, built once (the selection makes cuda cases only where
        CUDA is available)."""
        key = (spec, device)
        if key not in self.codecs:
            self.codecs[key] = create_codec(spec, device=device)
        return self.codecs[key]

    def found(self, case: BenchCase) -> list[Found]:
        """Per readable image, the codec that codes it (with the search's encodes) or why there is none: the case's
        own codec, or at a target the setting found on that image, searched once per case before any timing."""
        if case not in self._found:
            images = [image for _, image in self.dataset(case.dataset)]
            if case.targets and not case.knobless:
                self._found[case] = self._search.found(self.built, case.spec, case.device, case.targets[0], images)
            else:
                self._found[case] = [(self.codec(case), 0)] * len(images)
        return self._found[case]

    def records_of(self, case: BenchCase) -> list[Record]:
        """The case's records as its results file holds them (a knobless case's once for every target)."""
        return written(self.records.get(case, []), case.targets, case.knobless)

    def bench_encode(self, benchmark: Any, case: BenchCase) -> None:
        """Time encoding the whole dataset; score now unless the case's decode benchmark will."""
        codec, images, codecs = self.codec(case), self.dataset(case.dataset), codecs_of(self.found(case))
        _label(benchmark, case)
        self._warm_up(benchmark, codecs, case, images)
        given: list[np.ndarray] = []

        def fresh_copies() -> tuple[tuple[list[Codec | BaseException], list[np.ndarray]], dict]:
            given[:] = [private_copy(image) for _, image in images]
            return (codecs, given), {}

        self.streams[case] = benchmark.pedantic(_encode_all, setup=fresh_copies,
                                                rounds=self.budget.rounds(self._estimates[case].encode))
        self._given[case] = given
        self._enc_s[case] = _median_per_item(benchmark, len(images))
        if case in self.scored_by_decode:
            self._encode_info[case] = benchmark.extra_info  # filled in when the decode benchmark has scored
            _fail_on_encode_errors(images, self.streams[case], self.unreadable[case.dataset])
            return
        self._score(codec, case, images, _decode_all(codecs, self.streams[case]))
        self._finish(benchmark, codec, case)

    def bench_decode(self, benchmark: Any, case: BenchCase) -> None:
        """Time decoding every bitstream of the dataset (encoding first if the encode benchmark did not run);
        score from the last timed round's decodings unless the encode benchmark has scored."""
        codec, images, codecs = self.codec(case), self.dataset(case.dataset), codecs_of(self.found(case))
        if case not in self.streams:
            self._warm_up(benchmark, codecs, case, images)
            self._given[case] = [private_copy(image) for _, image in images]
            self.streams[case] = _encode_all(codecs, self._given[case])
        _label(benchmark, case)
        streams = self.streams[case]
        decoded = benchmark.pedantic(_decode_all, args=(codecs, streams),
                                     rounds=self.budget.rounds(self._estimates[case].decode))
        if case not in self.records:
            self._score(codec, case, images, decoded)
        dec_s = _median_per_item(benchmark, sum(isinstance(s, bytes) for s in streams))
        for record in self.records[case]:
            if record.ok:
                record.dec_s = dec_s
        self._finish(benchmark, codec, case)

    def score_remaining(self) -> None:
        """Score the cases whose encode benchmark left the scoring to a decode benchmark that did not run
        (stopped by ``-x``, interrupted), one untimed decode each, so their results are not lost."""
        for case, streams in self.streams.items():
            if case not in self.records:
                codecs = codecs_of(self.found(case))
                self._score(self.codec(case), case, self.dataset(case.dataset), _decode_all(codecs, streams))

    def _warm_up(self, benchmark: Any, codecs: list[Codec | BaseException], case: BenchCase, images: Images) -> None:
        """One untimed encode and decode of a crop of the first image by its codec; from it, the estimated round
        times."""
        estimate = self._estimates.setdefault(case, _Estimate())
        codec = codecs[0] if codecs else None
        if not isinstance(codec, Codec) or getattr(benchmark, "disabled", False):  # nothing to time (e.g. xdist)
            return
        copy = private_copy(_middle(images[0][1], WARMUP_SIDE))
        scale = sum(image.shape[0] * image.shape[1] for _, image in images) / (copy.shape[0] * copy.shape[1])
        try:
            data, enc_s = timed(lambda: codec.encode(copy), codec)
            _, dec_s = timed(lambda: codec.decode(data), codec)
        except Exception:  # the timed round meets (and records) the same failure
            return
        estimate.encode, estimate.decode = enc_s * scale, dec_s * scale

    def _score(self, codec: Codec, case: BenchCase, images: Images, decoded: list[Any]) -> None:
        """Every image's record of ``case`` from its bitstream and decoding, then a failed record per unreadable
        image; ``enc_s`` set from the encode benchmark."""
        given = self._given.pop(case, None) or [None] * len(images)
        records = [
            record_of(found[0], case.dataset, image_id, image, self.sources.get((case.dataset, image_id)),
                      _scorer(found[0], image, copy, data, out, self.metrics)) if isinstance(found, tuple)
            else search_failure(codec, case.dataset, image_id, found, self.sources.get((case.dataset, image_id)),
                                Target.parse(case.targets[0]))
            for (image_id, image), found, copy, data, out in zip(images, self.found(case), given, self.streams[case],
                                                                  decoded)
        ]
        enc_s = self._enc_s.get(case)
        for record in records:
            if record.ok:
                record.enc_s = enc_s
                # pytest-benchmark times one case at a time; under xdist it times nothing (enc_s None)
                record.jobs = 1 if enc_s is not None else None
        self.records[case] = records + [
            unreadable_record(codec, case.dataset, image_id, exc, self.sources[(case.dataset, image_id)])
            for image_id, exc in self.unreadable[case.dataset]]
        if case.targets:
            at_target(self.records[case], case.targets[0], self.found(case))

    def _finish(self, benchmark: Any, codec: Codec, case: BenchCase) -> None:
        summary = _summary(codec, self.records[case])
        if case.targets:
            summary.update(target_info(case.targets, case.knobless, self.records[case]))
        benchmark.extra_info.update(summary)
        self._encode_info.pop(case, {}).update(summary)  # the encode benchmark's, when scoring was left to here
        _fail_on_errors(self.records[case])

    def all_records(self) -> list[Record]:
        return [r for records in self.records.values() for r in records]

    def to_workeroutput(self) -> list[dict[str, Any]]:
        """The session's records by case, as JSON for an xdist worker's ``workeroutput``."""
        return [{"spec": case.spec, "dataset": case.dataset, "device": case.device, "targets": list(case.targets),
                 "knobless": case.knobless, "records": [r.to_json() for r in records]}
                for case, records in self.records.items()]

    def add_workeroutput(self, cases: list[dict[str, Any]]) -> None:
        """Add a worker's records (:meth:`to_workeroutput`); a case already held (scored on two workers) is kept."""
        for case in cases:
            key = BenchCase(case["spec"], case["dataset"], case["device"], tuple(case["targets"]), case["knobless"])
            self.records.setdefault(key, [Record.from_json(r) for r in case["records"]])


#: where the plugin keeps the session's :class:`BenchSession` (``config.stash``)
SESSION_KEY = pytest.StashKey[BenchSession]()


def _label(benchmark: Any, case: BenchCase) -> None:
    benchmark.group = case.group
    benchmark.extra_info.update({"spec": case.spec, "dataset": case.dataset, "device": case.device})


def _middle(image: np.ndarray, side: int) -> np.ndarray:
    """The ``side`` × ``side`` square in the middle of ``image`` (its whole height or width where smaller)."""
    top, left = max(0, (image.shape[0] - side) // 2), max(0, (image.shape[1] - side) // 2)
    return image[top:top + side, left:left + side]


def _encode_all(codecs: list[Codec | BaseException], images: list[np.ndarray]) -> list[bytes | BaseException]:
    """Each image's bitstream by its codec, or the exception its encoding raised (or that left it without a codec;
    recorded when scoring)."""
    streams: list[bytes | BaseException] = []
    for codec, image in zip(codecs, images):
        try:
            streams.append(codec.encode(image) if isinstance(codec, Codec) else codec)
        except Exception as exc:
            streams.append(exc)
    _synchronize(codecs)
    return streams


def _decode_all(codecs: list[Codec | BaseException], streams: list[bytes | BaseException]) -> list[Any]:
    """Each bitstream's decoding by its image's codec, or the exception decoding raised; None where there is no
    bitstream."""
    decoded: list[Any] = []
    for codec, data in zip(codecs, streams):
        if not isinstance(data, bytes):
            decoded.append(None)
            continue
        try:
            decoded.append(codec.decode(data))
        except Exception as exc:
            decoded.append(exc)
    _synchronize(codecs)
    return decoded


def _synchronize(codecs: list[Codec | BaseException]) -> None:
    """Wait for each distinct codec's queued work (a sweep case has one codec, a target case one per setting)."""
    for codec in {id(c): c for c in codecs if isinstance(c, Codec)}.values():
        codec.synchronize()


def _scorer(codec: Codec, image: np.ndarray, given: np.ndarray | None, data: bytes | BaseException, decoded: Any,
            metrics: tuple[str, ...]) -> Callable[[], dict]:
    """The measured fields of one image's record, for :func:`~codecbench.engine.records.record_of` (which turns a
    raised failure into the record's error)."""
    def measured() -> dict:
        for failure in (data, decoded):
            if isinstance(failure, BaseException):
                raise failure
        if given is not None:
            check_contract(codec, given, image, decoded)
        return score(codec, image, data, decoded, metrics=metrics)

    return measured


def _median_per_item(benchmark: Any, n: int) -> float | None:
    """The benchmark's median round time / ``n``; None when nothing was timed (``--benchmark-disable``, xdist)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or not n:
        return None
    return statistics.median(stats.stats.data) / n


def _summary(codec: Codec, records: list[Record]) -> dict[str, Any]:
    ok = [r for r in records if r.ok]

    def mean(attr: str) -> float | None:
        return mean_over_images(r.metric(attr) for r in ok)

    return {
        "codec": codec.name,
        "setting": codec.setting,
        "lossless": codec.lossless,
        "lossless_ok": all(bool(r.lossless_ok) for r in ok) if codec.lossless and ok else None,
        "n_images": len(records),
        "n_failed": len(records) - len(ok),
        "pixels": sum(r.width * r.height for r in records),
        **{attr: mean(attr) for attr in ("bpp", *METRICS)},
        "versions": ok[0].versions if ok else {},
    }


def _fail_on_errors(records: list[Record]) -> None:
    _fail([(r.image, r.error) for r in records if not r.ok], len(records))


def _fail_on_encode_errors(images: Images, streams: list[bytes | BaseException],
                           unreadable: list[tuple[str, CodecbenchError]]) -> None:
    """Fail an encode benchmark whose scoring is left to the decode benchmark: for the images that could not
    be read or encoded (what the records will say)."""
    failed = [(image_id, error_text(data)) for (image_id, _), data in zip(images, streams)
              if isinstance(data, BaseException)]
    _fail(failed + [(image_id, error_text(exc)) for image_id, exc in unreadable], len(images) + len(unreadable))


def _fail(failed: list[tuple[str, str | None]], total: int) -> None:
    if failed:
        pytest.fail(f"{len(failed)}/{total} images failed: " + "; ".join(f"{i}: {e}" for i, e in failed[:5]),
                    pytrace=False)
