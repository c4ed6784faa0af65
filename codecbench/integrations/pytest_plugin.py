"""The codecbench pytest plugin: options, benchmark cases, progress, end-of-session report.

Installed as a ``pytest11`` plug-in, so ``pytest --pyargs codecbench.bench --benchmark-only`` runs the codec
cases from any directory. A test that takes the ``codec_case`` fixture is parametrized over codec spec ×
dataset × device (``--codecs``, ``--datasets``, ``--devices``; with ``--target-bpp``/``--target-psnr``, each
configuration at each target: :mod:`codecbench.integrations.bench_targets`); ``codecbench_session``
(:mod:`codecbench.integrations.bench_session`) holds the images, codecs, bitstreams and records and says how a
case is timed. At the end of the session the reporter writes ``<report-dir>/<dataset>.md`` and its results
file (default ``results/bench/``). Usage errors are one line before anything runs (exit status 4); what the
options select but cannot run here is a skipped test or a header line saying why
(:mod:`codecbench.integrations.selection`); an unreadable image is a failed record, never timed. Under
pytest-xdist bytes and quality are measured in parallel and timings are left empty (pytest-benchmark times
nothing there). The manual: ``docs/running.md``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

import codecbench
from codecbench.analysis.bdrate import DEFAULT_ANCHOR
from codecbench.core.errors import CodecbenchError
from codecbench.core.metrics import select_metrics
from codecbench.core.results import Record, library_versions, machine_meta, write_results
from codecbench.engine.measure import check_count
from codecbench.integrations.bench_session import (
    SESSION_KEY,
    SESSION_TIMED_REGION,
    WARMUP_SIDE,
    BenchCase,
    BenchSession,
    RoundBudget,
)
from codecbench.integrations.bench_targets import SEARCH_UNTIMED
from codecbench.integrations.goals import SpeedGoal
from codecbench.integrations.progress import CaseProgress, wanted
from codecbench.integrations.selection import LeftOut, bench_cases, check_selection, selection, selection_notes
from codecbench.integrations.xdist_hooks import (  # the xdist hooks are registered with this module
    UNTIMED_BENCHMARK_SKIP,
    XDIST_RECORDS,
    pytest_testnodedown,
    pytest_xdist_make_scheduler,
    skip_untimed,
    untimed_region,
    xdist_workers,
)
from codecbench.render.formats import renderers
from codecbench.render.markdown import report_filename
from codecbench.render.output import check_formats, write_formats
from codecbench.render.report_data import dataset_reports
from codecbench.render.rd import RDOptions

__all__ = ["SESSION_TIMED_REGION", "UNTIMED_BENCHMARK_SKIP", "BenchCase", "BenchSession", "bench_cases",
           "pytest_testnodedown", "pytest_xdist_make_scheduler", "untimed_region", "xdist_workers"]

#: where the session writes its reports and results by default: git-ignored, never the committed reports/, and
#: apart from `codecbench run`'s results/ (so neither overwrites the other's <dataset>.md)
DEFAULT_REPORT_DIR = Path("results") / "bench"

#: the test functions of a codec case (by name), in the order they run
PHASES = {"test_encode": "encode", "test_decode": "decode"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codecbench", "codecbench benchmark cases")
    group.addoption("--codecs", action="append", dest="codecbench_codecs", metavar="SPECS",
                    help="comma-separated codec specs to benchmark (repeatable); a spec without its rate knob runs "
                    "the default sweep (default: every registered codec)")
    group.addoption("--datasets", action="append", dest="codecbench_datasets", metavar="NAMES",
                    help="comma-separated datasets (repeatable; default: embedded), e.g. kodak,bsd300:gray,cifar10")
    group.addoption("--devices", action="append", dest="codecbench_devices", metavar="DEVICES",
                    help="comma-separated devices: cpu, cuda (default: cpu, and cuda where CUDA is available; "
                    "named cuda cases skip where it is absent)")
    group.addoption("--max-images", type=int, dest="codecbench_max_images", metavar="N",
                    help="use only the first N images of each dataset")
    group.addoption("--target-bpp", dest="codecbench_target_bpp", metavar="BPPS",
                    help="equal-rate cases: per image, search each codec's rate knob to each of these rates "
                    "(untimed), then time the settings found, e.g. 0.25,0.5,1 (specs without their knob; lossless "
                    "codecs left out)")
    group.addoption("--target-psnr", dest="codecbench_target_psnr", metavar="DBS",
                    help="equal-quality cases: as --target-bpp, to each of these PSNRs in dB, e.g. 30,35")
    group.addoption("--rounds", type=int, default=3, dest="codecbench_rounds",
                    help="at most N timed rounds per benchmark, each over the whole dataset; a benchmark gets as "
                    "many as fit in --benchmark-max-time (default: 3)")
    group.addoption("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, dest="codecbench_report_dir",
                    metavar="DIR", help="where the session writes <dataset>.md and <dataset>.json (default: "
                    "results/bench/ under the rootdir, git-ignored; the committed reports/ only when asked)")
    group.addoption("--metrics", default="", dest="codecbench_metrics", metavar="NAMES",
                    help="metrics to compute: names (psnr,ssim) or changes to the defaults (+ssimulacra2,-ms_ssim), "
                    "presets jpeg-ai, perceptual; see `codecbench list --metrics`")
    group.addoption("--report-anchor", default=DEFAULT_ANCHOR, dest="codecbench_report_anchor", metavar="CODEC",
                    help=f"BD-rate anchor codec or curve label of the session report (default: {DEFAULT_ANCHOR})")
    group.addoption("--report-per-image", type=int, default=0, dest="codecbench_report_per_image", metavar="N",
                    help="list the N worst images per codec in the session report (default: none)")
    group.addoption("--report-file-size", action="store_true", dest="codecbench_report_file_size",
                    help="add the compression rate (%%) and ratio against the original image files "
                    "to the session report")
    group.addoption("--report-format", action="append", default=[], dest="codecbench_report_formats",
                    metavar="FORMAT", help="the session report's formats, repeatable: markdown (default), html, csv, "
                    "json (<dataset>.report.json)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "codec_case" in metafunc.fixturenames:
        metafunc.parametrize("codec_case", selection(metafunc.config).params())  # checked in pytest_configure


_GOALS_KEY = pytest.StashKey[list[SpeedGoal]]()


@pytest.fixture(scope="session")
def codecbench_session(pytestconfig: pytest.Config) -> BenchSession:
    """The session's :class:`BenchSession`."""
    return pytestconfig.stash[SESSION_KEY]


