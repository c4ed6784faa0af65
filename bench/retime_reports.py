"""Re-time every committed results file of ``reports/results/`` in one pass, under one timing condition.

Run on an idle machine, with ``CODECBENCH_DATA`` pointing at the Kodak and BSD300 datasets::

    python bench/retime_reports.py                 # measure every file into the staging folder, check it
    python bench/retime_reports.py --install       # ... then copy the files over reports/results/ and
                                                   # regenerate the reports (reports/README.md's commands)
    python bench/retime_reports.py --only kodak-gan-ae.json --max-images 1 --staging /tmp/proof   # a quick try

Each file is measured again with the ``codecbench run`` command that made it (:data:`RUNS`, as listed in
``reports/README.md``) plus ``--jobs 1 --threads 1``: one codec call at a time, on one thread, for every codec
alike; so every record of every file is timed under the same condition and says so (``jobs`` 1, ``threads`` 1),
and the reports merge them without a "timed under different conditions" note. ``--retime`` with a cache of the
staging folder's own: on a first pass the cache is empty and everything is measured; a second pass (after a
disturbance) reuses bytes and quality from that cache and times every call again, checking the bytes. A killed
pass resumes where it stopped (results files resume); delete the staging folder to start over.

Bitstreams are deterministic for the library versions and checkpoint digests a file records: every staged record
is compared with the committed one; the (spec, image) sets, sizes, bytes, bpp, lossless check and errors must be
the same, and each quality metric within a tenth of the last digit reports print (SSIM and MS-SSIM within 1e-4:
the committed values came from a float64 formula; a learned decoder may round a few pixels differently). Any
difference is listed and nothing is installed (exit 1); the staged files stay in the staging folder. A spec whose
numbers are new is named instead, and ``--accept-new-builds`` installs it: its recorded versions changed (another
library or checkpoint: the committed records predate it), or its encoder's streams depend on the thread count
and this pass runs another one (AVIF, docs/determinism.md), or the run now makes records the committed file lacks
(a sweep that grew). A committed record missing from the new run is always a difference.

Before each file the script prints the committed sum of its timed calls (a floor for its run time: model loading,
warm-up and metrics come on top) and the 1-minute load average, warning when it is not idle.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from codecbench.core.metrics import METRICS
from codecbench.core.results import Record, read_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "reports" / "results"
#: each committed results file and the ``codecbench run`` options that made it (reports/README.md)
RUNS: dict[str, list[str]] = {
    "kodak-classical.json": ["--codecs", "jpeg,jpeg2000,webp,avif,jpegxl,png,webp-lossless,jpeg2000-lossless,jpegls,"
                             "jpegxl-lossless,ljpeg", "--datasets", "kodak"],
    "kodak-learned.json": ["--codecs", "cnn-ae,cnn-ae-ft,ssdcae,comcnn:quality=10|50|90,mlp-huffman,mlp-ans",
                           "--datasets", "kodak"],
    "kodak-gray.json": ["--codecs", "png,jpeg2000-lossless,jpegls,jpegxl-lossless,ljpeg,mlp-huffman,mlp-ans",
                        "--datasets", "kodak:gray"],
    "bsd300.json": ["--codecs", "jpeg,jpeg2000,webp,avif,png,jpeg2000-lossless", "--datasets", "bsd300"],
    "bsd300-learned.json": ["--codecs", "cnn-ae,cnn-ae-ft,ssdcae,comcnn:quality=10|50|90", "--datasets", "bsd300"],
    "kodak-hevc.json": ["--codecs", "hevc", "--datasets", "kodak"],
    "kodak-hevc444.json": ["--codecs", "hevc:subsampling=4:4:4", "--datasets", "kodak"],
    "kodak-learned-hyperprior-gan.json": [
        "--codecs", "hyperprior:quality=0|1|3|4,gan-hyperprior:quality=0|1|3|4,gan-ae:loss=w|dc,quality=4",
        "--datasets", "kodak"],
    "kodak-gan-ae.json": ["--codecs", "gan-ae:loss=w|dc,quality=1|2|3", "--datasets", "kodak"],
    "kodak-comcnn.json": ["--codecs", "comcnn:quality=30|70", "--datasets", "kodak"],
    "kodak-cnn-rnn-ae.json": ["--codecs", "cnn-rnn-ae:iterations=1|2|4|8", "--datasets", "kodak"],
}
#: the one timing condition of the pass
CONDITION = ["--jobs", "1", "--threads", "1"]
#: the Kodak files of lossy codecs also get the test conditions' metrics (JPEG AI's set and the perceptual
#: ones, where they can be computed here): computed outside the timed calls, they cost no timing
CTC_METRICS = ["--metrics", "+jpeg-ai,+perceptual"]
CTC_FILES = ("kodak-classical.json", "kodak-learned.json", "kodak-hevc.json", "kodak-hevc444.json",
             "kodak-learned-hyperprior-gan.json", "kodak-gan-ae.json", "kodak-comcnn.json", "kodak-cnn-rnn-ae.json")
#: the Kodak report's results files (reports/README.md), its equal-rate files included (not re-timed: their
#: searches are the point, not their times)
KODAK_FILES = [f"reports/results/{name}" for name in (
    "kodak-classical.json", "kodak-learned.json", "kodak-equal-rate.json", "kodak-equal-rate-learned.json",
    "kodak-learned-hyperprior-gan.json", "kodak-gan-ae.json", "kodak-cnn-rnn-ae.json", "kodak-comcnn.json",
    "kodak-hevc.json", "kodak-hevc444.json")]
KODAK_OPTIONS = ["--out", "reports", "--anchor", "jpeg,vtm",
                 "--reference", "kodak=reports/references/compressai-kodak-jpeg.json",
                 "kodak=reports/references/compressai-kodak-webp.json"]
#: the Kodak report as one page (reports/kodak.html: not committed, 18 MB; the browser tests build it too)
KODAK_HTML = ["report", *KODAK_FILES, *KODAK_OPTIONS, "--format", "html", "--pictures", "reports/pictures"]
#: the report commands of reports/README.md, run after --install
REPORTS = [
    ["report", *KODAK_FILES, "reports/results/kodak-gray.json", *KODAK_OPTIONS],
    KODAK_HTML,
    ["report", "reports/results/bsd300.json", "reports/results/bsd300-learned.json", "--out", "reports"],
]

#: the record fields a re-measurement must reproduce exactly
EXACT = ("width", "height", "bytes", "bpp", "lossless_ok", "error")
#: how far a re-measured quality metric may lie from the committed value: a tenth of the last digit reports print;
#: SSIM and MS-SSIM their validation tolerance (docs/metrics.md): the committed values came from a float64 formula,
#: today's float32 filtering differs by up to 5e-5 on flat, blocky decodes (JPEG at quality 1–20)
TOLERANCE = {name: 10.0 ** -(metric.digits + 1) for name, metric in METRICS.items()} | {"ssim": 1e-4, "ms_ssim": 1e-4}


def timed_sum(records: list[Record]) -> float:
    """Seconds of the timed encode and decode calls of ``records``."""
    return sum((r.enc_s or 0.0) + (r.dec_s or 0.0) for r in records)


def differences(committed: list[Record], staged: list[Record]) -> tuple[list[str], dict[str, str]]:
    """What ``staged`` does not reproduce of ``committed`` (over the images ``staged`` holds), one line each; and
    the specs whose records are new numbers, with why: their versions (library, checkpoint) changed; or their
    encoder's thread count changed and some of their streams with it (AVIF's and, for one Kodak image, JPEG XL's
    bytes depend on the number of threads, docs/determinism.md: a stream of the same length may still differ,
    so every record of such a spec counts as re-encoded); or ``staged`` adds records the committed file lacks (a
    sweep that grew). Those are new measurements, not a failure to reproduce; a record missing from ``staged``
    always is one."""
    images = {r.image for r in staged}
    old = {(r.spec, r.image): r for r in committed if r.image in images}
    new = {(r.spec, r.image): r for r in staged}
    lines = [f"{spec} {image}: missing from the new run" for spec, image in sorted(old.keys() - new.keys())]
    shared = sorted(old.keys() & new.keys())
    rethreaded = {key[0] for key in shared if old[key].threads != new[key].threads and old[key].bytes != new[key].bytes}
    rebuilt: dict[str, str] = {}
    for key in shared:
        # a metric the committed record lacks is an addition (CTC_METRICS), not a difference
        names = [*EXACT, *(n for n in TOLERANCE if METRICS[n].default or old[key].metric(n) is not None)]
        pairs = {name: (old[key].metric(name), new[key].metric(name)) for name in names}
        problems = [f"{key[0]} {key[1]}: {name} {a!r} → {b!r}" for name, (a, b) in pairs.items()
                    if not _same(name, a, b)]
        was, now = old[key].versions, new[key].versions
        threads_changed = key[0] in rethreaded and old[key].threads != new[key].threads
        if problems and (was != now or threads_changed):
            changes = [f"{k} {was.get(k, '-')} → {now.get(k, '-')}"
                       for k in sorted(was.keys() | now.keys()) if was.get(k) != now.get(k)]
            if threads_changed:
                changes.append(f"threads {old[key].threads} → {new[key].threads}")
            rebuilt[key[0]] = ", ".join(changes)
        else:
            lines += problems
    added = Counter(spec for spec, _ in new.keys() - old.keys())
    for spec, count in sorted(added.items()):
        rebuilt[spec] = ", ".join(filter(None, [rebuilt.get(spec), f"{count} records not in the committed file"]))
    return lines, rebuilt


def _same(name: str, a: object, b: object) -> bool:
    """Whether re-measured field ``name`` reproduces the committed value (exactly, or within :data:`TOLERANCE`)."""
    if a == b:
        return True
    return name in TOLERANCE and isinstance(a, float) and isinstance(b, float) and abs(a - b) <= TOLERANCE[name]


def codecbench(*args: str) -> None:
    """Run ``codecbench ARGS`` in the repository; exit with its status when it fails."""
    done = subprocess.run([sys.executable, "-m", "codecbench", *args], cwd=REPO)
    if done.returncode:
        sys.exit(done.returncode)


def retime(name: str, staging: Path, max_images: int | None) -> tuple[list[str], dict[str, str]]:
    """Measure ``name`` again into ``staging``; the differences from the committed file (see :func:`differences`)."""
    _, committed = read_results(RESULTS / name)
    n_images = len({r.image for r in committed})
    share = min(max_images, n_images) / n_images if max_images else 1.0
    load = os.getloadavg()[0]
    print(f"== {name}: committed timed calls {share * timed_sum(committed):.0f} s; "
          f"load average {load:.2f}{' (not idle: timings will be inflated)' if load > 0.5 else ''}", flush=True)
    start = time.perf_counter()
    metrics = CTC_METRICS if name in CTC_FILES else []
    codecbench("run", *RUNS[name], *CONDITION, *metrics, "--retime", "--cache", str(staging / "cache.sqlite"),
               "--out", str(staging / name), *(["--max-images", str(max_images)] if max_images else []))
    _, staged = read_results(staging / name)
    print(f"   {len(staged)} records in {time.perf_counter() - start:.0f} s wall, timed calls "
          f"{timed_sum(staged):.0f} s", flush=True)
    return differences(committed, staged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staging", type=Path, default=Path("/tmp/codecbench-retime"),
                        help="folder of the new results files and their cache (default: %(default)s)")
    parser.add_argument("--only", nargs="+", choices=sorted(RUNS), metavar="FILE", help="re-time only these files")
    parser.add_argument("--max-images", type=int, metavar="N",
                        help="the first N images only (a trial; not installable)")
    parser.add_argument("--install", action="store_true",
                        help="when every file checks out, copy them over reports/results/ and regenerate the reports")
    parser.add_argument("--accept-new-builds", action="store_true",
                        help="install files where a codec's versions (library, checkpoint) or thread-dependent streams "
                        "changed since they were committed, or that add records: those are new measurements")
    args = parser.parse_args(argv)
    if args.install and args.max_images:
        parser.error("--install takes a full pass (no --max-images)")
    args.staging.mkdir(parents=True, exist_ok=True)
    names = args.only or list(RUNS)
    failed, rebuilt = [], []
    for name in names:
        problems, changed = retime(name, args.staging, args.max_images)
        for spec, change in changed.items():
            print(f"   {spec}: new numbers ({change})")
        rebuilt += [name] if changed else []
        if problems:
            failed.append(name)
            print(f"   {len(problems)} differences from the committed file, e.g.:", *problems[:5], sep="\n   ")
    if failed or (rebuilt and not args.accept_new_builds):
        print(f"bytes or quality differ in {', '.join(failed) or 'no file'}; new numbers (another build, added "
              f"records) in {', '.join(rebuilt) or 'no file'} (--accept-new-builds to install those): "
              "nothing installed",
              file=sys.stderr)
        return 1
    print(f"every record of the same codec build matches the committed bytes and quality ({', '.join(names)})")
    if args.install:
        for name in names:
            shutil.copyfile(args.staging / name, RESULTS / name)
        for command in REPORTS:
            codecbench(*command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
