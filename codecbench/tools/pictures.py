"""Viewer pictures: real decodes of each lossy codec setting's bitstream for a few images, kept losslessly.

For each selected image the codec of a measured record encodes the image
again and decodes that bitstream; the decode (and the original) is cropped
alike and saved with :mod:`codecbench.core.pictures`. The bitstream's size is
checked against the record's: a picture whose stream differs (a codec that is
not deterministic, or another build) is kept and named in the summary, and the
viewer says so beside it.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from codecbench.analysis.curves import curves
from codecbench.core.codec import Codec, create_codec
from codecbench.core.errors import OptionError
from codecbench.core.pictures import FORMATS, Picture, centre_crop, merge, read_manifest, save_picture, write_manifest
from codecbench.core.results import Record
from codecbench.datasets import get_dataset

DEFAULT_IMAGES = 3
DEFAULT_CROP = 256
#: the rates the committed reports keep pictures at (``--near``)
REPORT_TARGETS = (0.25, 0.5, 1.0)


@dataclass(frozen=True)
class PictureOptions:
    """Which pictures to make: the first ``images`` images of each dataset (or the ids in ``image_ids``); every
    measured setting, or per curve the setting whose mean bpp is nearest each of ``targets``; a centred
    ``crop``×``crop`` part (None: the whole image); the file format (:data:`codecbench.core.pictures.FORMATS`)."""

    images: int = DEFAULT_IMAGES
    image_ids: Sequence[str] = ()
    targets: Sequence[float] | None = None
    crop: int | None = DEFAULT_CROP
    fmt: str = "webp"
    device: str = "cpu"

    def check(self) -> None:
        """OptionError (one line) for an image count < 1, a crop < 16 px, a target ≤ 0 or an unknown format."""
        if self.images < 1:
            raise OptionError(f"viewer images must be at least 1, got {self.images}")
        if self.crop is not None and self.crop < 16:
            raise OptionError(f"viewer crop must be at least 16 px (or 'full'), got {self.crop}")
        if self.targets is not None and not all(t > 0 and math.isfinite(t) for t in self.targets):
            raise OptionError(f"target rates must be positive bpp, got {', '.join(map(str, self.targets))}")
        if self.fmt not in FORMATS:
            raise OptionError(f"unknown picture format {self.fmt!r}; use one of {', '.join(FORMATS)}")


@dataclass
class PictureSummary:
    """What :func:`make_pictures` wrote: the pictures (originals included), their total size in bytes, the
    pictures whose bitstream size differs from the record's, and the pictures that could not be made, why."""

    folder: Path
    pictures: list[Picture] = field(default_factory=list)
    total_bytes: int = 0
    mismatched: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"pictures: {len(self.pictures)} in {self.folder} ({self.total_bytes / 1e6:.1f} MB)"
        if self.mismatched:
            text += f"; {len(self.mismatched)} re-encoded to a stream of another size than measured"
        if self.problems:
            text += f"; {len(self.problems)} not made (first: {self.problems[0]})"
        return text


def chosen_records(records: Sequence[Record], targets: Sequence[float] | None, device: str) -> list[Record]:
    """The successful lossy records of ``device`` that get pictures: every setting, or per curve (codec
    configuration) the settings whose dataset-mean bpp is nearest each target (on a log scale)."""
    ok = [r for r in records if r.ok and not r.lossless and r.device == device and r.bpp]
    if targets is None:
        return ok
    keep: set[tuple[str, str]] = set()
    for curve in curves(ok):
        points = [p for p in curve.points if p.bpp]
        for target in targets:
            if points:
                best = min(points, key=lambda p: abs(math.log(p.bpp / target)))
                keep.add((curve.dataset, best.spec))
    return [r for r in ok if (r.dataset, r.spec) in keep]


def make_pictures(records: Sequence[Record], folder: Path, options: PictureOptions = PictureOptions(), *,
                  progress: Callable[[str], None] | None = None, download: bool = False) -> PictureSummary:
    """Decode and keep the pictures ``options`` selects from ``records`` in ``folder`` (added to its manifest).

    A codec that fails on an image costs that picture (named in the summary); a dataset that is not present is a
    :class:`~codecbench.core.errors.DatasetError`, a write error an OutputError.
    """
    options.check()
    chosen = chosen_records(records, options.targets, options.device)
    absent = sorted(set(options.image_ids) - {r.image for r in chosen})
    if absent:
        raise OptionError(f"no measured lossy record of image(s) {', '.join(absent)} on {options.device}")
    summary = PictureSummary(folder)
    by_dataset: dict[str, list[Record]] = defaultdict(list)
    for r in chosen:
        by_dataset[r.dataset].append(r)
    for name, group in sorted(by_dataset.items()):
        originals = _originals(name, {r.image for r in group}, options, download)
        crops = {image: centre_crop(*pixels.shape[:2], options.crop) for image, pixels in originals.items()}
        for image, pixels in originals.items():
            h, w = pixels.shape[:2]
            blank = Picture(name, image, None, options.device, "", crops[image], w, h)
            summary.pictures.append(save_picture(folder, blank, pixels, options.fmt))
        by_spec: dict[str, list[Record]] = defaultdict(list)
        for r in group:
            if r.image in originals:
                by_spec[r.spec].append(r)
        for spec, spec_records in sorted(by_spec.items()):
            if progress is not None:
                progress(f"{name}: {spec}")
            _decode_spec(spec, spec_records, originals, crops, folder, options, summary)
    write_manifest(folder, merge(read_manifest(folder), summary.pictures))
    summary.total_bytes = sum((folder / p.file).stat().st_size for p in summary.pictures)
    return summary


def _originals(dataset: str, measured: set[str], options: PictureOptions, download: bool) -> dict:
    """image id -> pixels of the images that get pictures, in the dataset's order."""
    items = [item for item in get_dataset(dataset, download=download) if item.id in measured]
    if options.image_ids:
        items = [item for item in items if item.id in set(options.image_ids)]
    else:
        items = items[:options.images]
    return {item.id: item.load() for item in items}


def _decode_spec(spec: str, records: Sequence[Record], originals: dict, crops: dict, folder: Path,
                 options: PictureOptions, summary: PictureSummary) -> None:
    """Encode and decode each record's image with ``spec``'s codec, given the threads the record was measured
    with (AVIF's bytes depend on them), and keep the decode (problems noted)."""
    codecs: dict[int, Codec] = {}
    for r in records:
        if r.threads not in codecs:
            try:
                codecs[r.threads] = create_codec(spec, device=options.device, threads=r.threads)
            except Exception as exc:  # a codec that cannot be built costs its pictures, not the others
                summary.problems.append(f"{spec}: {type(exc).__name__}: {exc}")
                return
        codec = codecs[r.threads]
        pixels = originals[r.image]
        try:
            stream = codec.encode(pixels.copy())
            decoded = codec.decode(stream)
        except Exception as exc:  # the codec's own failure on one image
            summary.problems.append(f"{spec} on {r.image}: {type(exc).__name__}: {exc}")
            continue
        if decoded.shape != pixels.shape:
            summary.problems.append(f"{spec} on {r.image}: decoded {decoded.shape}, expected {pixels.shape}")
            continue
        if len(stream) != r.bytes:
            summary.mismatched.append(f"{spec} on {r.image}: {len(stream)} bytes, measured {r.bytes}")
        h, w = pixels.shape[:2]
        blank = Picture(r.dataset, r.image, spec, options.device, "", crops[r.image], w, h, len(stream),
                        hashlib.sha256(stream).hexdigest())
        summary.pictures.append(save_picture(folder, blank, decoded, options.fmt))
