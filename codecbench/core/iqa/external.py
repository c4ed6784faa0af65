"""Metrics computed by other programs when they are installed: Butteraugli (libjxl's ``butteraugli_main``) and
VMAF (Netflix's ``vmaf`` tool, else FFmpeg's ``libvmaf`` filter). The images go to them as uncompressed PPM/raw
files in a temporary folder.

VMAF's input is written here rather than left to FFmpeg's converter, so that both programs score the same
samples, those of JPEG AI's evaluation (its reference software, ``src/codec/metrics/metrics.py``): full-range
BT.709 Y'CbCr 4:4:4 at 10 bits, from the RGB first rounded to the 10-bit grid."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.refcache import reference_side

#: seconds one external metric call may take (a Kodak image takes about 0.2 s in Butteraugli, 0.05 s in VMAF)
TIMEOUT_S = 120


def butteraugli_missing() -> str | None:
    """Why Butteraugli cannot be computed here, or None when ``butteraugli_main`` is on the PATH."""
    if shutil.which("butteraugli_main") is None:
        return "needs libjxl's butteraugli_main on the PATH (Debian/Ubuntu: apt-get install libjxl-devtools)"
    return None


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
        said = " ".join(done.stderr.split())[-300:]  # one line, whatever the program printed
        raise CodecbenchError(f"{command[0]} failed (exit {done.returncode}): {said or 'no message'}")
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


# -- VMAF ------------------------------------------------------------------------------------------------------
#: the programs that can compute VMAF, preferred first: Netflix's own tool, FFmpeg's libvmaf filter
VMAF_PROGRAMS = ("vmaf", "ffmpeg")
#: libvmaf's default model (named to the vmaf tool; FFmpeg's filter defaults to it)
VMAF_MODEL = "vmaf_v0.6.1"
VMAF_BITS = 10
#: the smallest side VMAF is computed for: its 4-scale VIF and ADM need it (measured with libvmaf 3.2.0:
#: identical images score under the model's top below 38 px, and the tool crashes at 16 px)
VMAF_MIN_SIDE = 41
_KR, _KB = 0.2126, 0.0722  # BT.709
#: full-range RGB → Y'CbCr, rows Y, Cb, Cr (Cb and Cr centred on 0)
_BT709 = np.array([[_KR, 1 - _KR - _KB, _KB],
                   [-_KR / (2 - 2 * _KB), -(1 - _KR - _KB) / (2 - 2 * _KB), 0.5],
                   [0.5, -(1 - _KR - _KB) / (2 - 2 * _KR), -_KB / (2 - 2 * _KR)]])


@functools.lru_cache(maxsize=1)
def vmaf_programs() -> tuple[str, ...]:
    """The programs of :data:`VMAF_PROGRAMS` that can compute VMAF here: ``vmaf`` when on the PATH, ``ffmpeg``
    when it has the ``libvmaf`` filter."""
    found = ["vmaf"] if shutil.which("vmaf") else []
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is not None:
        listed = subprocess.run([ffmpeg, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=60)
        found += ["ffmpeg"] if " libvmaf " in listed.stdout else []
    return tuple(found)


def vmaf_missing() -> str | None:
    """Why VMAF cannot be computed here, or None when one of :data:`VMAF_PROGRAMS` can."""
    if vmaf_programs():
        return None
    return ("needs Netflix's vmaf tool on the PATH (a libvmaf release's static binary, or built from source: "
            "docs/metrics.md) or ffmpeg built with libvmaf")


def vmaf_yuv(image: np.ndarray) -> np.ndarray:
    """The planes VMAF is given for a uint8 RGB or gray H×W×C image (uint16 3×H×W, 0–1023): full-range BT.709
    Y'CbCr 4:4:4 at 10 bits as JPEG AI's evaluation makes it, the RGB rounded to the 10-bit grid, converted,
    clipped and rounded (half to even); Cb and Cr are centred on 511.5. A gray image is converted as R = G = B."""
    top = (1 << VMAF_BITS) - 1
    rgb = np.round(image * (top / 255.0)) / top
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    ycbcr = rgb @ _BT709.T + (0.0, 0.5, 0.5)
    # planar and contiguous: numpy writes a strided array to a file element by element (20× slower)
    return np.ascontiguousarray(np.round(np.clip(ycbcr, 0.0, 1.0) * top).astype("<u2").transpose(2, 0, 1))


def _vmaf_command(program: str, ref: Path, dist: Path, log: Path, width: int, height: int) -> list[str]:
    if program == "vmaf":
        return ["vmaf", "-r", str(ref), "-d", str(dist), "-w", str(width), "-h", str(height), "-p", "444",
                "-b", str(VMAF_BITS), "-m", f"version={VMAF_MODEL}", "--json", "-o", str(log), "-q"]
    raw = ["-f", "rawvideo", "-pix_fmt", f"yuv444p{VMAF_BITS}le", "-s", f"{width}x{height}", "-i"]
    # distorted first; the filter's default model is VMAF_MODEL in every FFmpeg (4.x has no `model` option)
    graph = f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}"
    return ["ffmpeg", "-v", "error", "-nostdin", *raw, str(dist), *raw, str(ref), "-lavfi", graph, "-f", "null", "-"]


def vmaf(original: np.ndarray, decoded: np.ndarray, program: str | None = None) -> float | None:
    """VMAF (0–100, higher is better) of the decoded uint8 image against the original as one frame, by libvmaf's
    model :data:`VMAF_MODEL` on the planes of :func:`vmaf_yuv` (with no motion, identical images score about
    97.43, not 100). ``program``: one of :data:`VMAF_PROGRAMS`, by default the first found here. None if a side
    is below :data:`VMAF_MIN_SIDE`; CodecbenchError if the program is missing, fails or writes no score."""
    if program not in (None, *VMAF_PROGRAMS):
        raise OptionError(f"unknown VMAF program {program!r} (known: {', '.join(VMAF_PROGRAMS)})")
    if min(original.shape[:2]) < VMAF_MIN_SIDE:
        return None
    program = program or next(iter(vmaf_programs()), VMAF_PROGRAMS[0])
    height, width = original.shape[:2]
    with tempfile.TemporaryDirectory(prefix="codecbench-vmaf-") as folder:
        ref, dist, log = (Path(folder) / name for name in ("ref.yuv", "dist.yuv", "vmaf.json"))
        reference_side(original, "vmaf_yuv", vmaf_yuv).tofile(ref)
        vmaf_yuv(decoded).tofile(dist)
        _run(_vmaf_command(program, ref, dist, log, width, height))
        try:
            return float(json.loads(log.read_text())["frames"][0]["metrics"]["vmaf"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            raise CodecbenchError(f"{program} wrote no VMAF score to its log") from None
