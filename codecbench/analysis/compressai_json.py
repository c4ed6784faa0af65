"""Interchange with CompressAI: export curves as its results JSON, import such files as references.

The format is CompressAI's ``results/image/<dataset>/*.json``::

    {"name": "JPEG", "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...]}}

one entry per rate point, each a dataset mean (MS-SSIM linear, times in
seconds per image); the older ``psnr``/``ms-ssim`` keys are read too. An
imported curve is a *reference* (never measured here, times never plotted);
an optional ``provenance`` object (:data:`PROVENANCE_KEYS`) is kept and
printed beside it. The manual: ``docs/compressai.md``, ``docs/reports.md``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

import codecbench
from codecbench.core.errors import ResultsError
from codecbench.core.images import MAX_PIXELS
from codecbench.core.names import file_part
from codecbench.core.results import Record, check_field, json_excerpt, output_errors, parse_json, validate_record
from codecbench.analysis.curves import AVERAGING, Curve, CurvePoint

_PSNR_KEYS = ("psnr-rgb", "psnr")
_MSSSIM_KEYS = ("ms-ssim-rgb", "ms-ssim")
#: The highest rate a reference point may state: 64 bpp is the raw size of 16-bit RGBA (8-bit RGB is 24 bpp), so
#: no codec's mean over a dataset of photographs comes near it; a larger value is a wrong unit or a hostile file.
MAX_REFERENCE_BPP = 64.0
#: Characters a curve name must not hold: they would break the report's tables and lines (controls, NUL, line breaks).
_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_NAME = 200
#: The parts of a reference curve's optional ``provenance`` object, in the order reports print them; the first
#: five are what a reproduction needs ("unknown: …" where the publisher did not say).
PROVENANCE_KEYS = ("source", "tool", "version", "configuration", "conversion", "rate", "dataset", "notes")
_MAX_PROVENANCE = 1000
#: The provenance parts a report names even when a file leaves them out.
REQUIRED_PROVENANCE = PROVENANCE_KEYS[:5]


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
    provenance = {"provenance": dict(curve.provenance)} if curve.provenance else {}
    return {"name": curve.label, "description": description, **provenance, "results": results}


def export_curves(curves: Iterable[Curve], out_dir: str | os.PathLike) -> list[Path]:
    """Write one CompressAI JSON per lossy, measured curve: ``out_dir/<dataset>/<label>.json``.

    A write error is an :class:`~codecbench.core.errors.OutputError` naming the file.
    """
    written = []
    for c in curves:
        if c.lossless or c.reference:
            continue
        path = Path(out_dir) / file_part(c.dataset, "._=+-", "curve") / f"{file_part(c.label, '._=+-', 'curve')}.json"
        tmp = path.with_name(path.name + ".tmp")
        with output_errors(path, "CompressAI curve"):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # the file is replaced whole or not at all, and no temporary is left behind
                tmp.write_text(json.dumps(curve_to_compressai(c), indent=2, allow_nan=False) + "\n", encoding="utf-8")
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        written.append(path)
    return written


def _numbers(path: Path, key: str, field: str, values: Any, n: int | None) -> list[float | None]:
    """The values of ``results[key]``, each as :func:`~codecbench.core.results.check_field` accepts for ``field``."""
    if not isinstance(values, list):
        raise ResultsError(f"{path}: results.{key} must be a list of numbers")
    if n is not None and len(values) != n:
        raise ResultsError(f"{path}: results.{key} has {len(values)} values, results.bpp has {n}")
    for i, v in enumerate(values):
        try:
            check_field(field, v)
        except ResultsError as exc:
            raise ResultsError(f"{path}: results.{key}[{i}]: {exc}") from None
    return [None if v is None else float(v) for v in values]


def _check_points(path: Path, points: list[CurvePoint]) -> None:
    """Raise :class:`ResultsError` naming the first of ``points`` that is no mean a real dataset can have.

    Each point goes through :func:`~codecbench.core.results.validate_record` as the record of the
    largest image codecbench reads (``MAX_PIXELS`` RGB pixels; a mean of per-image values lies within
    the ranges of its largest image): finite values, bpp > 0, PSNR in [0 dB, that image's ceiling,
    132.7 dB], MS-SSIM in [−1, 1], times ≥ 0; and bpp at most :data:`MAX_REFERENCE_BPP`.
    """
    for number, point in enumerate(points, 1):
        record = Record(codec=point.spec, spec=point.spec, setting=number, dataset="", image="", width=MAX_PIXELS,
                        height=1, bpp=point.bpp, psnr=point.psnr, ms_ssim=point.ms_ssim, enc_s=point.enc_s,
                        dec_s=point.dec_s)
        try:
            validate_record(record)
            if point.bpp > MAX_REFERENCE_BPP:
                raise ResultsError(f"field 'bpp' is {point.bpp:.6g}, above {MAX_REFERENCE_BPP:g} "
                                   "(16-bit RGBA uncompressed)")
        except ResultsError as exc:
            raise ResultsError(f"{path}: rate point {number}: {exc}") from None


def _curve_name(path: Path, name: Any) -> str:
    """The curve's name: ``name`` if it is a string a report can show, else a :class:`ResultsError`."""
    if not isinstance(name, str) or _BREAKING.search(name) or len(name) > _MAX_NAME:
        raise ResultsError(f"{path}: the curve name must be one line of at most {_MAX_NAME} characters "
                           f"without control characters, not {json_excerpt(name)}")
    return name


