"""Metrics computed by other programs when they are installed: Butteraugli (libjxl's ``butteraugli_main``) and
VMAF (FFmpeg's ``libvmaf`` filter). The images go to them as uncompressed PPM/raw files in a temporary folder."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from codecbench.core.errors import CodecbenchError

#: seconds one external metric call may take (a Kodak image takes about 0.2 s in Butteraugli, 1 s in VMAF)
TIMEOUT_S = 120


def butteraugli_missing() -> str | None:
    """Why Butteraugli cannot be computed here, or None when ``butteraugli_main`` is on the PATH."""
    if shutil.which("butteraugli_main") is None:
        return "needs libjxl's butteraugli_main on the PATH (Debian/Ubuntu: apt-get install libjxl-devtools)"
    return None


@functools.lru_cache(maxsize=1)
def vmaf_missing() -> str | None:
    """Why VMAF cannot be computed here, or None when ``ffmpeg`` has the ``libvmaf`` filter."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return "needs ffmpeg built with libvmaf on the PATH"
    listed = subprocess.run([ffmpeg, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=60).stdout
    return None if " libvmaf " in listed else "needs ffmpeg built with libvmaf (this one has no libvmaf filter)"


def _write_pnm(path: Path, image: np.ndarray) -> None:
    h, w, c = image.shape
    path.write_bytes(f"P{6 if c == 3 else 5}\n{w} {h}\n255\n".encode() + np.ascontiguousarray(image).tobytes())


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CodecbenchError(f"{command[0]} took over {TIMEOUT_S} s") from None
    except FileNotFoundError:
        hint = "`codecbench list metrics` says what to install"
        raise CodecbenchError(f"{command[0]} is not installed ({hint})") from None
    if done.returncode != 0:
        raise CodecbenchError(f"{command[0]} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return done.stdout


def butteraugli(original: np.ndarray, decoded: np.ndarray) -> tuple[float, float]:
    """(Butteraugli max-norm, 3-norm) of two uint8 sRGB images by libjxl's ``butteraugli_main`` (lower is
    better, 0 = identical; default intensity target, 80 nits). CodecbenchError if the tool fails."""
    with tempfile.TemporaryDirectory(prefix="codecbench-butteraugli-") as folder:
        ref, dist = Path(folder) / "ref.pnm", Path(folder) / "dist.pnm"
        _write_pnm(ref, original)
        _write_pnm(dist, decoded)
        lines = _run(["butteraugli_main", str(ref), str(dist), "--pnorm", "3"]).split("\n")
    try:
        return float(lines[0]), float(next(line for line in lines if line.startswith("3-norm:")).split(":")[1])
    except (ValueError, StopIteration):
        raise CodecbenchError(f"butteraugli_main printed {' / '.join(lines)[:200]!r}, not two scores") from None


def vmaf(original: np.ndarray, decoded: np.ndarray) -> float:
    """VMAF (libvmaf's default model, 0–100) of the decoded image as one frame, both converted by FFmpeg to
    YUV 4:4:4 (BT.601); CodecbenchError if FFmpeg fails."""
    h, w, c = original.shape
    pix_fmt = "rgb24" if c == 3 else "gray"
    with tempfile.TemporaryDirectory(prefix="codecbench-vmaf-") as folder:
        ref, dist, log = Path(folder) / "ref.raw", Path(folder) / "dist.raw", Path(folder) / "vmaf.json"
        ref.write_bytes(np.ascontiguousarray(original).tobytes())
        dist.write_bytes(np.ascontiguousarray(decoded).tobytes())
        raw = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{w}x{h}", "-i"]
        graph = f"[0:v]format=yuv444p[d];[1:v]format=yuv444p[r];[d][r]libvmaf=log_fmt=json:log_path={log}"
        _run(["ffmpeg", "-v", "error", "-nostdin", *raw, str(dist), *raw, str(ref), "-lavfi", graph, "-f", "null", "-"])
        return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])
