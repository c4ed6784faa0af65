"""``codecbench compare BASE NEW``: the quality/rate regression gate for CI.

Exit status: 0 when every change is within the thresholds, 1 when one is
crossed or a check fails (each named with codec and setting on stderr:
other images, other failures, a conflicting duplicate), 2 for bad input
(one line: a file that cannot be read, or a value no measurement can have).
Speed ratios decide nothing unless ``--max-slowdown`` is given; with
``--latency-ci`` they decide through the noise of pytest-benchmark's rounds
(:mod:`codecbench.analysis.latency`). When BASE and NEW were timed on different
machines or timed regions, one warning line says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codecbench.analysis.bdrate import DEFAULT_METHOD, METHODS
from codecbench.analysis.gate import compare_files
from codecbench.analysis.latency import compare_latency
from codecbench.analysis.thresholds import Thresholds, parse_db, parse_percent, parse_ratio
from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.results import output_errors
from codecbench.render.gate import comparison_markdown, latency_markdown


def _arg(parse):
    def convert(text: str):
        try:
            return parse(text)
        except CodecbenchError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare two results files; exit 1 on a quality/rate regression",
        description="Compare NEW results against BASE (codecbench results JSON or JSON Lines, or pytest-benchmark "
        "JSON with extra_info): per codec, BD-rate (PSNR) of NEW against BASE, per-setting bpp and PSNR changes and "
        "speed ratios. Exits 1 when a threshold is crossed or a setting's images (or failed images) differ, "
        "naming the codec and setting; exits 2, with one line, for an unreadable file or an impossible value.",
    )
    p.add_argument("base", type=Path, metavar="BASE", help="baseline results file")
    p.add_argument("new", type=Path, metavar="NEW", help="new results file")
    p.add_argument("--max-bd-rate", type=_arg(parse_percent), default=0.5, metavar="PCT",
                   help="largest allowed BD-rate (PSNR) of NEW vs BASE, percent (default: %(default)s)")
    p.add_argument("--max-psnr-drop", type=_arg(parse_db), default=0.05, metavar="DB",
                   help="largest allowed PSNR drop at any setting, dB (default: %(default)s)")
    p.add_argument("--max-bpp-rise", type=_arg(parse_percent), default=0.5, metavar="PCT",
                   help="largest allowed bpp rise at any setting, percent (default: %(default)s%%)")
    p.add_argument("--max-slowdown", type=_arg(parse_ratio), default=None, metavar="RATIO",
                   help="fail when a codec's encode or decode time exceeds RATIO × BASE (e.g. 1.15 or 15%%); "
                   "off by default, latency is left out of the verdict (pytest-benchmark's "
                   "--benchmark-compare-fail gates it on one machine); a warning says when BASE and NEW come from "
                   "different machines or timed regions")
    p.add_argument("--latency-ci", action="store_true",
                   help="gate latency on the noise of the benchmark rounds: fail only where the 95%% bootstrap "
                   "interval of NEW/BASE median round time lies wholly above --max-slowdown (needs pytest-benchmark "
                   "JSON saved with --benchmark-save-data; docs/ci.md gives its measured false-alarm rate)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD, help="BD interpolation (default: %(default)s)")
    p.add_argument("--out", type=Path, help="also write the markdown report to this file")
    p.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    if args.latency_ci and args.max_slowdown is None:
        raise OptionError("--latency-ci needs --max-slowdown RATIO: the slowdown its interval must clear")
    # with --latency-ci the rounds decide on latency, not the ratio of the means (Thresholds.max_slowdown)
    slowdown = None if args.latency_ci else args.max_slowdown
    thresholds = Thresholds(args.max_bd_rate, args.max_psnr_drop, args.max_bpp_rise, slowdown)
    result = compare_files(args.base, args.new, thresholds, method=args.method)
    latency = compare_latency(args.base, args.new, args.max_slowdown) if args.latency_ci else None
    if latency is not None:
        result.violations += latency.violations()
        result.warnings = [w for w in [latency.warning] if w]
    markdown = comparison_markdown(result, [] if latency is None else [latency_markdown(latency)])
    if args.out:
        with output_errors(args.out, "report"):
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(markdown, encoding="utf-8")
    print(markdown)
    for warning in result.warnings:
        print(f"codecbench: warning: {warning}", file=sys.stderr)
    if result.violations:
        print(f"codecbench compare: {len(result.violations)} regression(s):", file=sys.stderr)
        for v in result.violations:
            print(f"  {v}", file=sys.stderr)
        return 1
    return 0
