"""The codecbench pytest plugin: options, benchmark cases, end-of-session report.

Load it from a ``conftest.py`` with ``pytest_plugins = ["codecbench.integrations.pytest_plugin"]``.
Any test that takes the ``codec_case`` fixture is parametrized over
codec spec × dataset × device (from ``--codecs``, ``--datasets``,
``--devices``); the ``codecbench_session`` fixture holds the session's images,
codecs, bitstreams and records. At the end of the session the reporter writes
``<report-dir>/<dataset>.md`` for each dataset and the results file they came
from, ``<report-dir>/<dataset>.json`` (default report dir: ``results/``, git-ignored; the committed
``reports/`` are written only with ``--report-dir reports``); ``--metrics`` picks the metrics;
``--report-anchor``, ``--report-per-image`` and ``--report-file-size`` shape
the report as ``codecbench report``'s ``--anchor``, ``--per-image`` and
``--file-size`` do.

Timing inside a benchmark (:data:`SESSION_TIMED_REGION`, which the reports
state): one round encodes (or decodes) every image of the dataset once; a
record's ``enc_s``/``dec_s`` is the median round time divided by the number of
images (pytest-benchmark's own JSON keeps every round).

An image that cannot be read (truncated, not an image) is not timed; every
case of its dataset gets a failed record for it (``error`` as ``codecbench
run`` writes it), so reports count it in ``ok/total`` and the benchmark fails
after its results are recorded.

Under pytest-xdist (``pytest bench --benchmark-only -n auto``) the cases run on
the workers and the controller writes the one report per dataset. Timings are
not measured there: pytest-benchmark disables every benchmark when xdist is
active (it times nothing, even with ``--benchmark-enable``, and rejects
``--benchmark-only``; this plugin takes ``--benchmark-only`` over so it still
skips the non-benchmark tests), and timings taken while other workers run would
be contaminated anyway. So under xdist bytes, bpp and quality are measured in
parallel, ``enc_s``/``dec_s`` are left empty (None), the other benchmarks of
``bench/`` (speed goals, comparisons: not codec cases) are skipped with
:data:`UNTIMED_BENCHMARK_SKIP` as the reason, and the report's timed
region and the results' ``meta.timed_region`` say "timings not measured: N
xdist workers; run without -n for timings". Each worker keeps its records and
hands them to the controller as JSON (``Record.to_json``) through
``config.workeroutput``; workers write no report. Under ``-n`` (``--dist
load``) a case's encode and decode tests run on one worker, so it is scored
once; with another ``--dist`` mode a case split across two workers is scored
on both (the same bytes) and the controller keeps one copy. The merged records
are in the serial run's order.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from codecbench.core.codec import Codec, Spec, available_codecs, create_codec, expand_spec, get_codec_class, split_specs
from codecbench.datasets import get_dataset
from codecbench.engine.measure import check_count, score
from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.images import SourceFile, source_file
from codecbench.analysis.bdrate import DEFAULT_ANCHOR
from codecbench.render.output import build_reports, write_reports
from codecbench.render.rd import RDOptions
from codecbench.core.results import Record, library_versions, machine_meta, write_results
from codecbench.core.metrics import METRICS, select_metrics
from codecbench.engine.runner import base_record, error_text, takes_dataset, unreadable_record

#: where the session writes its reports and results by default: git-ignored, never the committed reports/
DEFAULT_REPORT_DIR = Path("results")
WARMUP_ROUNDS = 1  # untimed rounds before a benchmark's timed ones

#: What the session's ``enc_s``/``dec_s`` time (the ``timed_region`` of its reports and results files).
SESSION_TIMED_REGION = (
    "one round of the codec's encode (or decode) calls over every image of the dataset, followed by "
    "codec.synchronize(); per-image time = median round time over the timed rounds (after "
    f"{WARMUP_ROUNDS} untimed warm-up round) / the round's number of images (readable images for encode, "
    "encoded ones for decode); image loading, model loading, the scoring decode and metric computation are outside"
)


#: The session's records under a pytest-xdist controller or worker (``workeroutput`` key and stash).
_XDIST_RECORDS = "codecbench_records"


def xdist_workers(config: pytest.Config) -> int:
    """How many xdist workers run the session's tests: 0 without xdist (or ``-n 0``), ≥ 1 under xdist."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput["workercount"])
    if config.getoption("dist", "no") == "no":
        return 0
    return len(config.getoption("tx", None) or [])


