"""Fuzzing codec decoders with corrupt bitstreams (hypothesis), native code in a worker process.

For each registered codec, real bitstreams (the codec's own encoding of a few
small crops of real photographs, colour and, where the codec takes it, gray)
are mutated by a hypothesis strategy (:func:`mutations`): bit flips (biased
towards the header), truncation, appended bytes, random bytes in place of the
stream, a zeroed header, an overwritten byte range with boundary values, a
rewritten declared image size (:func:`rewrite_declared_size`: large, odd or
tiny width and height in the learned-codec container, a JPEG-family frame
header, PNG's IHDR, a JPEG 2000 SIZ, an AVIF ``ispe``, a WebP or a JPEG XL
size header, with their checks
recomputed, so that decoders meet wrong-shape and oversized declarations
over a payload of the original size), up to three of these stacked; for
codecbench's learned-codec container the CRC may be recomputed afterwards so
that the payload decoders (Huffman, rANS, Deflate, the networks) are reached
rather than stopped by the check.

Each mutated stream is decoded in a :class:`~codecbench.engine.isolation.Worker`
(a separate process with an address-space limit and a per-call timeout) and
must give one of the *acceptable* outcomes:

``image``
    a uint8 H×W×C array with C in the codec's channels and H×W within
    :data:`codecbench.core.images.MAX_PIXELS` (``image`` when its shape is a seed's
    shape, ``image-other-shape`` otherwise: a corrupt header can declare
    another size; the runner compares every decoded image's shape with the
    original's and records a mismatch as an error, so such a stream is never
    reported as a success);
``rejected``
    :class:`~codecbench.core.errors.DecodeError`.

Everything else is a *failure*, and its input is saved to the reproducer
folder (``<codec>-<outcome>-<sha1>.bin``, with a ``.json`` describing the
codec, outcome, error and mutation): ``crash`` (the worker died: segfault,
abort), ``hang`` (no answer within the timeout), ``memory`` (the decoder hit
the worker's address-space limit, i.e. tried to allocate far more than any
image within MAX_PIXELS needs), ``wrong-error`` (an exception other than
DecodeError) and ``bad-image`` (a result that breaks the decode contract).

Run it with ``codecbench fuzz`` (see :mod:`codecbench.cli.fuzz`); the
test suite runs a bounded number of examples per codec
(``tests/test_fuzz_bitstreams.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from codecbench.core.errors import CodecbenchError, CodecCrashError, CodecTimeoutError
from codecbench.engine.isolation import Worker

#: outcomes a corrupt stream may have
ACCEPTABLE = ("image", "image-other-shape", "rejected")
#: outcomes that are bugs
FAILURES = ("crash", "hang", "memory", "wrong-error", "bad-image")
#: default per-decode time limit (seconds) and worker address-space headroom (bytes): a decode of
#: the largest image MAX_PIXELS allows fits in both, with a wide margin
DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY = 6 << 30
#: sizes (H, W) of the seed crops; gray seeds for codecs that take one channel
SEED_SIZES = ((24, 40), (61, 93))
GRAY_SEED_SIZE = (20, 18)


class FuzzFailure(AssertionError):
    """A mutated bitstream made a decoder crash, hang, exhaust memory or break its contract."""


# -- mutations --------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One mutation step. ``kind`` is one of :data:`OPS`; ``at``/``bits``/``data`` as that kind reads them."""

    kind: str
    at: int = 0
    bits: tuple[int, ...] = ()
    data: bytes = b""
    size: tuple[int, int] = (1, 1)  # "resize": the declared (height, width) to write

    def apply(self, stream: bytearray) -> bytearray:
        n = len(stream)
        if self.kind == "bitflip":
            for bit in self.bits:
                if n:
                    b = bit % (8 * n)
                    stream[b // 8] ^= 1 << (b % 8)
        elif self.kind == "truncate":
            del stream[self.at % max(n, 1):]
        elif self.kind == "append":
            stream += self.data
        elif self.kind == "random":
            stream[:] = self.data
        elif self.kind == "zero-header":
            stream[: self.at] = bytes(min(self.at, n))
        elif self.kind == "overwrite":
            if n:
                start = self.at % n
                chunk = self.data[: n - start]
                stream[start : start + len(chunk)] = chunk
        elif self.kind == "resize":
            stream[:] = rewrite_declared_size(bytes(stream), *self.size)
        else:  # pragma: no cover - strategies build only the kinds above
            raise ValueError(self.kind)
        return stream

    def describe(self) -> str:
        if self.kind == "bitflip":
            return f"flip bits {list(self.bits)} (mod length)"
        if self.kind == "truncate":
            return f"truncate to {self.at} mod length bytes"
        if self.kind == "append":
            return f"append {len(self.data)} bytes"
        if self.kind == "random":
            return f"replace with {len(self.data)} random bytes"
        if self.kind == "zero-header":
            return f"zero the first {self.at} bytes"
        if self.kind == "resize":
            return f"declare {self.size[1]}×{self.size[0]} (width×height)"
        return f"overwrite {len(self.data)} bytes at {self.at} mod length"


OPS = ("bitflip", "truncate", "append", "random", "zero-header", "overwrite", "resize")


@dataclass(frozen=True)
class Mutation:
    """Which seed stream, the steps applied in order, and whether to recompute a container CRC."""

    seed: int
    ops: tuple[Op, ...]
    fix_check: bool = False

    def apply(self, stream: bytes) -> bytes:
        out = bytearray(stream)
        for op in self.ops:
            out = op.apply(out)
        if self.fix_check:
            out = bytearray(fix_container_check(bytes(out)))
        return bytes(out)

    def describe(self) -> str:
        steps = "; ".join(op.describe() for op in self.ops)
        return f"seed {self.seed}: {steps}" + ("; recompute the container check" if self.fix_check else "")


def fix_container_check(data: bytes) -> bytes:
    """Recompute the CRC of a codecbench learned-codec container (bitstream.py); other data unchanged."""
    from codecbench.codecs.learned import container as bitstream

    return bitstream.recompute_check(data)


def rewrite_declared_size(data: bytes, height: int, width: int) -> bytes:
    """``data`` with the image size its header declares replaced by ``height``×``width``.

    Knows codecbench's learned-codec container (:func:`codecbench.codecs.learned.container.declare_size`: varints, its
    check recomputed, sizes beyond the container's field written as they come) and the classical
    formats of :func:`codecbench.core.headers.declare_size` (JPEG family, PNG, JPEG 2000, AVIF,
    WebP, JPEG XL; narrow fields take the values modulo their range). Any other data is returned unchanged.
    """
    from codecbench.codecs.learned import container as bitstream
    from codecbench.core import headers as _headers

    if data[:2] == bitstream.MAGIC:
        return bitstream.declare_size(data, width, height)
    return _headers.declare_size(data, width, height)


#: declared sides for "resize": tiny, odd, off-by-one around tile and stride multiples, huge
_side = st.one_of(
    st.sampled_from([1, 2, 3, 7, 15, 16, 17, 127, 128, 129, 1023, 1024, 1025, 2049, 4096, 9792, 16383, 65535,
                     65536, (1 << 17) - 1, 1 << 17, (1 << 17) + 1]),
    st.integers(1, 1 << 18),
)
_interesting = st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE])
_position = st.one_of(st.integers(0, 32 * 8 - 1), st.integers(0, 1 << 24))  # the header, or anywhere


