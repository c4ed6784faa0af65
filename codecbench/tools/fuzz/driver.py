"""The fuzzer's driver: mutate, send to the worker, judge the outcome, save reproducers, report."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings

from codecbench.core.errors import CodecbenchError, CodecCrashError, CodecTimeoutError, OptionError
from codecbench.engine.isolation import Worker
from codecbench.engine.measure import check_count
from codecbench.tools.fuzz.mutations import Mutation, mutations

#: outcomes a corrupt stream may have
ACCEPTABLE = ("image", "image-other-shape", "rejected")
#: outcomes that are bugs
FAILURES = ("crash", "hang", "memory", "wrong-error", "bad-image")
#: default per-decode time limit (seconds) and peak-memory growth a decode may have (bytes): a decode of
#: the largest image MAX_PIXELS allows fits in both (JPEG 2000, the most memory-hungry, grows by 198 MiB for
#: 12 Mpx RGB, so about 1.6 GiB for 96 Mpx), while the decode bombs of issue 21 (5.2 GB, 2.3 GB) did not
DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY = 4 << 30
#: the worker's address space may grow by this many times the memory limit: far enough above it that a
#: bomb is measured (and named) rather than stopped by an allocation failure its library may not name
ADDRESS_SPACE_FACTOR = 2


def check_limit(option: str, value: float) -> None:
    """Raise :class:`~codecbench.core.errors.OptionError` unless ``value`` is a finite number above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise OptionError(f"{option} must be a finite number above 0, got {value!r}")


class FuzzFailure(AssertionError):
    """A mutated bitstream made a decoder crash, hang, exhaust memory or break its contract."""


@dataclass
class CodecReport:
    """What fuzzing one codec found."""

    codec: str
    spec: str = ""
    note: str = ""
    examples: int = 0
    outcomes: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    max_seconds: float = 0.0
    max_peak_rss: int | None = None
    wall_s: float = 0.0
    skipped: str | None = None

    @property
    def failed(self) -> int:
        return sum(self.outcomes[k] for k in FAILURES)

    def count(self, mutation: Mutation, result: dict[str, Any]) -> None:
        """Add one decode's outcome, mutation kinds, seconds and peak memory to the tallies."""
        self.examples += 1
        self.outcomes[result["outcome"]] += 1
        for op in mutation.ops:
            self.kinds[op.kind] += 1
        self.kinds["fix-check"] += mutation.fix_check
        self.max_seconds = max(self.max_seconds, float(result.get("seconds") or 0.0))
        if result.get("peak_rss") is not None:
            self.max_peak_rss = max(self.max_peak_rss or 0, int(result["peak_rss"]))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["outcomes"], out["kinds"] = dict(self.outcomes), dict(self.kinds)
        return out