def _provenance(path: Path, block: Any) -> dict[str, str]:
    """The ``provenance`` object of a reference file, checked: names from :data:`PROVENANCE_KEYS`, each value one
    line of text (empty when the file has none)."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ResultsError(f"{path}: provenance must be an object of {', '.join(PROVENANCE_KEYS)}")
    for key, value in block.items():
        if key not in PROVENANCE_KEYS:
            raise ResultsError(f"{path}: provenance.{json_excerpt(key)} is not one of {', '.join(PROVENANCE_KEYS)}")
        if not isinstance(value, str) or _BREAKING.search(value) or len(value) > _MAX_PROVENANCE:
            raise ResultsError(f"{path}: provenance.{key} must be one line of at most {_MAX_PROVENANCE} characters, "
                               f"not {json_excerpt(value)}")
    return {key: block[key] for key in PROVENANCE_KEYS if key in block}


def _read_reference(path: Path) -> dict[str, Any]:
    """The JSON object of reference file ``path``, with its ``results.bpp``; ResultsError (one line) otherwise."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such reference file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: unreadable reference file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or "bpp" not in data["results"]:
        raise ResultsError(f'{path}: not a CompressAI results file (expected {{"name", "results": {{"bpp", ...}}}})')
    return data


def load_reference(path: str | os.PathLike, dataset: str = "", *, label: str | None = None) -> Curve:
    """Read a CompressAI-format results file as a reference curve for ``dataset`` (its ``provenance`` object, an
    addition of codecbench's, kept on the curve)."""
    path = Path(path)
    data = _read_reference(path)
    results = data["results"]
    bpp = _numbers(path, "bpp", "bpp", results["bpp"], None)
    if not bpp:
        raise ResultsError(f"{path}: results.bpp is empty")
    if any(b is None or b <= 0 for b in bpp):
        raise ResultsError(f"{path}: results.bpp must hold positive numbers")
    n = len(bpp)

    def pick(keys: tuple[str, ...], field: str) -> list[float | None]:
        for k in keys:
            if k in results:
                return _numbers(path, k, field, results[k], n)
        return [None] * n

    psnr = pick(_PSNR_KEYS, "psnr")
    msssim = pick(_MSSSIM_KEYS, "ms_ssim")
    if all(v is None for v in psnr) and all(v is None for v in msssim):
        raise ResultsError(f"{path}: no quality metric (expected one of {', '.join(_PSNR_KEYS + _MSSSIM_KEYS)})")
    enc = pick(("encoding_time",), "enc_s")
    dec = pick(("decoding_time",), "dec_s")
    name = _curve_name(path, label or data.get("name") or path.stem)
    points = [CurvePoint(setting=i, spec=f"{name}#{i}", n_ok=1, n_total=1, bpp=bpp[i], psnr=psnr[i],
                         ms_ssim=msssim[i], enc_s=enc[i], dec_s=dec[i]) for i in range(n)]
    _check_points(path, points)
    points.sort(key=lambda p: p.bpp)
    description = " ".join(_BREAKING.sub(" ", str(data.get("description") or "")).split())
    return Curve(
        codec=name,
        label=name,
        dataset=dataset,
        device="",
        points=points,
        reference=True,
        description=f"{description} (from {path.name})".strip(),
        provenance=_provenance(path, data.get("provenance")),
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
