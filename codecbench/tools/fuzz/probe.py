"""The fuzzer's worker side: build a codec, encode the seed images, decode one mutated stream and classify the outcome.

These functions run in the fuzz :class:`~codecbench.engine.isolation.Worker` (called by name).
"""

from __future__ import annotations

import io
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from codecbench.core.codec import create_codec, get_codec_class
from codecbench.core.errors import CodecbenchError, DecodeError, EncodeError
from codecbench.core.headers import jpeg_frame
from codecbench.core.images import MAX_PIXELS, to_gray
from codecbench.datasets import get_dataset

#: sizes (H, W) of the seed crops; gray seeds for codecs that take one channel
SEED_SIZES = ((24, 40), (61, 93))
GRAY_SEED_SIZE = (20, 18)

_TARGETS: dict[str, Any] = {}
_STANDIN_DIR: tempfile.TemporaryDirectory | None = None


def seed_images() -> list[np.ndarray]:
    """Small crops of real photographs (scikit-image's astronaut and coffee): RGB, in SEED_SIZES."""
    ds = get_dataset("embedded")
    photos = {item.id: item for item in ds}
    a = photos["astronaut"].load()
    b = photos["coffee"].load() if "coffee" in photos else a
    (h0, w0), (h1, w1) = SEED_SIZES
    return [np.ascontiguousarray(a[180 : 180 + h0, 200 : 200 + w0]), np.ascontiguousarray(b[100 : 100 + h1, 150 : 150 + w1])]


def _standin_codec(name: str) -> tuple[Any, str]:
    """The codec with an untrained checkpoint exported by its trainable model (shipped file missing)."""
    import torch  # torch and the trainable models: only for a learned codec without its shipped checkpoint

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
    from codecbench.codecs.learned.base import CheckpointError  # imports torch: only when preparing a codec

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
        if _is_sequential_jpeg(data):  # scan mutations need a multi-scan stream to reach libjpeg's scan loop
            seeds.append(_progressive_jpeg(image))
            shapes.append(image.shape)
    if not seeds:
        raise CodecbenchError(f"{spec}: no seed image could be encoded: {'; '.join(refused)}")
    note = "; ".join(filter(None, [note, *refused]))
    return {"spec": codec.spec, "seeds": seeds, "shapes": shapes, "note": note, "channels": tuple(codec.channels)}


#: how libraries word an allocation that failed (under the worker's address-space cap, say); not libheif's
#: "Memory allocation error: Security limit exceeded", a refusal before allocating
_MEMORY_ERROR = re.compile(r"out of memory|not enough memory|cannot allocate|bad_alloc|exceeds system limits|"
                           r"failed to allocate", re.IGNORECASE)


def _is_sequential_jpeg(data: bytes) -> bool:
    """A baseline or extended-sequential Huffman JPEG (SOF0, SOF1), such as Pillow writes."""
    frame = jpeg_frame(data) if data[:2] == b"\xff\xd8" else None
    return frame is not None and frame.marker in (0xC0, 0xC1)


def _progressive_jpeg(image: np.ndarray) -> bytes:
    """``image`` as a progressive JPEG (libjpeg's script: 10 scans for colour, 6 for gray), through Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buffer, format="JPEG", progressive=True)
    return buffer.getvalue()


def _reset_peak() -> bool:
    """Reset the kernel's peak resident set size of this process (Linux); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss(exact: bool) -> int | None:
    """Peak resident bytes: since the last reset (``exact``: VmHWM), else since the process started
    (``ru_maxrss``, so that growth measured with it is a lower bound: only what exceeds an earlier peak)."""
    if not exact:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def probe(spec: str, data: bytes, budget: int | None = None) -> dict[str, Any]:
    """(In the worker) decode ``data`` and classify the outcome (not crash/hang: the caller sees those).

    ``memory`` is the outcome of a decode that failed to allocate (a MemoryError, or a library error saying
    so) or, with ``budget`` (bytes), one whose peak resident memory grew by more than that, whatever it
    returned: a bomb that fits under the address-space cap still counts. ``peak_rss`` is the growth.
    """
    codec = _TARGETS[spec]
    exact = _reset_peak()
    before = _peak_rss(exact)
    start = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        image = codec.decode(data)
    except DecodeError as exc:
        cause = exc.__cause__ or exc.__context__
        memory = isinstance(cause, MemoryError) or _MEMORY_ERROR.search(str(exc)) is not None
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
    peak = _peak_rss(exact)
    growth = result["peak_rss"] = max(peak - before, 0) if peak is not None and before is not None else None
    if budget is not None and growth is not None and growth > budget and result["outcome"] in ("image", "rejected"):
        outcome = f"{result['outcome']}: {result['error']}" if result["error"] else result["outcome"]
        result["error"] = (f"the decode grew peak resident memory by {growth / 2**20:.0f} MiB, over the "
                           f"{budget / 2**20:.0f} MiB limit (then {outcome})")
        result["outcome"] = "memory"
    return result
