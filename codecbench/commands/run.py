"""``codecbench run``: evaluate codec specs over datasets into a results file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codecbench.datasets import get_dataset
from codecbench.reports.markdown import render
from codecbench.results import ResultsStore
from codecbench.runner import Runner, Timing


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run codecs over datasets, writing result records",
        description="Run codec specs over datasets. Re-running the same command resumes: records already "
        "in the results file are kept and only missing or failed ones are computed.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="codec specs, e.g. jpeg, jpeg:quality=75, webp:quality=50|80")
    p.add_argument("-d", "--dataset", action="append", dest="datasets", metavar="NAME",
                   help="dataset (repeatable; default: embedded), e.g. kodak, bsd300:gray, folder:PATH")
    p.add_argument("-o", "--out", type=Path, default=Path("codecbench-results.jsonl"),
                   help="results file, JSON Lines (default: %(default)s)")
    p.add_argument("--report", type=Path, help="also write the markdown report here")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--threads", type=int, help="threads per codec (default: all cores)")
    p.add_argument("--max-images", type=int, metavar="N", help="use only the first N images of each dataset")
    p.add_argument("--repeats", type=int, default=1, help="timed calls per image; the median is kept")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds per codec before timing")
    p.add_argument("--download", action="store_true", help="download missing datasets (checksummed)")
    p.add_argument("--fresh", action="store_true", help="discard an existing results file instead of resuming")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    if args.fresh and args.out.exists():
        args.out.unlink()
    store = ResultsStore(args.out)
    runner = Runner(args.specs, device=args.device, threads=args.threads,
                    timing=Timing(warmup=args.warmup, repeats=args.repeats), store=store)
    datasets = args.datasets or ["embedded"]
    failed = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=None, transient=False, disable=not sys.stderr.isatty()) as progress:
        for name in datasets:
            size = len(get_dataset(name, max_images=args.max_images, download=args.download))
            task = progress.add_task(name, total=size * len(runner.specs))
            for record in runner.run_dataset(name, max_images=args.max_images, download=args.download):
                failed += not record.ok
                progress.advance(task)
            progress.update(task, completed=size * len(runner.specs))
    report = render(store.latest())
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report, encoding="utf-8")
    else:
        print(report)
    print(f"results: {args.out} ({len(store.latest())} records, {failed} failed in this run)", file=sys.stderr)
    return 0