def ops() -> st.SearchStrategy[Op]:
    """One mutation step of any kind."""
    return st.one_of(
        st.builds(Op, st.just("bitflip"), bits=st.lists(_position, min_size=1, max_size=8).map(tuple)),
        st.builds(Op, st.just("truncate"), at=st.one_of(st.integers(0, 64), st.integers(0, 1 << 24))),
        st.builds(Op, st.just("append"), data=st.binary(min_size=1, max_size=512)),
        st.builds(Op, st.just("random"), data=st.binary(min_size=1, max_size=2048)),
        st.builds(Op, st.just("zero-header"), at=st.integers(1, 64)),
        st.builds(Op, st.just("resize"), size=st.tuples(_side, _side)),
        st.builds(
            Op,
            st.just("overwrite"),
            at=_position.map(lambda bit: bit // 8),
            data=st.one_of(st.binary(min_size=1, max_size=16), st.lists(_interesting, min_size=1, max_size=8).map(bytes)),
        ),
    )


def mutations(n_seeds: int) -> st.SearchStrategy[Mutation]:
    """A mutation of one of ``n_seeds`` seed streams: 1–3 stacked steps, maybe a CRC fix-up."""
    return st.builds(
        Mutation,
        seed=st.integers(0, n_seeds - 1),
        ops=st.lists(ops(), min_size=1, max_size=3).map(tuple),
        fix_check=st.booleans(),
    )


# -- worker side --------------------------------------------------------------------
_TARGETS: dict[str, Any] = {}
_STANDIN_DIR: tempfile.TemporaryDirectory | None = None


def seed_images() -> list[np.ndarray]:
    """Small crops of real photographs (scikit-image's astronaut and coffee): RGB, in SEED_SIZES."""
    from codecbench.datasets import get_dataset

    ds = get_dataset("embedded")
    photos = {item.id: item for item in ds}
    a = photos["astronaut"].load()
    b = photos["coffee"].load() if "coffee" in photos else a
    (h0, w0), (h1, w1) = SEED_SIZES
    return [np.ascontiguousarray(a[180 : 180 + h0, 200 : 200 + w0]), np.ascontiguousarray(b[100 : 100 + h1, 150 : 150 + w1])]


def _standin_codec(name: str) -> tuple[Any, str]:
    """The codec with an untrained checkpoint exported by its trainable model (shipped file missing)."""
    import torch

    from codecbench.core.codec import get_codec_class
    from codecbench.codecs.learned.base import save_atomic
    from codecbench.training import available_trainables

    global _STANDIN_DIR
    models = [t for t in available_trainables().values() if t.codec == name]
    if not models:
        raise CodecbenchError(f"{name}: no shipped checkpoint and no trainable model to make a stand-in")
    torch.manual_seed(0)
    trainable = models[0]()
    ckpt = trainable.export(trainable.build(), {"note": "untrained stand-in for fuzzing"})
    if _STANDIN_DIR is None:
        _STANDIN_DIR = tempfile.TemporaryDirectory(prefix="codecbench-fuzz-")
    path = Path(_STANDIN_DIR.name) / f"{name}.pt"
    save_atomic(ckpt, path)
    return get_codec_class(name)(checkpoint=path, threads=1), "untrained stand-in checkpoint (shipped one missing)"


def prepare(spec: str) -> dict[str, Any]:
    """(In the worker) build the codec and encode the seed images; return the seed streams and notes."""
    from codecbench.core.codec import create_codec
    from codecbench.codecs.learned.base import CheckpointError
    from codecbench.core.errors import EncodeError
    from codecbench.core.images import to_gray

    note = ""
    try:
        codec = create_codec(spec, threads=1)
    except CheckpointError as exc:
        if "missing" not in str(exc):
            raise
        codec, note = _standin_codec(spec)
    _TARGETS[spec] = codec
    images = seed_images()
    if 1 in codec.channels:
        images.append(to_gray(images[0])[: GRAY_SEED_SIZE[0], : GRAY_SEED_SIZE[1]].copy())
    images = [im for im in images if im.shape[2] in codec.channels]
    seeds, shapes, refused = [], [], []
    for image in images:
        try:
            data = codec.encode(image)
        except EncodeError as exc:  # e.g. no network for gray images: fuzz the others
            refused.append(f"{image.shape[2]}-channel seed refused ({exc})")
            continue
        back = codec.decode(data)
        if back.shape != image.shape:
            raise CodecbenchError(f"{spec}: seed round trip gave {back.shape}, expected {image.shape}")
        seeds.append(data)
        shapes.append(image.shape)
    if not seeds:
        raise CodecbenchError(f"{spec}: no seed image could be encoded: {'; '.join(refused)}")
    note = "; ".join(filter(None, [note, *refused]))
    return {"spec": codec.spec, "seeds": seeds, "shapes": shapes, "note": note, "channels": tuple(codec.channels)}


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set size (VmHWM)
        return True
    except OSError:
        return False


def _peak_rss() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def probe(spec: str, data: bytes) -> dict[str, Any]:
    """(In the worker) decode ``data`` and classify the outcome (not crash/hang: the caller sees those)."""
    from codecbench.core.errors import DecodeError
    from codecbench.core.images import MAX_PIXELS

    codec = _TARGETS[spec]
    exact_peak = _reset_peak()
    before = _peak_rss() if exact_peak else None
    start = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        image = codec.decode(data)
    except DecodeError as exc:
        cause = exc.__cause__ or exc.__context__
        memory = isinstance(cause, MemoryError) or "out of memory" in str(exc).lower()
        result = {"outcome": "memory" if memory else "rejected", "error": str(exc)[:500]}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        result = {"outcome": "wrong-error", "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    else:
        ok = (
            isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] in codec.channels and image.shape[0] >= 1 and image.shape[1] >= 1
            and image.shape[0] * image.shape[1] <= MAX_PIXELS
        )
        shape = tuple(getattr(image, "shape", ()))
        result = {"outcome": "image" if ok else "bad-image", "shape": shape,
                  "error": None if ok else f"{type(image).__name__} {getattr(image, 'dtype', '')} {shape}"}
    result["seconds"] = time.perf_counter() - start
    peak = _peak_rss() if exact_peak else None
    result["peak_rss"] = peak - before if peak is not None and before is not None else None  # growth during decode
    return result


# -- the driver ---------------------------------------------------------------------
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

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["outcomes"], out["kinds"] = dict(self.outcomes), dict(self.kinds)
        return out


class Fuzzer:
    """Fuzzes codec decoders in a worker process; saves failing inputs to ``out_dir``.

    ``timeout``: seconds a decode may take (a hang otherwise); ``memory``: the
    worker's address-space headroom in bytes. Use as a context manager.
    """

    def __init__(self, out_dir: str | os.PathLike | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 memory: int = DEFAULT_MEMORY, worker: Worker | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.timeout = timeout
        self.worker = worker or Worker(memory_limit=memory, label="fuzz worker", preload=("codecbench.tools.fuzz",))
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
            info = self.worker.call("codecbench.tools.fuzz:prepare", spec, timeout=max(self.timeout, 600.0))
            info["pid"] = self.worker.pid
            self._prepared[spec] = info
        return self._prepared[spec]

    def decode(self, spec: str, data: bytes) -> dict[str, Any]:
        """Decode one stream in the worker; classify crashes and hangs too."""
        self._prepare(spec)
        start = time.perf_counter()
        try:
            return self.worker.call("codecbench.tools.fuzz:probe", spec, data, timeout=self.timeout)
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
        """
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
            report.examples += 1
            report.outcomes[outcome] += 1
            for op in mutation.ops:
                report.kinds[op.kind] += 1
            report.kinds["fix-check"] += mutation.fix_check
            report.max_seconds = max(report.max_seconds, float(result.get("seconds") or 0.0))
            if result.get("peak_rss") is not None:
                report.max_peak_rss = max(report.max_peak_rss or 0, int(result["peak_rss"]))
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
            from hypothesis import seed as hypothesis_seed

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
