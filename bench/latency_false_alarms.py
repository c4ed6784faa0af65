"""How often the latency gate cries wolf: N benchmark runs of an unchanged codec, each gated against the first.

    nice -n 19 python bench/latency_false_alarms.py --runs 20 --out /tmp/latency-runs   # run, then gate
    python bench/latency_false_alarms.py --out /tmp/latency-runs --no-run               # gate the runs already there

Each run is ``pytest bench --benchmark-only --codecs SPEC --datasets DATASET
--max-images M --rounds R --benchmark-json OUT/run-NN.json
--benchmark-save-data`` (its report goes to OUT/report-NN). Nothing changes
between runs, so every alarm is a false one. Runs 2..N are gated against
run 1 (and, as a second figure, every ordered pair of runs) by:

- ``point``: ``codecbench compare --max-slowdown X``, the ratio of median times alone;
- ``interval``: ``--max-slowdown X --latency-ci``, the 95 % bootstrap interval of the ratio above X;
- ``too few rounds``: ``--latency-ci``'s other failure, a side with fewer than 5 rounds;
- ``interval>1``: the same interval above 1.0 (any slowdown beyond the noise of the rounds);
- ``rank p<0.05``: the one-sided Mann–Whitney test (information in the gate, never gated).

A comparison counts as one alarm when any case or phase alarms. The table is printed as markdown.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
from pathlib import Path

from codecbench.analysis.gate import compare_files
from codecbench.analysis.latency import compare_latency
from codecbench.analysis.thresholds import Thresholds

ROOT = Path(__file__).resolve().parents[1]


def run_benchmarks(out: Path, runs: int, spec: str, dataset: str, images: int, rounds: int,
                   max_time: float) -> None:
    """``runs`` pytest-benchmark runs of ``spec`` into ``out/run-NN.json`` (a run already there is kept)."""
    out.mkdir(parents=True, exist_ok=True)
    for i in range(1, runs + 1):
        target = out / f"run-{i:02d}.json"
        if target.exists():
            continue
        command = [sys.executable, "-m", "pytest", str(ROOT / "bench"), "--benchmark-only", "-q", "-p",
                   "no:cacheprovider", "--codecs", spec, "--datasets", dataset, "--max-images", str(images),
                   "--rounds", str(rounds), "--benchmark-max-time", str(max_time), "--report-dir", str(out / f"report-{i:02d}"),
                   "--benchmark-json", str(target), "--benchmark-save-data"]
        print(f"run {i}/{runs}: {' '.join(command[2:])}", file=sys.stderr, flush=True)
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def alarms(base: Path, new: Path, slowdown: float) -> dict[str, bool]:
    """Whether each rule alarms when ``new`` is gated against ``base``."""
    point = compare_files(base, new, Thresholds(max_slowdown=slowdown))
    interval = compare_latency(base, new, slowdown)
    return {
        "point": any("time ×" in v.message for v in point.violations),
        "interval": any(c.problem and c.ratio is not None for c in interval.checks),
        "too few rounds": any(c.problem and c.ratio is None for c in interval.checks),
        "interval>1": any(c.low is not None and c.low > 1.0 for c in interval.checks),
        "rank p<0.05": any(c.p_slower is not None and c.p_slower < 0.05 for c in interval.checks),
    }


def table(files: list[Path], slowdown: float) -> str:
    """The markdown table of alarm counts: against the first run, and over every ordered pair."""
    first = [alarms(files[0], f, slowdown) for f in files[1:]]
    pairs = [alarms(a, b, slowdown) for a, b in itertools.permutations(files, 2)]
    rules = list(first[0])
    lines = [f"| rule (×{slowdown:g}) | alarms, runs 2..{len(files)} vs run 1 "
             f"| alarms, all {len(pairs)} ordered pairs |",
             "| --- | ---: | ---: |"]
    for rule in rules:
        a, b = sum(x[rule] for x in first), sum(x[rule] for x in pairs)
        lines.append(f"| {rule} | {a}/{len(first)} ({100 * a / len(first):.0f} %) | "
                     f"{b}/{len(pairs)} ({100 * b / len(pairs):.1f} %) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder of the run-NN.json files")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--spec", default="jpeg:quality=50")
    p.add_argument("--dataset", default="kodak")
    p.add_argument("--max-images", type=int, default=2)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--max-time", type=float, default=1.0, help="--benchmark-max-time of each run (seconds)")
    p.add_argument("--max-slowdown", type=float, action="append", help="repeatable (default: 1.15)")
    p.add_argument("--no-run", action="store_true", help="only gate the files already in --out")
    args = p.parse_args(argv)
    if not args.no_run:
        run_benchmarks(args.out, args.runs, args.spec, args.dataset, args.max_images, args.rounds, args.max_time)
    files = sorted(args.out.glob("run-*.json"))
    if len(files) < 2:
        print(f"{args.out}: fewer than 2 runs to compare", file=sys.stderr)
        return 2
    print(f"{len(files)} runs of {args.spec} on {args.dataset} ({args.max_images} images, --rounds {args.rounds}), "
          f"load average {os.getloadavg()[0]:.1f} now:\n")
    for slowdown in args.max_slowdown or [1.15]:
        print(table(files, slowdown) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
