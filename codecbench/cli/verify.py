"""``codecbench verify``: determinism checks per codec spec (:mod:`codecbench.tools.verify`), one markdown table
per spec; exit status 1 when any check failed."""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from codecbench.core.codec import Spec, available_codecs, split_specs
from codecbench.core.errors import SpecError
from codecbench.datasets import get_dataset
from codecbench.engine.measure import check_count
from codecbench.engine.runner import MAX_THREADS
from codecbench.tools.verify import CHECKS, DIFFERS, OK, Image, Outcome, verify_codec


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="determinism checks: repeated encodes, a fresh process, thread counts, cuda and cpu",
        description="For each spec (a spec without its rate knob: the two ends of its default sweep), check that "
        "repeated encodes give the same bytes, that a fresh process decodes them to the same pixels, that "
        "encoding with 1 and with N threads and decoding with the other gives the same pixels, and, where CUDA is "
        "present, that encoding on cuda and decoding on cpu (and the reverse) does. Prints a table per spec: ✓, "
        "✗ with the first difference, or 'not applicable' with the reason. Exit status 1 if any check failed.")
    p.add_argument("specs", nargs="*", metavar="SPEC", help="codec specs (e.g. jpeg hyperprior:quality=3)")
    p.add_argument("--all", action="store_true", help="every codec that runs here by its name alone")
    p.add_argument("-d", "--dataset", default="embedded", help="dataset of the images (default: %(default)s)")
    p.add_argument("--max-images", type=int, default=2, metavar="N", help="first N images (default: %(default)s)")
    threads = max(2, os.cpu_count() or 1)
    p.add_argument("--threads", type=int, default=threads, metavar="N",
                   help="thread count compared with one thread (default: %(default)s, the cores here, at least 2)")
    p.set_defaults(func=verify_command)


def verify_command(args: argparse.Namespace) -> int:
    """Check each spec; print its table as soon as it is done; 1 if any check failed, else 0."""
    check_count("--max-images", args.max_images, 1)
    check_count("--threads", args.threads, 2, MAX_THREADS)
    specs = [s for text in args.specs for s in split_specs(text)] + (list(available_codecs()) if args.all else [])
    if not specs:
        raise SpecError("no codecs given: pass specs (see `codecbench list codecs`) or --all")
    images = [Image(item.id, item.load()) for item in get_dataset(args.dataset, max_images=args.max_images)]
    print(f"Determinism checks on {len(images)} image(s) of {args.dataset} ({', '.join(i.id for i in images)}); "
          f"{args.threads} threads compared with 1.\n", flush=True)
    failed = False
    for spec in specs:
        results = verify_codec(spec, images, args.threads)
        failed |= any(o.status == DIFFERS for outcomes in results.values() for o in outcomes)
        print(table(spec, results), flush=True)
    return 1 if failed else 0


def cell(outcome: Outcome) -> str:
    """✓, ✗ with the first difference, or "not applicable: reason" (table pipes escaped)."""
    if outcome.status == OK:
        return "✓"
    text = ("✗ " if outcome.status == DIFFERS else "not applicable: ") + outcome.detail
    return text.replace("|", "\\|").replace("\n", " ")


def column_labels(points: Sequence[str]) -> list[str]:
    """Each point named by the settings in which the points differ (all its settings where there is one)."""
    raws = [Spec.parse(p).raw for p in points]
    keys = [k for k in raws[0] if len({r.get(k) for r in raws}) > 1] if len(raws) > 1 else list(raws[0])
    return [",".join(f"{k}={r[k]}" for k in keys if k in r) or Spec.parse(p).name for p, r in zip(points, raws)]


def table(spec: str, results: dict[str, list[Outcome]]) -> str:
    """The markdown table of one spec: a row per check, a column per point."""
    points = list(results)
    lines = [f"### {spec}", "", "| check | " + " | ".join(column_labels(points)) + " |",
             "| --- |" + " --- |" * len(points)]
    for row, _ in enumerate(CHECKS):
        label = results[points[0]][row].check
        lines.append(f"| {label} | " + " | ".join(cell(results[p][row]) for p in points) + " |")
    return "\n".join(lines) + "\n"
