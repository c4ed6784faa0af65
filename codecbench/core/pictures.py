"""Viewer pictures: decoded images kept losslessly for the HTML report's comparison viewer, and their manifest.

A pictures folder holds one lossless file (WebP or PNG) per (dataset, image,
codec spec, device) and one per original image, all cropped alike, and
``pictures.json`` naming them with the bitstream each was decoded from (its
size and SHA-256). :mod:`codecbench.tools.pictures` makes them; the HTML
renderer embeds them. The manifest is replaced whole; a file it names must lie
inside the folder and hold a PNG or WebP image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from codecbench.core.errors import ResultsError
from codecbench.core.results import output_errors
from codecbench.core.names import file_part

MANIFEST = "pictures.json"
FORMAT = "codecbench-pictures"
#: file format -> (suffix, MIME type, Pillow save options): every one lossless for 8-bit RGB and gray
FORMATS = {
    "webp": (".webp", "image/webp", {"lossless": True, "quality": 75, "method": 4, "exact": True}),  # quality: effort
    "png": (".png", "image/png", {"optimize": True}),
}
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"RIFF": "image/webp"}


@dataclass(frozen=True)
class Picture:
    """One kept picture. ``spec`` None: the original image. ``crop`` (x, y, width, height) in the full image of
    ``width``×``height`` px; ``stream_bytes``/``stream_sha256``: the bitstream it was decoded from."""

    dataset: str
    image: str
    spec: str | None
    device: str
    file: str  # relative to the pictures folder, with "/"
    crop: tuple[int, int, int, int]
    width: int
    height: int
    stream_bytes: int | None = None
    stream_sha256: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        return (self.dataset, self.image, self.spec, self.device)


def centre_crop(height: int, width: int, size: int | None) -> tuple[int, int, int, int]:
    """The (x, y, w, h) of a centred ``size``×``size`` crop (clipped to the image); the whole image for None."""
    if size is None:
        return (0, 0, width, height)
    w, h = min(size, width), min(size, height)
    return ((width - w) // 2, (height - h) // 2, w, h)


def save_picture(folder: Path, picture: Picture, pixels: np.ndarray, fmt: str = "webp") -> Picture:
    """Write ``pixels`` (uint8 H×W×3 or H×W×1, the full image) cropped to ``picture.crop`` into ``folder`` as
    ``fmt``, losslessly; return ``picture`` with its file name. OutputError naming the file on a write error."""
    suffix, _, options = FORMATS[fmt]
    x, y, w, h = picture.crop
    part = np.ascontiguousarray(pixels[y:y + h, x:x + w])
    image = Image.fromarray(part[..., 0] if part.shape[-1] == 1 else part)
    name = "/".join([_slug(picture.dataset), _slug(picture.image), _slug(picture.spec or "original") + suffix])
    path = folder / name
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **options)
    _write_atomic(path, buffer.getvalue(), "picture")
    return replace(picture, file=name)


def write_manifest(folder: Path, pictures: Iterable[Picture]) -> Path:
    """Replace ``folder/pictures.json`` with ``pictures`` (sorted by key); OutputError on a write error."""
    rows = sorted(pictures, key=lambda p: (p.dataset, p.image, p.spec or "", p.device))
    text = json.dumps({"format": FORMAT, "version": 1, "pictures": [asdict(p) for p in rows]}, indent=1)
    path = folder / MANIFEST
    _write_atomic(path, (text + "\n").encode(), "pictures manifest")
    return path


def read_manifest(folder: Path) -> list[Picture]:
    """The pictures ``folder/pictures.json`` lists (none when it has no manifest).

    ResultsError (naming the manifest) for a file that is not such a manifest or a picture path that leaves the
    folder; files are not opened here (:func:`picture_data` checks each).
    """
    path = folder / MANIFEST
    if not path.is_file():
        return []
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        pictures = [_picture(row) for row in obj["pictures"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: unreadable pictures manifest: {exc}") from None
    return pictures


def merge(old: Sequence[Picture], new: Sequence[Picture]) -> list[Picture]:
    """``old`` with every picture of the same key replaced by the one in ``new``."""
    keys = {p.key for p in new}
    return [p for p in old if p.key not in keys] + list(new)


def picture_data(folder: Path, picture: Picture) -> tuple[str, bytes]:
    """(MIME type, file bytes) of ``picture``; ResultsError naming the file if it is absent or no PNG/WebP."""
    path = folder / picture.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"picture {path}: {exc.strerror or exc}") from None
    mime = next((m for magic, m in _MAGIC.items() if data.startswith(magic)), None)
    if mime is None or (mime == "image/webp" and data[8:12] != b"WEBP"):
        raise ResultsError(f"picture {path}: not a PNG or WebP file")
    return mime, data


def _picture(row: Any) -> Picture:
    """A manifest row as a :class:`Picture`; ValueError for a wrong field or a path out of the folder."""
    fields = {**row, "crop": tuple(row["crop"])}
    picture = Picture(**fields)
    parts = picture.file.split("/")
    if picture.file.startswith("/") or ".." in parts or "\\" in picture.file or not re.fullmatch(r"[\w./=+-]+",
                                                                                                  picture.file):
        raise ValueError(f"picture path {picture.file!r} leaves the folder")
    if len(picture.crop) != 4 or not all(isinstance(v, int) and v >= 0 for v in picture.crop):
        raise ValueError(f"bad crop {picture.crop!r}")
    return picture


def _slug(text: str) -> str:
    """A file-name part for ``text``: safe characters kept, others replaced, and a short digest when any were."""
    safe = file_part(text, ".=+-").strip("._") or "x"
    if safe == text:
        return safe
    return f"{safe[:80]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _write_atomic(path: Path, data: bytes, what: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with output_errors(path, what):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

