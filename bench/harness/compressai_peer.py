"""CompressAI's classical bench loop as a peer: find it, call it, read what it prints, compare with codecbench.

CompressAI (``compressai.utils.bench``) imports torchvision and needs numpy<2,
which cannot live beside this project's CPU torch, so it runs from a venv of
its own (``bench/harness/peers/compressai_venv.sh``) named by
``$CODECBENCH_COMPRESSAI_PYTHON`` (that venv's ``python``), as a subprocess.

``python -m compressai.utils.bench jpeg DIR -q 1,5,... -j N --metrics psnr-rgb ms-ssim-rgb``
saves every image of DIR (found recursively) at each quality with Pillow
(``quality=q`` only: 4:2:0, standard Huffman tables, as codecbench's ``jpeg``
defaults), decodes it and prints one JSON object on stdout::

    {"name": "JPEG", "description": "...",
     "results": {"bpp": [...], "encoding_time": [...], "decoding_time": [...],
                 "psnr-rgb": [...], "ms-ssim-rgb": [...]}}

one list entry per quality in ascending order, each the arithmetic mean over
the images (PSNR in dB per image, then averaged; times in seconds per image).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codecbench.core.errors import ResultsError
from codecbench.core.metrics import METRICS
from codecbench.core.results import Record

#: environment variable naming the peer venv's python
PYTHON_ENV = "CODECBENCH_COMPRESSAI_PYTHON"
#: the metrics CompressAI's bench loop can compute (all of them are asked for)
COMPRESSAI_METRICS = ("psnr-rgb", "ms-ssim-rgb")
#: CompressAI's result key → the codecbench Record field that measures the same thing
SAME_METRIC = {"bpp": "bpp", "psnr-rgb": "psnr", "ms-ssim-rgb": "ms_ssim"}
#: what codecbench computes per image that CompressAI's loop does not
CODECBENCH_ONLY = ("psnr_y", "ssim")


@dataclass(frozen=True)
class Peer:
    """A python that can run CompressAI's bench loop, and what it reports about itself."""

    python: str
    versions: str  # e.g. "compressai 1.2.8, torch 2.13.0+cu128, pillow 13.0.0"


def find_peer(env: Mapping[str, str] = os.environ) -> tuple[Peer | None, str]:
    """``(peer, "")`` when ``$CODECBENCH_COMPRESSAI_PYTHON`` imports the bench loop, else ``(None, why not)``."""
    python = env.get(PYTHON_ENV, "")
    if not python:
        return None, f"${PYTHON_ENV} is not set (create the peer venv with bench/harness/peers/compressai_venv.sh)"
    if not Path(python).is_file():
        return None, f"${PYTHON_ENV}={python}: no such file"
    probe = ("import compressai, compressai.utils.bench.codecs, torch, PIL; "
             "print(f'compressai {compressai.__version__}, torch {torch.__version__}, pillow {PIL.__version__}')")
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"${PYTHON_ENV}={python} cannot be run: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        return None, f"${PYTHON_ENV}={python} cannot import compressai's bench loop: {last}"
    return Peer(python, done.stdout.strip()), ""


def bench_command(python: str, folder: Path, qualities: Sequence[int], jobs: int = 1) -> list[str]:
    """The command line of CompressAI's JPEG bench loop over ``folder`` at ``qualities`` with ``jobs`` processes."""
    return [python, "-m", "compressai.utils.bench", "jpeg", str(folder),
            "-q", ",".join(str(q) for q in qualities), "-j", str(jobs), "--metrics", *COMPRESSAI_METRICS]