def untimed_region(workers: int) -> str:
    """The ``timed_region`` of a session run on ``workers`` xdist workers (no timings)."""
    return (f"timings not measured: {workers} xdist workers (pytest-benchmark disables timing under xdist); "
            "run without -n for timings")


#: Why a benchmark other than a codec case (a speed goal, a comparison, a table) is skipped under xdist.
UNTIMED_BENCHMARK_SKIP = ("not a codec case: under xdist pytest-benchmark times nothing and times taken beside "
                          "other workers are contaminated; run it without -n")


@dataclass(frozen=True)
class BenchCase:
    """One benchmark case: a single-point codec spec on a dataset and device."""

    spec: str
    dataset: str
    device: str

    @property
    def id(self) -> str:
        return f"{self.spec}-{self.dataset}-{self.device}"

    @property
    def group(self) -> str:
        """pytest-benchmark group: the codec's sweep on one dataset and device."""
        return f"{self.spec.partition(':')[0]} {self.dataset} {self.device}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codecbench", "codecbench benchmark cases")
    group.addoption("--codecs", action="append", dest="codecbench_codecs", metavar="SPECS",
                    help="comma-separated codec specs to benchmark (repeatable); a spec without its rate knob runs "
                    "the default sweep (default: every registered codec)")
    group.addoption("--datasets", action="append", dest="codecbench_datasets", metavar="NAMES",
                    help="comma-separated datasets (repeatable; default: embedded), e.g. kodak,bsd300:gray,cifar10")
    group.addoption("--devices", action="append", dest="codecbench_devices", metavar="DEVICES",
                    help="comma-separated devices: cpu, cuda (default: both; cuda cases skip where CUDA is absent)")
    group.addoption("--max-images", type=int, dest="codecbench_max_images", metavar="N",
                    help="use only the first N images of each dataset")
    group.addoption("--rounds", type=int, default=3, dest="codecbench_rounds",
                    help="timed rounds per benchmark, each over the whole dataset (default: 3)")
    group.addoption("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, dest="codecbench_report_dir",
                    metavar="DIR", help="where the session writes <dataset>.md and <dataset>.json "
                    "(default: results/ under the rootdir, git-ignored; the committed reports/ only when asked)")
    group.addoption("--metrics", default="", dest="codecbench_metrics", metavar="NAMES",
                    help="metrics to compute: names (psnr,ssim) or changes to the defaults (+ssimulacra2,-ms_ssim); "
                    "see `codecbench list --metrics`")
    group.addoption("--report-anchor", default=DEFAULT_ANCHOR, dest="codecbench_report_anchor", metavar="CODEC",
                    help=f"BD-rate anchor codec or curve label of the session report (default: {DEFAULT_ANCHOR})")
    group.addoption("--report-per-image", type=int, default=0, dest="codecbench_report_per_image", metavar="N",
                    help="list the N worst images per codec in the session report (default: none)")
    group.addoption("--report-file-size", action="store_true", dest="codecbench_report_file_size",
                    help="add the compression rate (%%) and ratio against the original image files "
                    "to the session report")


def _listed(config: pytest.Config, option: str) -> list[str]:
    return [item.strip() for text in config.getoption(option) or [] for item in text.split(",") if item.strip()]


def bench_cases(config: pytest.Config) -> list[BenchCase]:
    """Every (spec, dataset, device) case selected by the command-line options."""
    specs = [s for text in config.getoption("codecbench_codecs") or [] for s in split_specs(text)]
    specs = specs or list(available_codecs())
    datasets = _listed(config, "codecbench_datasets") or ["embedded"]
    devices = _listed(config, "codecbench_devices") or ["cpu", "cuda"]
    cases = []
    for spec in specs:
        for single in expand_spec(spec):
            cls = get_codec_class(Spec.parse(single).name)
            cases += [BenchCase(single, d, dev) for d in datasets for dev in devices
                      if dev in cls.devices and takes_dataset(cls, d)]
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "codec_case" in metafunc.fixturenames:
        try:
            cases = bench_cases(metafunc.config)
        except CodecbenchError as exc:
            raise pytest.UsageError(str(exc)) from None
        metafunc.parametrize("codec_case", cases, ids=[c.id for c in cases])


@dataclass
class BenchSession:
    """Images (and the files they were read from), codecs, bitstreams and records shared by the session's tests."""

    max_images: int | None
    rounds: int
    metrics: tuple[str, ...]
    images: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)
    codecs: dict[tuple[str, str], Codec] = field(default_factory=dict)
    streams: dict[BenchCase, list[bytes | None]] = field(default_factory=dict)
    records: dict[BenchCase, list[Record]] = field(default_factory=dict)
    sources: dict[tuple[str, str], SourceFile | None] = field(default_factory=dict)  # (dataset, image id) → file
    unreadable: dict[str, list[tuple[str, CodecbenchError]]] = field(default_factory=dict)  # dataset → (id, error)

    def dataset(self, name: str) -> list[tuple[str, np.ndarray]]:
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
        if case.device == "cuda":
            _require_cuda()
        key = (case.spec, case.device)
        if key not in self.codecs:
            self.codecs[key] = create_codec(case.spec, device=case.device)
        return self.codecs[key]

    def bench_encode(self, benchmark: Any, case: BenchCase) -> None:
        """Time encoding the whole dataset, then decode once and score every image."""
        codec, images = self.codec(case), self.dataset(case.dataset)
        _label(benchmark, case)
        streams = benchmark.pedantic(_encode_all, args=(codec, images), rounds=self.rounds,
                                     warmup_rounds=WARMUP_ROUNDS)
        self.streams[case] = streams
        self.records[case] = self._case_records(codec, case, images, streams)
        _set_time(self.records[case], "enc_s", benchmark, len(images))
        benchmark.extra_info.update(_summary(codec, case, self.records[case]))
        _fail_on_errors(self.records[case])

    def bench_decode(self, benchmark: Any, case: BenchCase) -> None:
        """Time decoding every bitstream of the dataset (encoding first if the encode test did not run)."""
        codec, images = self.codec(case), self.dataset(case.dataset)
        if case not in self.streams:
            self.streams[case] = _encode_all(codec, images)
            self.records[case] = self._case_records(codec, case, images, self.streams[case])
        _label(benchmark, case)
        streams = [s for s in self.streams[case] if s is not None]
        benchmark.pedantic(_decode_all, args=(codec, streams), rounds=self.rounds, warmup_rounds=WARMUP_ROUNDS)
        _set_time(self.records[case], "dec_s", benchmark, len(streams))
        benchmark.extra_info.update(_summary(codec, case, self.records[case]))
        _fail_on_errors(self.records[case])

    def _case_records(self, codec: Codec, case: BenchCase, images: list[tuple[str, np.ndarray]],
                      streams: list[bytes | None]) -> list[Record]:
        """Every image's record of ``case``: each bitstream scored, then a failed record per unreadable image."""
        scored = [self._score(codec, case, image_id, image, data) for (image_id, image), data in zip(images, streams)]
        return scored + [unreadable_record(codec, case.dataset, image_id, exc, self.sources[(case.dataset, image_id)])
                         for image_id, exc in self.unreadable[case.dataset]]

    def _score(self, codec: Codec, case: BenchCase, image_id: str, image: np.ndarray, data: bytes | None) -> Record:
        record = base_record(codec, case.dataset, image_id, image, self.sources.get((case.dataset, image_id)))
        if data is None:
            record.error = "encode failed"
            return record
        try:
            measured = score(codec, image, data, codec.decode(data), metrics=self.metrics)
        except Exception as exc:
            record.error = error_text(exc)
            return record
        for key, value in measured.items():
            setattr(record, key, value)
        return record

    def all_records(self) -> list[Record]:
        return [r for records in self.records.values() for r in records]

    def to_workeroutput(self) -> list[dict[str, Any]]:
        """The session's records by case, as JSON for an xdist worker's ``workeroutput``."""
        return [{"spec": case.spec, "dataset": case.dataset, "device": case.device,
                 "records": [r.to_json() for r in records]} for case, records in self.records.items()]

    def add_workeroutput(self, cases: list[dict[str, Any]]) -> None:
        """Add a worker's records (:meth:`to_workeroutput`); a case already held (scored on two workers) is kept."""
        for case in cases:
            key = BenchCase(case["spec"], case["dataset"], case["device"])
            self.records.setdefault(key, [Record.from_json(r) for r in case["records"]])


