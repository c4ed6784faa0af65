"""``codecbench report``: one markdown report per dataset from results files."""

from __future__ import annotations

import argparse
from pathlib import Path

from codecbench.reports.markdown import render_reports, report_filename
from codecbench.results import read_results


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the markdown report of each dataset in results files")
    p.add_argument("results", nargs="+", type=Path, help="results files written by `codecbench run`")
    p.add_argument("-o", "--out", type=Path, metavar="DIR",
                   help="write DIR/<dataset>.md for each dataset (default: print the reports)")
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    meta, records = {}, []
    for path in args.results:
        file_meta, file_records = read_results(path)
        meta = meta or file_meta
        records += file_records
    write_reports(render_reports(records, meta or None), args.out)
    return 0


def write_reports(reports: dict[str, str], out: Path | None) -> list[Path]:
    """Write each dataset's report to ``out/<dataset>.md`` (print them when ``out`` is None)."""
    if out is None:
        print("\n".join(reports.values()), end="")
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset, text in reports.items():
        path = out / report_filename(dataset)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths
