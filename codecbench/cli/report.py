"""``codecbench report``: one markdown report per dataset from results files."""

from __future__ import annotations

import argparse
from pathlib import Path

from codecbench.analysis.bdrate import DEFAULT_ANCHOR, DEFAULT_METHOD, METHODS
from codecbench.render.output import build_reports, write_reports
from codecbench.render.rd import RDOptions
from codecbench.core.results import merge_meta, read_results


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the markdown report of each dataset in results files")
    p.add_argument("results", nargs="+", type=Path, help="results files written by `codecbench run`")
    p.add_argument("-o", "--out", type=Path, metavar="DIR",
                   help="write DIR/<dataset>.md for each dataset (default: print the reports)")
    # rate–distortion analysis (codecbench.render.rd)
    p.add_argument("--anchor", default=DEFAULT_ANCHOR, help="BD-rate anchor codec or curve label (default: %(default)s)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="BD and fixed-rate interpolation (default: %(default)s)")
    p.add_argument("--reference", action="extend", nargs="+", default=[], metavar="[DATASET=]PATH",
                   help="CompressAI-format results JSON to include as reference curves (not measured here); "
                   "DATASET= limits one to a dataset")
    p.add_argument("--plots", type=Path, metavar="DIR",
                   help="write the RD and timing plots (PNG) here (default with --out: OUT/plots)")
    p.add_argument("--no-plots", action="store_true", help="no plots")
    p.add_argument("--per-image", type=int, default=0, metavar="N", help="list the N worst images per codec")
    p.add_argument("--compressai", type=Path, metavar="DIR",
                   help="also export each measured curve as CompressAI-format JSON under DIR/<dataset>/")
    p.add_argument("--no-rd", action="store_true", help="leave out the rate–distortion analysis")
    p.add_argument("--file-size", action="store_true",
                   help="add the compression rate (%%) and ratio against the original image files")
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    metas, records = [], []
    for path in args.results:
        file_meta, file_records = read_results(path)
        metas.append(file_meta)
        records += file_records
    rd = None
    if not args.no_rd:
        plots = None if args.no_plots else args.plots or (args.out / "plots" if args.out else None)
        rd = RDOptions(anchor=args.anchor, method=args.method, references=args.reference, plots_dir=plots,
                       report_dir=args.out, per_image=args.per_image, compressai_dir=args.compressai)
    write_reports(build_reports(records, merge_meta(metas), rd=rd, file_size=args.file_size), args.out)
    return 0