@pytest.fixture
def speed_goal(benchmark: Any, pytestconfig: pytest.Config) -> Callable[..., SpeedGoal]:
    """Record a speed goal of this benchmark: ``speed_goal(what, measured, goal, unit="s", higher_is_better=False)``
    returns the :class:`~codecbench.integrations.goals.SpeedGoal`; it goes into ``extra_info["goals"]`` and the
    session's "speed goals" section (a figure, never a failure)."""
    def record(what: str, measured: float, goal: float, unit: str = "s", higher_is_better: bool = False) -> SpeedGoal:
        goal_ = SpeedGoal(what, float(measured), float(goal), unit, higher_is_better)
        benchmark.extra_info.setdefault("goals", []).append(goal_.as_dict())
        pytestconfig.stash[_GOALS_KEY].append(goal_)
        return goal_

    return record


_ONLY_KEY = pytest.StashKey[bool]()  # --benchmark-only, taken over from pytest-benchmark under xdist


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's (trylast) configure reads --benchmark-only
def pytest_configure(config: pytest.Config) -> None:
    """Check the options and create the session: a one-line ``pytest.UsageError`` for numbers out of range
    (``--max-images`` ≥ 1, ``--rounds`` ≥ 1, ``--report-per-image`` ≥ 0), unknown metrics, targets that are not
    positive numbers or specs that set the rate knob they search, and (where given) unknown codecs, settings or
    devices, options that name nothing, named codecs that cannot run here, a selection with nothing to run and
    datasets that are unknown, not available or empty.

    Under xdist, take ``--benchmark-only`` over from pytest-benchmark (which refuses it there).
    """
    if xdist_workers(config) and config.getoption("benchmark_only", False):
        config.option.benchmark_only = False
        config.stash[_ONLY_KEY] = True
    with warnings.catch_warnings(record=True) as caught:  # e.g. a broken codec plug-in: one line, later
        warnings.simplefilter("always")
        try:
            check_count("--max-images", config.getoption("codecbench_max_images"), 1)
            check_count("--rounds", config.getoption("codecbench_rounds"), 1)
            check_count("--report-per-image", config.getoption("codecbench_report_per_image"), 0)
            check_formats(config.getoption("codecbench_report_formats"), Path())
            chosen = select_metrics(config.getoption("codecbench_metrics"))
            budget = RoundBudget(config.getoption("codecbench_rounds"),
                                 float(config.getoption("benchmark_max_time", 1.0)))
            built = check_selection(config)
        except CodecbenchError as exc:
            raise pytest.UsageError(str(exc).splitlines()[0]) from None
    for warning in caught:  # into pytest's warnings summary, at the place that raised it
        config.hook.pytest_warning_recorded.call_historic(
            kwargs={"warning_message": warning, "when": "config", "nodeid": "", "location": None})
    config.stash[SESSION_KEY] = BenchSession(max_images=config.getoption("codecbench_max_images"), budget=budget,
                                              metrics=chosen, codecs=dict(built))
    config.stash[_GOALS_KEY] = []


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: warnings.WarningMessage) -> None:
    """A warning raised in codecbench's code prints as one line: its source line is left out."""
    if Path(warning_message.filename).resolve().is_relative_to(_PACKAGE):
        warning_message.line = ""


_PACKAGE = Path(codecbench.__file__).resolve().parent


