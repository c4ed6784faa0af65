"""The progress line of a `pytest bench` session on a terminal: the running case, elapsed and remaining time.

Shown only where a person watches: pytest's terminal output is a TTY, the
``CI`` environment variable is unset, verbosity is the default (or ``-q``)
and the session is not spread over xdist workers. Elsewhere (CI logs, files,
``-v``) pytest's own output is left as it is. While shown, the codec cases'
passed and skipped tests print no letter (the line replaces pytest's dots);
a failure keeps its ``F``, on a line of its own.

The remaining time is an estimate: each case still to run is taken to cost
what the finished cases of the same codec cost on average (their mean
wall time), or, for a codec not run yet, what every finished case cost on
average; the running case's own elapsed time is deducted.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable, Mapping

import pytest

from codecbench.integrations.bench_session import BenchCase


def wanted(terminal: Any, verbosity: int, xdist: bool) -> bool:
    """Whether to show the progress line: a TTY, not CI, verbosity ≤ 0, no xdist."""
    return bool(terminal is not None and terminal.isatty and not os.environ.get("CI") and verbosity <= 0
                and not xdist)


def clock(seconds: float) -> str:
    """``seconds`` as ``m:ss`` (``h:mm:ss`` from an hour)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class CaseProgress:
    """One rewritten terminal line for the codec cases of a session (a pytest plugin object: register it).

    ``phases``: node id → (case, phase) of every collected codec-case test, in run order; a case is done when its
    last collected test has finished.
    """

    def __init__(self, terminal: Any, phases: Mapping[str, tuple[BenchCase, str]],
                 now: Callable[[], float] = time.monotonic) -> None:
        self._terminal, self._phases, self._now = terminal, dict(phases), now
        self._left: dict[BenchCase, int] = {}
        for case, _ in self._phases.values():
            self._left[case] = self._left.get(case, 0) + 1
        self._cases = len(self._left)
        self._started: dict[BenchCase, float] = {}
        self._took: dict[str, list[float]] = {}  # codec name → wall seconds of its finished cases
        self._begin: float | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """No letter for a codec case's passed or skipped test: the progress line stands for pytest's dots."""
        if report.nodeid in self._phases and (report.skipped or (report.when == "call" and report.passed)):
            return report.outcome, "", ""
        return None

    @pytest.hookimpl(trylast=True)  # after pytest's terminal reporter has written the test file's name
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """A codec-case test starts: show its case, phase, the session's elapsed time and the estimate."""
        if nodeid not in self._phases:
            return
        case, phase = self._phases[nodeid]
        now = self._now()
        self._begin = now if self._begin is None else self._begin
        self._started.setdefault(case, now)
        done = self._cases - len(self._left)
        remaining = self._remaining(now)
        eta = f"~{clock(remaining)} left" if remaining is not None else "estimating time left"
        self._terminal.rewrite(f"[{done + 1}/{self._cases}] {case.spec} · {case.dataset} · {case.device} · {phase}"
                               f"   {clock(now - self._begin)} elapsed · {eta}", erase=True)

    @pytest.hookimpl(trylast=True)  # after pytest has written the F of a failure: keep it on its line
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid in self._phases and report.failed:
            self._terminal.ensure_newline()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        """A codec-case test has finished; after the case's last one, its wall time counts for the estimate."""
        if nodeid not in self._phases:
            return
        case, _ = self._phases[nodeid]
        self._left[case] -= 1
        if self._left[case]:
            return
        del self._left[case]
        now = self._now()
        self._took.setdefault(_codec(case), []).append(now - self._started[case])
        if not self._left and self._begin is not None:
            self._terminal.rewrite(f"codec cases: {self._cases} done in {clock(now - self._begin)}", erase=True)
            self._terminal.write_line("")

    def _remaining(self, now: float) -> float | None:
        every = [s for took in self._took.values() for s in took]
        if not every:
            return None
        overall = statistics.fmean(every)
        total = 0.0
        for case in self._left:
            took = self._took.get(_codec(case))
            cost = statistics.fmean(took) if took else overall
            total += max(0.0, cost - (now - self._started[case])) if case in self._started else cost
        return total


def _codec(case: BenchCase) -> str:
    return case.spec.partition(":")[0]
