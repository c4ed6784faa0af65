"""Interchange with CompressAI: export curves as its results JSON, import such files as references.

CompressAI's results files (``results/image/<dataset>/*.json`` in its
repository, read by ``python -m compressai.utils.plot``) look like::

    {"name": "JPEG", "description": "JPEG. Pillow version 7.1.2",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...]}}

one list entry per rate point, each a dataset mean (``ms-ssim-rgb`` linear,
times in seconds per image). Older files name the metrics ``psnr`` and
``ms-ssim``; both spellings are read.

An imported curve is a *reference*: reports list it as "reference, not
measured here", plot it dashed and never plot its times.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

import codecbench
from codecbench.core.errors import ResultsError
from codecbench.analysis.curves import AVERAGING, Curve, CurvePoint

_PSNR_KEYS = ("psnr-rgb", "psnr")
_MSSSIM_KEYS = ("ms-ssim-rgb", "ms-ssim")


def curve_to_compressai(curve: Curve) -> dict[str, Any]:
    """A CompressAI-format dict of one curve's points (in bpp order).

    Points without a bpp are left out; a metric missing at a point is written
    as null, and a metric missing at every point (e.g. MS-SSIM on images
    under 161 px) is left out of ``results``.
    """
    points = [p for p in curve.points if p.bpp is not None]
    results: dict[str, list] = {
        "bpp": [p.bpp for p in points],
        "psnr-rgb": [p.psnr for p in points],
        "ms-ssim-rgb": [p.ms_ssim for p in points],
        "encoding_time": [p.enc_s for p in points],
        "decoding_time": [p.dec_s for p in points],
    }
    results = {k: v for k, v in results.items() if k == "bpp" or any(x is not None for x in v)}
    fixed = ",".join(f"{k}={v}" for k, v in sorted(curve.fixed.items()))
    settings = ", ".join(str(p.setting) for p in points)
    versions = ", ".join(f"{k} {v}" for k, v in sorted(curve.versions.items()))
    if curve.reference:
        description = curve.description
    else:
        description = (
            f"codecbench {codecbench.__version__}: {curve.codec}{' (' + fixed + ')' if fixed else ''} "
            f"on {curve.dataset} ({curve.n_images} images, {curve.device}); rate-knob settings {settings}. "
            f"{AVERAGING} Times: seconds per image, median of timed calls. Versions: {versions or 'n/a'}."
        )
    return {"name": curve.label, "description": description, "results": results}


def export_curves(curves: Iterable[Curve], out_dir: str | os.PathLike) -> list[Path]:
    """Write one CompressAI JSON per lossy, measured curve: ``out_dir/<dataset>/<label>.json``."""
    written = []
    for c in curves:
        if c.lossless or c.reference:
            continue
        path = Path(out_dir) / _slug(c.dataset) / f"{_slug(c.label)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:  # the file is replaced whole or not at all, and no temporary is left behind
            tmp.write_text(json.dumps(curve_to_compressai(c), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(path)
    return written


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "curve"


def _numbers(path: Path, key: str, values: Any, n: int | None) -> list[float | None]:
    if not isinstance(values, list):
        raise ResultsError(f"{path}: results.{key} must be a list of numbers")
    if n is not None and len(values) != n:
        raise ResultsError(f"{path}: results.{key} has {len(values)} values, results.bpp has {n}")
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
        else:
            raise ResultsError(f"{path}: results.{key} holds a non-number ({v!r})")
    return out


def load_reference(path: str | os.PathLike, dataset: str = "", *, label: str | None = None) -> Curve:
    """Read a CompressAI-format results file as a reference curve for ``dataset``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such reference file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: unreadable reference file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or "bpp" not in data["results"]:
        raise ResultsError(f'{path}: not a CompressAI results file (expected {{"name", "results": {{"bpp", ...}}}})')
    results = data["results"]
    bpp = _numbers(path, "bpp", results["bpp"], None)
    if not bpp:
        raise ResultsError(f"{path}: results.bpp is empty")
    if any(b is None or b <= 0 for b in bpp):
        raise ResultsError(f"{path}: results.bpp must hold positive numbers")
    n = len(bpp)

    def pick(keys: tuple[str, ...]) -> list[float | None]:
        for k in keys:
            if k in results:
                return _numbers(path, k, results[k], n)
        return [None] * n

    psnr = pick(_PSNR_KEYS)
    msssim = pick(_MSSSIM_KEYS)
    if all(v is None for v in psnr) and all(v is None for v in msssim):
        raise ResultsError(f"{path}: no quality metric (expected one of {', '.join(_PSNR_KEYS + _MSSSIM_KEYS)})")
    enc = pick(("encoding_time",))
    dec = pick(("decoding_time",))
    name = label or str(data.get("name") or path.stem)
    points = [
        CurvePoint(
            setting=i,
            spec=f"{name}#{i}",
            n_ok=1,
            n_total=1,
            bpp=bpp[i],
            psnr=psnr[i],
            ms_ssim=msssim[i],
            enc_s=enc[i],
            dec_s=dec[i],
        )
        for i in range(n)
    ]
    points.sort(key=lambda p: p.bpp)
    description = str(data.get("description") or "")
    return Curve(
        codec=name,
        label=name,
        dataset=dataset,
        device="",
        points=points,
        reference=True,
        description=f"{description} (from {path.name})".strip(),
    )


def parse_reference_arg(arg: str) -> tuple[str | None, Path]:
    """``[DATASET=]PATH`` → (dataset or None for every dataset, path)."""
    dataset, eq, rest = arg.partition("=")
    if eq and dataset and "/" not in dataset and os.sep not in dataset:
        return dataset, Path(rest)
    return None, Path(arg)


def references_for(args: Iterable[str], dataset: str) -> list[Curve]:
    """The reference curves that apply to ``dataset`` from ``--reference`` arguments."""
    out = []
    for arg in args:
        only, path = parse_reference_arg(arg)
        if only is None or only == dataset:
            out.append(load_reference(path, dataset))
    return out
