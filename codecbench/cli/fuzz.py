"""``codecbench fuzz``: feed mutated bitstreams to codec decoders (see :mod:`codecbench.tools.fuzz`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codecbench.core.codec import Spec, available_codecs, get_codec_class
from codecbench.core.errors import CodecbenchError
from codecbench.engine.measure import check_count


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fuzz",
        help="fuzz codec decoders with corrupt bitstreams (hypothesis, in a worker process)",
        description="Mutate real bitstreams of each codec (bit flips, truncation, appended bytes, random bytes, "
        "zeroed header, overwritten ranges, rewritten declared width/height, forged JPEG 2000 components, JPEG XL "
        "extra channels and repeated JPEG scans) and decode them in a worker process with a time and memory limit. "
        "A decode must return a valid uint8 image or raise DecodeError; crashes, hangs, memory blow-ups and "
        "other exceptions are failures, and their inputs are saved. Exit status 1 if any codec failed. "
        "The long campaign: codecbench fuzz --examples 1000",
    )
    p.add_argument("codecs", nargs="*", metavar="CODEC", help="codec names or specs (default: every registered codec)")
    p.add_argument("--examples", type=int, default=1000, help="mutations per codec (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=None, help="seconds one decode may take before it counts as a hang "
                   "(default: 60)")
    p.add_argument("--memory", type=float, default=None, metavar="GIB",
                   help="how much one decode may grow the worker's peak resident memory, in GiB, before it counts "
                   "as a memory failure (default: 4; the worker's address space is capped at twice that)")
    p.add_argument("--out", type=Path, default=Path("fuzz-failures"),
                   help="folder for failing inputs (default: %(default)s)")
    p.add_argument("--seed", type=int, help="hypothesis seed, for a reproducible campaign")
    p.add_argument("--json", type=Path, help="also write the per-codec figures as JSON here")
    p.add_argument("--replay", nargs="+", type=Path, metavar="FILE",
                   help="decode saved inputs again (with --codec) instead of fuzzing")
    p.add_argument("--codec", help="the codec of the --replay inputs")
    p.set_defaults(func=fuzz_command)


def fuzz_command(args: argparse.Namespace) -> int:
    try:
        from codecbench.tools import fuzz  # hypothesis is an optional dependency: a clear error without it
    except ImportError as exc:
        raise CodecbenchError(f"codecbench fuzz needs hypothesis ({exc}); install codecbench[dev]") from None
    timeout = args.timeout if args.timeout is not None else fuzz.DEFAULT_TIMEOUT
    if args.memory is not None:
        fuzz.check_limit("--memory", args.memory)  # in GiB, as given
    memory = args.memory * 2**30 if args.memory is not None else fuzz.DEFAULT_MEMORY
    check_count("--examples", args.examples, 1)
    if args.replay and not args.codec:
        raise CodecbenchError("--replay needs --codec NAME")
    names = [args.codec] if args.replay else args.codecs or list(available_codecs())
    for name in names:  # an unknown codec or setting is an error, not a skipped codec
        spec = Spec.parse(name)
        get_codec_class(spec.name).parse_settings(spec.raw)
    with fuzz.Fuzzer(args.out, timeout=timeout, memory=memory) as fuzzer:
        if args.replay:
            bad = 0
            for path, result in fuzzer.replay(args.codec, args.replay):
                bad += result["outcome"] in fuzz.FAILURES
                detail = result.get("error") or result.get("shape")
                peak = "" if result.get("peak_rss") is None else f", peak memory +{result['peak_rss'] / 2**20:.0f} MiB"
                print(f"{path}: {result['outcome']} ({detail}) in {result.get('seconds', 0):.3f} s{peak}")
            return 1 if bad else 0
        reports = []
        for name in names:
            print(f"fuzzing {name}: {args.examples} mutations ...", file=sys.stderr, flush=True)
            report = fuzzer.fuzz(
                name, args.examples, seed=args.seed,
                progress=lambda r: print(f"  {r.codec}: {r.examples} done, {r.failed} failures", file=sys.stderr,
                                         flush=True),
            )
            reports.append(report)
            status = report.skipped or f"{report.examples} mutations, {report.failed} failures, {report.wall_s:.0f} s"
            print(f"  {name}: {status}", file=sys.stderr, flush=True)
            for failure in report.failures[:5]:
                print(f"    {failure['outcome']}: {failure['error']} [{failure['mutation']}] -> {failure['input']}",
                      file=sys.stderr)
    print(fuzz.format_reports(reports), end="")
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=2) + "\n", encoding="utf-8")
    failed = [r.codec for r in reports if r.failed]
    if failed:
        print(f"failures in {', '.join(failed)}; inputs saved under {args.out}", file=sys.stderr)
    return 1 if failed else 0
