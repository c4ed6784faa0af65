"""``codecbench report``: one report per dataset and format (markdown by default) from results files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from codecbench.analysis.bdrate import DEFAULT_ANCHOR, DEFAULT_METHOD, METHODS
from codecbench.analysis.bootstrap import RESAMPLES
from codecbench.engine.measure import check_count
from codecbench.analysis.duplicates import Duplicate, collapse_duplicates, describe_duplicates
from codecbench.render.output import check_formats, write_formats
from codecbench.render.report_data import dataset_reports
from codecbench.render.rd import RDOptions
from codecbench.core.results import Record, merge_meta, read_result_parts
from codecbench.render.timing import file_origins


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the report of each dataset in results files (markdown, html, ...)")
    p.add_argument("results", nargs="+", type=Path, help="results files written by `codecbench run`")
    p.add_argument("-o", "--out", type=Path, metavar="DIR",
                   help="write DIR/<dataset>.md (and each other --format's file) for each dataset (default: print "
                   "the markdown reports)")
    add_format_options(p)
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
    p.add_argument("--bootstrap", type=int, default=RESAMPLES, metavar="N",
                   help="bootstrap resamples of the 95%% intervals over images (default: %(default)s; 0: no intervals)")
    p.add_argument("--file-size", action="store_true",
                   help="add the compression rate (%%) and ratio against the original image files")
    p.set_defaults(func=report_command)


#: the folder of viewer pictures beside a results file: ``results/kodak.json`` -> ``results/kodak.pictures``
PICTURES_SUFFIX = ".pictures"


def add_format_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", action="append", default=[], metavar="FORMAT",
                   help="report format, repeatable or comma-separated: markdown (default), html (one "
                   "self-contained page with interactive curves and an image viewer), csv, json, or a plug-in's")
    p.add_argument("--pictures", action="append", type=Path, default=[], metavar="DIR",
                   help="viewer pictures for the html report (repeatable; default: RESULTS.pictures/ beside each "
                   "results file, where there is one; made by `run --viewer-images` or `codecbench pictures`)")


def pictures_folder(results: Path) -> Path:
    """The pictures folder that belongs to the results file ``results``."""
    return results.with_name(results.stem + PICTURES_SUFFIX)


def picture_folders(results: Sequence[Path], given: Sequence[Path]) -> list[Path]:
    """``given``, or else the pictures folder beside each results file that has one."""
    return list(given) or [pictures_folder(p) for p in results if pictures_folder(p).is_dir()]


def report_command(args: argparse.Namespace) -> int:
    markdown = any(r.name == "markdown" for r in check_formats(args.format, args.out))  # which writes the plots
    files, records, duplicates = read_inputs(args.results)
    metas = [meta for _, meta, _ in files]
    if duplicates:
        print(f"codecbench: warning: {describe_duplicates(duplicates, 'the later copy kept')}", file=sys.stderr)
    check_count("--bootstrap", args.bootstrap, 0)
    rd = None
    if not args.no_rd:
        plots = None if args.no_plots else args.plots or (args.out / "plots" if args.out else None)
        rd = RDOptions(anchor=args.anchor, method=args.method, references=args.reference, plots_dir=plots,
                       report_dir=args.out, per_image=args.per_image, compressai_dir=args.compressai,
                       bootstrap=args.bootstrap)
    pictures = picture_folders(args.results, args.pictures)
    reports = dataset_reports(records, merge_meta(metas), rd=rd, file_size=args.file_size,
                              origins=file_origins(files), pictures=pictures)
    written = write_formats(reports, args.out, args.format)
    for path in written:
        print(f"wrote {path}")
    if written and rd is not None:
        for what, folder in (("plots", rd.plots_dir if markdown else None), ("CompressAI JSON", rd.compressai_dir)):
            if folder is not None and folder.is_dir():
                print(f"wrote {what} under {folder}")
    return 0


def read_inputs(paths: list[Path]) -> tuple[list[tuple[Path, dict, list[Record]]], list[Record], list[Duplicate]]:
    """Each file's (path, meta, records), all records with one per identity (the later file's, as the readers
    keep a later measurement), and what was held more than once: within a file, within its journal, or across
    files (a journal record replacing the file's, a resumed run's re-measurement, is not a duplicate)."""
    files, duplicates = [], []
    for path in paths:
        meta, written, journal = read_result_parts(path)
        written, in_file = collapse_duplicates(written, keep_last=True)
        journal, in_journal = collapse_duplicates(journal, keep_last=True)
        duplicates += in_file + in_journal
        files.append((path, meta, list({r.key: r for r in written + journal}.values())))
    records, across = collapse_duplicates([r for _, _, file_records in files for r in file_records], keep_last=True)
    return files, records, duplicates + across
