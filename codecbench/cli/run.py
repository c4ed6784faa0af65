"""``codecbench run``: evaluate codec specs over datasets into a results file."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codecbench.engine.cache import ResultsCache, RunCache
from codecbench.core.codec import split_specs, with_settings
from codecbench.datasets import get_dataset
from codecbench.engine import distributed
from codecbench.core.errors import SpecError
from codecbench.core.metrics import select_metrics
from codecbench.cli.pictures import add_viewer_options, check_report_options, run_pictures
from codecbench.render.output import write_formats
from codecbench.render.report_data import dataset_reports
from codecbench.render.rd import RDOptions
from codecbench.core.results import Record, machine_meta
from codecbench.engine.store import ResultsStore
from codecbench.engine.channels import nothing_to_measure
from codecbench.engine.runner import MAX_THREADS, Runner, Timing, check_options, default_jobs, threads_per_job
from codecbench.engine import targets as targets_module
from codecbench.engine.targets import TargetRun
from codecbench.core.targets import METRICS, Target, targets_of


#: where results go unless --out says otherwise: a git-ignored folder, never the committed reports/
DEFAULT_OUT = Path("results") / "results.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run codecs over datasets, writing result records",
        description="Run codec specs over datasets. Re-running the same command resumes: records already "
        "in the results file are kept and only missing or failed ones are computed.",
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="codec specs (also accepted through --codecs)")
    p.add_argument("-c", "--codecs", action="append", default=[], metavar="SPECS",
                   help="comma-separated codec specs (repeatable), e.g. jpeg,webp:quality=80,method=6; "
                   "a spec without its rate knob runs the default sweep, key=a|b lists values")
    p.add_argument("-d", "--datasets", action="append", default=[], metavar="NAMES",
                   help="comma-separated datasets (repeatable; default: embedded), e.g. kodak,bsd300:gray,folder:PATH")
    p.add_argument("-s", "--settings", default="", metavar="KEY=VALUES",
                   help="settings for every selected codec that declares them, e.g. quality=30|60|90")
    p.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT,
                   help="results file (JSON, written atomically; default: %(default)s, in a git-ignored folder)")
    p.add_argument("--report-dir", type=Path, metavar="DIR",
                   help="also write DIR/<dataset>.md for each dataset: the full report of `codecbench report` "
                   "(RD analysis and plots included; other formats with --format)")
    p.add_argument("--format", action="append", default=[], metavar="FORMAT",
                   help="--report-dir's formats, repeatable: markdown (default), html, csv, json")
    add_viewer_options(p)
    p.add_argument("--target-bpp", metavar="BPPS",
                   help="equal-rate run: per image, search each codec's rate knob to each of these rates, e.g. "
                   "0.25,0.5,1 (specs without their knob; one codec call at a time: --jobs 1)")
    p.add_argument("--target-psnr", metavar="DBS",
                   help="equal-quality run: as --target-bpp, to each of these PSNRs in dB, e.g. 30,35")
    p.add_argument("--metrics", default="", metavar="NAMES",
                   help="metrics to compute: names (psnr,ssim) or changes to the defaults (+ssimulacra2,-ms_ssim), "
                   "presets jpeg-ai, perceptual; see `codecbench list metrics`")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="codec processes at once, each pinned to its own core (default: all cores; 1: in this "
                   "process, timings without concurrent work)")
    p.add_argument("--dask", action="store_true",
                   help="run the (spec, image) tasks on a Dask LocalCluster of --jobs workers on this machine")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the tasks on this Dask cluster (workers read images from their CODECBENCH_DATA)")
    p.add_argument("--threads", type=int, help=f"threads per codec, 1 to {MAX_THREADS} (default: all cores with "
                   "--jobs 1, else cores // jobs)")
    p.add_argument("--max-images", type=int, metavar="N", help="use only the first N images (N ≥ 1) of each dataset")
    p.add_argument("--repeats", type=int, default=1, help="timed calls per image (≥ 1); the median is kept")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds per codec before timing (≥ 0)")
    p.add_argument("--download", action="store_true", help="download missing datasets (checksummed)")
    p.add_argument("--fresh", action="store_true", help="discard an existing results file instead of resuming")
    p.add_argument("--isolate", action="store_true",
                   help="run codec calls in a worker process: a native crash (segfault, abort) costs one record "
                   "and the run goes on")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop a codec that takes longer than this (> 0) on one image (encode, decode and metrics; "
                   "not model loading or warm-up) and record the image as failed; implies --isolate (a hung codec is stopped by killing its worker)")
    # results cache (codecbench.engine.cache)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the results cache")
    p.add_argument("--retime", action="store_true",
                   help="on a cache hit, reuse size and quality but time encode/decode again")
    p.add_argument("--cache", type=Path, metavar="PATH",
                   help="results cache file (default: cache.sqlite in $CODECBENCH_CACHE or ~/.cache/codecbench)")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Measure the selection into ``--out``; 0, or 1 when every record of this run failed (each one is kept)."""
    plan = _plan(args)
    store = ResultsStore(args.out, fresh=args.fresh, meta=machine_meta(  # holds --out's lock until closed
        timing={"warmup": args.warmup, "repeats": args.repeats}, device=args.device, threads=plan.threads,
        jobs=plan.jobs, **({"dask": args.scheduler or "LocalCluster"} if plan.on_dask else {})))
    cache = None if args.no_cache or plan.on_dask else RunCache(ResultsCache(args.cache), retime=args.retime,
                                                                repeats=args.repeats, jobs=plan.jobs)
    client = distributed.connect(args.scheduler, plan.jobs) if plan.on_dask else None
    try:
        runner = Runner(plan.specs, device=args.device, threads=plan.threads, timing=plan.timing, store=store,
                        cache=cache, timeout=args.timeout, isolate=args.isolate, metrics=plan.metrics,
                        jobs=plan.jobs, dask=client)
        try:
            tally = _measure(args, plan, TargetRun(runner, plan.specs, plan.targets) if plan.targets else runner)
        finally:
            runner.close()
    finally:
        if client is not None:
            distributed.close(client)
        store.close()  # compaction: the JSON file holds every record measured, even after Ctrl-C
    return _finish(args, store, cache, runner, tally)


