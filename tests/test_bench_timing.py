"""How `pytest bench` spends its time: rounds from a time budget, the progress line, speed goals as figures."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codecbench.core.errors import OptionError
from codecbench.integrations.bench_session import BenchCase, RoundBudget
from codecbench.integrations.goals import SpeedGoal
from codecbench.integrations.progress import CaseProgress, clock, wanted


@given(most=st.integers(1, 10), seconds=st.floats(0, 100), estimate=st.floats(1e-6, 1e3))
def test_rounds_fit_the_budget(most, seconds, estimate):
    """At least one round, at most --rounds, and more than one only where they all fit in the budget."""
    rounds = RoundBudget(most, seconds).rounds(estimate)
    assert 1 <= rounds <= most
    assert rounds == 1 or rounds * estimate <= seconds
    assert rounds == most or (rounds + 1) * estimate > seconds  # no round left out that would fit


def test_rounds_of_an_unknown_estimate_and_a_bad_budget():
    assert RoundBudget(3, 1.0).rounds(None) == 1  # the warm-up failed: the one round records the failure
    assert RoundBudget(3, 1.0).rounds(0.0) == 3
    for bad in (-1.0, math.nan):
        with pytest.raises(OptionError, match="--benchmark-max-time"):
            RoundBudget(3, bad)


def test_speed_goal_is_a_figure():
    slow = SpeedGoal("mlp-huffman round trip", 53.6, 10.0)
    assert not slow.met and slow.line() == "mlp-huffman round trip: 53.6 s (goal < 10 s): NOT met"
    share = SpeedGoal("storage share", 0.29, 5.0, unit="%")
    assert share.met
    assert share.as_dict()["met"] is True
    assert share.line().endswith("(goal < 5 %): met")
    assert SpeedGoal("rate", 120.0, 100.0, unit="MP/s", higher_is_better=True).met


def test_clock():
    assert [clock(s) for s in (0, 59.6, 61, 3600 + 62)] == ["0:00", "1:00", "1:01", "1:01:02"]


class Terminal:
    """The part of pytest's terminal reporter the progress line writes to."""

    isatty = True

    def __init__(self):
        self.lines: list[str] = []

    def rewrite(self, line, erase=False):
        self.lines.append(line)

    def ensure_newline(self):
        self.lines.append("\n")

    def write_line(self, line):
        self.lines.append(line + "\n")


def test_progress_names_the_case_and_estimates_by_codec():
    cases = [BenchCase("jpeg:quality=30", "kodak", "cpu"), BenchCase("jpeg:quality=90", "kodak", "cpu"),
             BenchCase("comcnn:quality=5", "kodak", "cpu")]
    phases = {f"{c.id}::{p}": (c, p) for c in cases for p in ("encode", "decode")}
    now = [0.0]
    terminal = Terminal()
    progress = CaseProgress(terminal, phases, now=lambda: now[0])
    for i, (nodeid, (case, phase)) in enumerate(phases.items()):
        progress.pytest_runtest_logstart(nodeid)
        now[0] += 2.0 if phase == "encode" else 1.0  # each jpeg case: 3 s
        progress.pytest_runtest_logfinish(nodeid)
    assert terminal.lines[0] == "[1/3] jpeg:quality=30 · kodak · cpu · encode   0:00 elapsed · estimating time left"
    assert terminal.lines[2] == "[2/3] jpeg:quality=90 · kodak · cpu · encode   0:03 elapsed · ~0:06 left"
    assert terminal.lines[4] == "[3/3] comcnn:quality=5 · kodak · cpu · encode   0:06 elapsed · ~0:03 left"
    assert terminal.lines[-2:] == ["codec cases: 3 done in 0:09", "\n"]


@pytest.mark.parametrize("isatty, ci, verbosity, xdist, shown", [
    (True, "", 0, False, True), (True, "", -1, False, True), (False, "", 0, False, False),
    (True, "true", 0, False, False), (True, "", 1, False, False), (True, "", 0, True, False),
])
def test_progress_only_where_a_person_watches(monkeypatch, isatty, ci, verbosity, xdist, shown):
    monkeypatch.setenv("CI", ci)
    terminal = Terminal()
    terminal.isatty = isatty
    assert wanted(terminal, verbosity, xdist) is shown
