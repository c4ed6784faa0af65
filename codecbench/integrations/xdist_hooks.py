"""`pytest bench` under pytest-xdist: case scheduling, records from the workers, untimed benchmarks.

See :mod:`codecbench.integrations.pytest_plugin` for what a parallel session
measures (bytes, bpp and quality; no timings) and reports. The plugin
registers these hooks by importing them.
"""

from __future__ import annotations

from typing import Any

import pytest

from codecbench.core.errors import CodecbenchError
from codecbench.integrations.bench_session import SESSION_KEY, BenchCase
from codecbench.integrations.selection import bench_cases

#: The session's records under a pytest-xdist controller or worker (``workeroutput`` key).
XDIST_RECORDS = "codecbench_records"

#: Why a benchmark other than a codec case (a speed goal, a comparison, a table) is skipped under xdist.
UNTIMED_BENCHMARK_SKIP = ("not a codec case: under xdist pytest-benchmark times nothing and times taken beside "
                          "other workers are contaminated; run it without -n")


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


def skip_untimed(items: list[pytest.Item], benchmark_only: bool) -> None:
    """Skip the benchmarks that are not codec cases, and for ``--benchmark-only`` the tests that are not
    benchmarks."""
    skip_other = pytest.mark.skip(reason="Skipping non-benchmark (--benchmark-only active).")
    for item in items:
        case = item.callspec.params.get("codec_case") if hasattr(item, "callspec") else None
        if "benchmark" not in getattr(item, "fixturenames", ()):
            if benchmark_only:
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


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: gather a finished worker's records (none from a worker that crashed)."""
    session = node.config.stash.get(SESSION_KEY, None)
    cases = getattr(node, "workeroutput", {}).get(XDIST_RECORDS)
    if session is not None and cases:
        session.add_workeroutput(cases)