def _require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine (torch.cuda.is_available() is False)")


def _label(benchmark: Any, case: BenchCase) -> None:
    benchmark.group = case.group
    benchmark.extra_info.update({"spec": case.spec, "dataset": case.dataset, "device": case.device})


def _encode_all(codec: Codec, images: list[tuple[str, np.ndarray]]) -> list[bytes | None]:
    streams: list[bytes | None] = []
    for _, image in images:
        try:
            streams.append(codec.encode(image))
        except Exception:  # scored as a failed image by _score
            streams.append(None)
    codec.synchronize()
    return streams


def _decode_all(codec: Codec, streams: list[bytes]) -> None:
    for data in streams:
        try:
            codec.decode(data)
        except CodecbenchError:
            pass  # already recorded as a failure by _score
    codec.synchronize()


def _set_time(records: list[Record], attr: str, benchmark: Any, n: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None or not n:  # --benchmark-disable: nothing was timed
        return
    per_image = statistics.median(stats.stats.data) / n
    for record in records:
        if record.ok:
            setattr(record, attr, per_image)


def _summary(codec: Codec, case: BenchCase, records: list[Record]) -> dict[str, Any]:
    ok = [r for r in records if r.ok]

    def mean(attr: str) -> float | None:
        values = [getattr(r, attr) for r in ok]
        return statistics.fmean(values) if values and None not in values else None

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
    failed = [f"{r.image}: {r.error}" for r in records if not r.ok]
    if failed:
        pytest.fail(f"{len(failed)}/{len(records)} images failed: " + "; ".join(failed[:5]), pytrace=False)


_SESSION_KEY = pytest.StashKey[BenchSession]()


@pytest.fixture(scope="session")
def codecbench_session(pytestconfig: pytest.Config) -> BenchSession:
    """The session's :class:`BenchSession`."""
    return pytestconfig.stash[_SESSION_KEY]


_ONLY_KEY = pytest.StashKey[bool]()  # --benchmark-only, taken over from pytest-benchmark under xdist


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's (trylast) configure reads --benchmark-only
def pytest_configure(config: pytest.Config) -> None:
    """Check the numeric options (``--max-images`` ≥ 1, ``--rounds`` ≥ 1, ``--report-per-image`` ≥ 0; a
    one-line ``pytest.UsageError`` otherwise) and create the session.

    Under xdist, take ``--benchmark-only`` over from pytest-benchmark (which refuses it there).
    """
    if xdist_workers(config) and config.getoption("benchmark_only", False):
        config.option.benchmark_only = False
        config.stash[_ONLY_KEY] = True
    try:
        check_count("--max-images", config.getoption("codecbench_max_images"), 1)
        check_count("--rounds", config.getoption("codecbench_rounds"), 1)
        check_count("--report-per-image", config.getoption("codecbench_report_per_image"), 0)
        chosen = select_metrics(config.getoption("codecbench_metrics"))
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_SESSION_KEY] = BenchSession(
        max_images=config.getoption("codecbench_max_images"), rounds=config.getoption("codecbench_rounds"),
        metrics=chosen,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist: skip non-benchmark tests for ``--benchmark-only``, and benchmarks that are not codec cases."""
    if not xdist_workers(config):
        return
    skip_other = pytest.mark.skip(reason="Skipping non-benchmark (--benchmark-only active).")
    for item in items:
        case = item.callspec.params.get("codec_case") if hasattr(item, "callspec") else None
        if "benchmark" not in getattr(item, "fixturenames", ()):
            if config.stash.get(_ONLY_KEY, False):
                item.add_marker(skip_other)
        elif not isinstance(case, BenchCase):
            item.add_marker(pytest.mark.skip(reason=UNTIMED_BENCHMARK_SKIP))


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own choice for --dist load
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For ``--dist load`` (what ``-n`` alone means): load balancing that keeps a codec case's tests on one worker.

    A case's encode and decode tests are one unit of work, so its images are encoded and scored once; every other
    test is a unit of its own, as under ``load``. Other ``--dist`` modes are xdist's.
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    try:
        case_ids = {case.id for case in bench_cases(config)}
    except CodecbenchError:  # the workers report it as the usage error it is
        case_ids = set()

    class CaseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            param = nodeid.rpartition("[")[2].removesuffix("]") if nodeid.endswith("]") else ""
            return f"codec case {param}" if param in case_ids else nodeid

    return CaseScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the session's records to the controller."""
    config = session.config
    if hasattr(config, "workerinput") and _SESSION_KEY in config.stash:
        config.workeroutput[_XDIST_RECORDS] = config.stash[_SESSION_KEY].to_workeroutput()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: gather a finished worker's records (none from a worker that crashed)."""
    session = node.config.stash.get(_SESSION_KEY, None)
    cases = getattr(node, "workeroutput", {}).get(_XDIST_RECORDS)
    if session is not None and cases:
        session.add_workeroutput(cases)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Write ``<report-dir>/<dataset>.md`` and ``.json`` (on the xdist controller: merged from every worker)."""
    session = config.stash.get(_SESSION_KEY, None)
    if session is None or hasattr(config, "workerinput"):
        return
    records = _in_case_order(config, session)
    if not records:
        return
    out = Path(config.getoption("codecbench_report_dir"))
    if not out.is_absolute():
        out = Path(config.rootpath) / out
    workers = xdist_workers(config)
    if workers:
        meta = machine_meta(timing={"measured": False, "xdist_workers": workers}, timed_region=untimed_region(workers))
    else:
        meta = machine_meta(
            timing={"rounds": session.rounds, "warmup_rounds": WARMUP_ROUNDS, "per_image": "median round / images"},
            timed_region=SESSION_TIMED_REGION,
        )
    terminalreporter.write_sep("-", "codecbench")
    # the RD analysis (codecbench.render.rd): BD-rate vs the anchor, fixed-rate table, plots in <report-dir>/plots
    options = RDOptions(anchor=config.getoption("codecbench_report_anchor"), plots_dir=out / "plots", report_dir=out,
                        per_image=config.getoption("codecbench_report_per_image"))
    reports = build_reports(records, meta, rd=options, file_size=config.getoption("codecbench_report_file_size"))
    for dataset, path in zip(reports, write_reports(reports, out)):
        mine = [r for r in records if r.dataset == dataset]
        write_results(path.with_suffix(".json"), mine, {**meta, **_setup_meta(mine)})
        terminalreporter.write_line(f"{dataset}: report {path}, results {path.with_suffix('.json')}")


def _in_case_order(config: pytest.Config, session: BenchSession) -> list[Record]:
    """The session's records, case by case in collection order (a serial run's order, whichever worker ran them)."""
    if not session.records:
        return []
    order = {case: i for i, case in enumerate(bench_cases(config))}
    cases = sorted(session.records, key=lambda case: order.get(case, len(order)))
    return [r for case in cases for r in session.records[case]]


def _setup_meta(records: Sequence[Record]) -> dict[str, Any]:
    """The meta fields that ``codecbench run`` also writes: device, threads per codec and library versions.

    ``device`` is comma-separated where the records ran on several (as ``--devices`` takes them);
    ``threads`` is a list where the codecs ran with different thread counts.
    """
    threads = sorted({r.threads for r in records})
    return {
        "device": ",".join(sorted({r.device for r in records})),
        "threads": threads[0] if len(threads) == 1 else threads,
        "versions": library_versions(records),
    }
