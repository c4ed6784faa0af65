"""``codecbench report``: markdown tables from results files."""

from __future__ import annotations

import argparse
from pathlib import Path

from codecbench.reports.markdown import render
from codecbench.results import read_records


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the markdown report of results files")
    p.add_argument("results", nargs="+", type=Path, help="results files (JSON Lines from codecbench run)")
    p.add_argument("-o", "--out", type=Path, help="write the report here (default: print it)")
    p.add_argument("--title", default="codecbench report")
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    records = [r for path in args.results for r in read_records(path)]
    text = render(records, title=args.title)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0