def parse_bench_output(text: str, qualities: Sequence[int]) -> dict[int, dict[str, float]]:
    """Per quality, CompressAI's mean of each result (``bpp``, ``psnr-rgb``, ``ms-ssim-rgb``, times).

    ``qualities`` are those passed with ``-q``; CompressAI reports them in
    ascending order. Raises :class:`ResultsError` when ``text`` is not one
    JSON object with a list of one number per quality under every result.
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"CompressAI bench output is not JSON: {exc}") from None
    results = obj.get("results") if isinstance(obj, dict) else None
    if not isinstance(results, dict) or not results:
        raise ResultsError('CompressAI bench output has no "results" object')
    ordered = sorted(qualities)
    missing = [name for name in ("bpp", *COMPRESSAI_METRICS) if name not in results]
    if missing:
        raise ResultsError(f"CompressAI bench output lacks {', '.join(missing)}")
    out: dict[int, dict[str, float]] = {q: {} for q in ordered}
    for name, values in results.items():
        if not isinstance(values, list) or len(values) != len(ordered):
            raise ResultsError(f'CompressAI bench output: "{name}" is not a list of {len(ordered)} values')
        for q, value in zip(ordered, values):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ResultsError(f'CompressAI bench output: "{name}" holds {value!r}, not a number')
            out[q][name] = float(value)
    return out


def codecbench_means(records: Iterable[Record], fields: Sequence[str]) -> dict[int, dict[str, float]]:
    """Per setting (quality), the arithmetic mean over images of each of ``fields`` of the successful records.

    Raises :class:`ResultsError` if a record failed or lacks one of ``fields``
    (a comparison over fewer images or metrics would not be like for like).
    """
    sums: dict[int, dict[str, list[float]]] = {}
    for r in records:
        if not r.ok:
            raise ResultsError(f"{r.spec} on {r.image} failed: {r.error}")
        per_field = sums.setdefault(int(r.setting), {f: [] for f in fields})
        for f in fields:
            value = r.metric(f)
            if value is None:
                raise ResultsError(f"{r.spec} on {r.image}: no {f}")
            per_field[f].append(float(value))
    return {q: {f: sum(v) / len(v) for f, v in per_field.items()} for q, per_field in sorted(sums.items())}


def psnr_differences(ours: Mapping[int, Mapping[str, float]],
                     theirs: Mapping[int, Mapping[str, float]]) -> dict[int, float]:
    """Per quality, codecbench's mean PSNR minus CompressAI's mean ``psnr-rgb`` (dB).

    Raises :class:`ResultsError` when the two do not cover the same qualities.
    """
    if set(ours) != set(theirs):
        raise ResultsError(f"qualities differ: codecbench {sorted(ours)}, CompressAI {sorted(theirs)}")
    return {q: ours[q]["psnr"] - theirs[q]["psnr-rgb"] for q in sorted(ours)}


def same_measurements(a: Iterable[Record], b: Iterable[Record]) -> bool:
    """Whether two runs measured the same: per (spec, image), bytes, bpp, every metric and error (times aside)."""
    fields = ("bytes", "bpp", *METRICS, "error")

    def measured(records: Iterable[Record]) -> dict[tuple[str, str], tuple]:
        return {(r.spec, r.image): tuple(r.metric(f) for f in fields) for r in records}

    return measured(a) == measured(b)


@dataclass(frozen=True)
class Timed:
    """What one whole process took: wall seconds, CPU seconds (user + system, its reaped children included), stdout."""

    wall_s: float
    cpu_s: float
    stdout: str


def timed(command: Sequence[str], env: Mapping[str, str] | None = None, timeout_s: float = 3600) -> Timed:
    """Run ``command`` to completion as a whole process and say how long it took.

    CPU seconds come from this process's ``RUSAGE_CHILDREN`` before and after,
    so they count what the command and the children it waited for used (e.g.
    CompressAI's ``-j`` pool), and barely change with the machine's load, while
    wall seconds do. Raises :class:`ResultsError` with the last line of stderr
    if the command exits non-zero.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(list(command), capture_output=True, text=True, env=None if env is None else dict(env),
                          timeout=timeout_s)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ResultsError(f"{Path(command[0]).name} … exited with status {done.returncode}: {last}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(wall, cpu, done.stdout)


def link_images(paths: Iterable[Path], folder: Path) -> Path:
    """``folder`` holding a symlink to each of ``paths`` (and nothing else), so a peer sees exactly those images."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        (folder / path.name).symlink_to(path.resolve())
    return folder