class Fuzzer:
    """Fuzzes codec decoders in a worker process; saves failing inputs to ``out_dir``.

    ``timeout``: seconds a decode may take (a hang otherwise); ``memory``: bytes
    by which a decode may grow the worker's peak resident memory (a ``memory``
    failure otherwise; the worker's address space is capped at
    ``ADDRESS_SPACE_FACTOR`` times that, unless ``worker`` is given). Both must be
    finite and above 0 (:class:`~codecbench.core.errors.OptionError`). Use as a
    context manager.
    """

    def __init__(self, out_dir: str | os.PathLike | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 memory: float = DEFAULT_MEMORY, worker: Worker | None = None) -> None:
        check_limit("--timeout", timeout)
        check_limit("--memory", memory)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.timeout = float(timeout)
        self.memory = int(memory)
        self.worker = worker or Worker(memory_limit=ADDRESS_SPACE_FACTOR * self.memory, label="fuzz worker",
                                       preload=("codecbench.tools.fuzz.probe",))
        self._prepared: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Fuzzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.worker.close()

    def _prepare(self, spec: str) -> dict[str, Any]:
        pid = self.worker.pid
        if spec not in self._prepared or self._prepared[spec]["pid"] != pid or pid is None:
            info = self.worker.call("codecbench.tools.fuzz.probe:prepare", spec, timeout=max(self.timeout, 600.0))
            info["pid"] = self.worker.pid
            self._prepared[spec] = info
        return self._prepared[spec]

    def decode(self, spec: str, data: bytes) -> dict[str, Any]:
        """Decode one stream in the worker; classify crashes and hangs too."""
        self._prepare(spec)
        start = time.perf_counter()
        try:
            return self.worker.call("codecbench.tools.fuzz.probe:probe", spec, data, self.memory, timeout=self.timeout)
        except CodecCrashError as exc:
            return {"outcome": "crash", "error": str(exc), "seconds": time.perf_counter() - start}
        except CodecTimeoutError as exc:
            return {"outcome": "hang", "error": str(exc), "seconds": time.perf_counter() - start}

    def save(self, report: CodecReport, data: bytes, mutation: Mutation | None, result: dict[str, Any]) -> Path | None:
        """Write a failing input and its description; return the .bin path (None without out_dir)."""
        if self.out_dir is None:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:12]
        path = self.out_dir / f"{report.codec}-{result['outcome']}-{digest}.bin"
        path.write_bytes(data)
        meta = {"codec": report.codec, "spec": report.spec, "outcome": result["outcome"], "error": result.get("error"),
                "seconds": result.get("seconds"), "mutation": mutation.describe() if mutation else None,
                "replay": f"codecbench fuzz --replay {path} --codec {report.codec}"}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return path

    def fuzz(self, name: str, examples: int, *, stop_on_failure: bool = False, shrink: bool = False,
             seed: int | None = None, progress: Callable[[CodecReport], None] | None = None) -> CodecReport:
        """Run ``examples`` mutations of ``name``'s seed streams through its decoder.

        With ``stop_on_failure`` the first failure raises :class:`FuzzFailure`
        (its input saved first; with ``shrink``, hypothesis then shrinks it to a
        smaller mutation, which costs a worker restart per crashing attempt);
        otherwise every failure is saved and counted and the campaign goes on.
        ``examples`` must be at least 1 (:class:`~codecbench.core.errors.OptionError`).
        """
        check_count("--examples", examples, 1)
        report = CodecReport(name)
        started = time.perf_counter()
        try:
            info = self._prepare(name)
        except (CodecbenchError, RuntimeError) as exc:
            report.skipped = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return report
        report.spec, report.note = info["spec"], info["note"]
        seeds, shapes = info["seeds"], {tuple(s) for s in info["shapes"]}
        saved: dict[bytes, Path | None] = {}

        phases = [Phase.generate] + ([Phase.shrink] if stop_on_failure and shrink else [])

        @settings(max_examples=examples, deadline=None, database=None, phases=phases,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
        @given(mutation=mutations(len(seeds)))
        def one(mutation: Mutation) -> None:
            data = mutation.apply(seeds[mutation.seed])
            result = self.decode(name, data)
            outcome = result["outcome"]
            if outcome == "image" and tuple(result["shape"]) not in shapes:
                outcome = result["outcome"] = "image-other-shape"
            report.count(mutation, result)
            if progress is not None and report.examples % 50 == 0:
                progress(report)
            if outcome in FAILURES:
                digest = hashlib.sha1(data).digest()
                if digest not in saved and len(saved) < 50:
                    saved[digest] = path = self.save(report, data, mutation, result)
                    report.failures.append({"outcome": outcome, "error": result.get("error"),
                                            "mutation": mutation.describe(), "input": str(path) if path else None})
                path = saved.get(digest)
                if stop_on_failure:
                    raise FuzzFailure(f"{name}: {outcome} on a mutated stream ({mutation.describe()}): "
                                      f"{result.get('error')}" + (f"; input saved to {path}" if path else ""))

        if seed is not None:
            one = hypothesis_seed(seed)(one)
        try:
            one()
        finally:
            report.wall_s = time.perf_counter() - started
        return report

    def replay(self, name: str, paths: Iterable[str | os.PathLike]) -> list[tuple[str, dict[str, Any]]]:
        """Decode saved inputs again (in the worker); return (path, result) pairs."""
        return [(str(p), self.decode(name, Path(p).read_bytes())) for p in paths]


def format_reports(reports: Iterable[CodecReport]) -> str:
    """A markdown table of fuzzing results, one row per codec."""
    lines = [
        "| codec | mutations | image | other shape | DecodeError | crash | hang | memory | wrong error | bad image "
        "| max decode s | max RSS growth in a decode, MiB | note |",
        "|" + "---|" * 13,
    ]
    for r in reports:
        if r.skipped:
            lines.append(f"| {r.codec} | — | | | | | | | | | | | skipped: {r.skipped} |")
            continue
        o = r.outcomes
        rss = "—" if r.max_peak_rss is None else f"{r.max_peak_rss / 2**20:.0f}"
        lines.append(
            f"| {r.codec} | {r.examples} | {o['image']} | {o['image-other-shape']} | {o['rejected']} | {o['crash']} "
            f"| {o['hang']} | {o['memory']} | {o['wrong-error']} | {o['bad-image']} | {r.max_seconds:.2f} | {rss} "
            f"| {r.note} |"
        )
    return "\n".join(lines) + "\n"