def _phase(item: pytest.Item) -> tuple[BenchCase, str] | None:
    """(case, phase) of a codec-case test (:data:`PHASES`), None for any other test."""
    case = item.callspec.params.get("codec_case") if hasattr(item, "callspec") else None
    phase = PHASES.get(getattr(item, "originalname", ""))
    return (case, phase) if isinstance(case, BenchCase) and phase else None


def _left_out(item: pytest.Item) -> bool:
    """Whether ``item`` is the skipped test of a combination the selection left out."""
    return hasattr(item, "callspec") and isinstance(item.callspec.params.get("codec_case"), LeftOut)


def _order_cases(items: list[pytest.Item]) -> dict[str, tuple[BenchCase, str]]:
    """Put each case's tests one after the other (encode, then decode), cases in their first test's order, then
    the skipped tests of what the selection left out, in the places codec-case tests held (other tests keep theirs);
    node id → (case, phase) of each case's test in that order."""
    slots = [i for i, item in enumerate(items) if _phase(item) or _left_out(item)]
    cases = [items[i] for i in slots if _phase(items[i])]
    first: dict[BenchCase, int] = {}
    for item in cases:
        first.setdefault(_phase(item)[0], len(first))
    order = list(PHASES.values())
    cases.sort(key=lambda it: (first[_phase(it)[0]], order.index(_phase(it)[1])))
    for i, item in zip(slots, cases + [items[i] for i in slots if _left_out(items[i])]):
        items[i] = item
    return {item.nodeid: _phase(item) for item in cases}


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: the tests that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the codec cases' tests; note which cases a decode test scores; show progress on a terminal.

    Under xdist: skip non-benchmark tests for ``--benchmark-only``, and benchmarks that are not codec cases.
    """
    phases = _order_cases(items)
    workers = xdist_workers(config)
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if phases and wanted(terminal, config.get_verbosity(), bool(workers)):
        config.pluginmanager.register(CaseProgress(terminal, phases), "codecbench-progress")
    if not workers:
        config.stash[SESSION_KEY].scored_by_decode = {case for case, phase in phases.values() if phase == "decode"}
    else:
        skip_untimed(items, config.stash.get(_ONLY_KEY, False))


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """One line for each kind of case the default selection left out (cuda cases where CUDA is absent, codecs
    that cannot run here, codecs refusing a dataset's images), saying why."""
    return [f"codecbench: {note}" for note in selection_notes(config)]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Score what a session stopped early left unscored; on an xdist worker, hand the records to the controller."""
    config = session.config
    if SESSION_KEY in config.stash:
        config.stash[SESSION_KEY].score_remaining()
        if hasattr(config, "workerinput"):
            config.workeroutput[XDIST_RECORDS] = config.stash[SESSION_KEY].to_workeroutput()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the speed goals; write ``<report-dir>/<dataset>.md`` and ``.json`` (on the xdist controller: merged
    from every worker)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None or hasattr(config, "workerinput"):
        return
    if config.stash[_GOALS_KEY]:
        terminalreporter.write_sep("-", "speed goals (figures, not assertions)")
        for goal in config.stash[_GOALS_KEY]:
            terminalreporter.write_line(goal.line())
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
            timing={"rounds": session.budget.most, "time_budget_s": session.budget.seconds,
                    "warmup": f"one encode and decode of a {WARMUP_SIDE}×{WARMUP_SIDE} crop of the first image",
                    "per_image": "median round / images"},
            timed_region=SESSION_TIMED_REGION + (SEARCH_UNTIMED if any(r.target for r in records) else ""),
        )
    terminalreporter.write_sep("-", "codecbench")
    # the RD analysis (codecbench.render.rd): BD-rate vs the anchor, fixed-rate table, plots in <report-dir>/plots
    options = RDOptions(anchor=config.getoption("codecbench_report_anchor"), plots_dir=out / "plots", report_dir=out,
                        per_image=config.getoption("codecbench_report_per_image"))
    reports = dataset_reports(records, meta, rd=options, file_size=config.getoption("codecbench_report_file_size"))
    formats = config.getoption("codecbench_report_formats")
    paths = iter(write_formats(reports, out, formats))
    for report in reports:
        shown = ", ".join(str(next(paths)) for _ in renderers(formats))
        mine = [r for r in records if r.dataset == report.dataset]
        results = out / report_filename(report.dataset, ".json")
        write_results(results, mine, {**meta, **_setup_meta(mine)})
        terminalreporter.write_line(f"{report.dataset}: report {shown}, results {results}")


def _in_case_order(config: pytest.Config, session: BenchSession) -> list[Record]:
    """The session's records, case by case in collection order (a serial run's order, whichever worker ran them)."""
    if not session.records:
        return []
    order = {case: i for i, case in enumerate(bench_cases(config))}
    cases = sorted(session.records, key=lambda case: order.get(case, len(order)))
    return [r for case in cases for r in session.records_of(case)]


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