@dataclass(frozen=True)
class _Plan:
    """What a run will do, checked before anything is written or started."""

    specs: list[str]
    targets: list[Target]
    jobs: int
    threads: int
    metrics: tuple
    timing: Timing
    datasets: list[str]
    sizes: dict[str, int]  # images per dataset
    on_dask: bool


def _plan(args: argparse.Namespace) -> _Plan:
    """The run's specs, options and datasets, every option checked (SpecError/OptionError: one line, exit 2)."""
    specs = with_settings([s for text in [*args.specs, *args.codecs] for s in split_specs(text)], args.settings)
    if not specs:
        raise SpecError("no codecs given: pass --codecs jpeg,webp (see `codecbench list codecs`)")
    targets = run_targets(args)
    jobs = (1 if targets else default_jobs()) if args.jobs is None else args.jobs
    on_dask = args.dask or args.scheduler is not None
    check_report_options(args)
    check_options(threads=args.threads, timeout=args.timeout, max_images=args.max_images, jobs=jobs)
    if targets:
        targets_module.check_options(jobs=jobs, isolate=args.isolate or args.timeout is not None, dask=on_dask)
    datasets = [d.strip() for text in args.datasets for d in text.split(",") if d.strip()] or ["embedded"]
    sizes = {name: len(get_dataset(name, max_images=args.max_images, download=args.download)) for name in datasets}
    reason = nothing_to_measure(specs, sizes)
    if reason is not None:
        raise SpecError(f"nothing to measure: {reason}")
    return _Plan(specs, targets, jobs, threads_per_job(args.threads, jobs), select_metrics(args.metrics),
                 Timing(warmup=args.warmup, repeats=args.repeats), datasets, sizes, on_dask)


@dataclass
class _Tally:
    """This run's records: how each was got (measured, reused, retimed), and its failures."""

    provenance: Counter = field(default_factory=Counter)
    failed: int = 0
    first_failure: Record | None = None
    wall_s: float = 0.0  # from the first image to the last record, as the time breakdown counts it


def _measure(args: argparse.Namespace, plan: _Plan, source: Runner | TargetRun) -> _Tally:
    """Run ``source`` over every dataset with a progress bar on a terminal; the tally of its records."""
    per_image = source.tasks_per_image if plan.targets else len(source.specs)
    tally, start = _Tally(), time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=None, transient=False, disable=not sys.stderr.isatty()) as progress:
        for name in plan.datasets:
            task = progress.add_task(name, total=plan.sizes[name] * per_image)
            for record in source.run_dataset(name, max_images=args.max_images, download=args.download):
                tally.failed += not record.ok
                tally.first_failure = tally.first_failure or (None if record.ok else record)
                tally.provenance[_provenance(record)] += 1
                progress.advance(task)
            progress.update(task, completed=plan.sizes[name] * per_image)
    tally.wall_s = time.perf_counter() - start
    return tally


def _finish(args: argparse.Namespace, store: ResultsStore, cache: RunCache | None, runner: Runner,
            tally: _Tally) -> int:
    """Write the pictures and reports asked for, print the run's summary lines; the exit status."""
    written = []
    pictures = run_pictures(args, store.records, args.out)
    if args.report_dir:
        rd = RDOptions(plots_dir=args.report_dir / "plots", report_dir=args.report_dir)
        reports = dataset_reports(store.records, store.meta, rd=rd, pictures=pictures)
        written = write_formats(reports, args.report_dir, args.format)
    if cache is not None:
        print(cache.summary(), file=sys.stderr)
        cache.cache.close()
    print(f"results: {args.out} ({len(store.records)} records, {tally.failed} failed in this run; "
          f"{_provenance_summary(tally.provenance)})", file=sys.stderr)
    print(runner.time_spent.summary(tally.wall_s), file=sys.stderr)
    for path in written:
        print(f"report: {path}", file=sys.stderr)
    if tally.failed and tally.failed == sum(tally.provenance.values()):
        first = tally.first_failure
        print(f"codecbench run: all {tally.failed} records of this run failed (the first: {first.spec} on "
              f"{first.dataset}/{first.image}: {first.error})", file=sys.stderr)
        return 1
    return 0


def run_targets(args: argparse.Namespace) -> list[Target]:
    """The targets of ``--target-bpp`` and ``--target-psnr``, in that order (none: a sweep)."""
    return targets_of({metric: getattr(args, f"target_{metric}") for metric in METRICS})


def _provenance(record: Record) -> str:
    """How this run got ``record``: "measured", "reused" from the cache, or "retimed" (reused, timings taken again)."""
    if not record.cached:
        return "measured"
    return "retimed" if record.retimed else "reused"


def _provenance_summary(counts: Counter) -> str:
    """``N measured, M reused from the cache (K of them re-timed)`` for this run's records."""
    reused = counts["reused"] + counts["retimed"]
    return f"{counts['measured']} measured, {reused} reused from the cache ({counts['retimed']} of them re-timed)"
