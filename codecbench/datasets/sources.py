"""The datasets codecbench knows: where their files are, how they are checked, fetched and listed."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.datasets import _checksums as sums
from codecbench.datasets import _store as store
from codecbench.datasets._archive import fetch_archive
from codecbench.core.errors import DatasetError
from codecbench.core.images import is_image_file, load_image

Refs = list[tuple[str, "Path | None", Any]]


class DatasetWarning(UserWarning):
    """A dataset is usable but not the complete set (e.g. CIFAR-10's 932-image partial pickle)."""


# ----------------------------------------------------------------------------- loaders (module level: picklable)


def load_file(path: Path, gray: bool) -> np.ndarray:
    """Load an image file by codecbench's conversion rules (:func:`codecbench.core.images.load_image`)."""
    return load_image(path, gray=gray)


# ----------------------------------------------------------------------------- base


class Source:
    """A named dataset. Subclasses say how to check, fetch and list it."""

    key: str = ""
    description: str = ""
    #: Whether ``fetch`` can download it.
    downloadable: bool = False

    def folder(self, root: Path) -> Path:
        return root / self.key

    def problems(self, root: Path, *, force: bool = False) -> list[store.Problem]:
        """Why the dataset is not usable from ``root`` ([] when it is)."""
        return []

    def fetch(self, root: Path, *, force: bool = False) -> None:
        """Download whatever is missing or corrupt (no network when all is present and verified)."""

    def refs(self, root: Path) -> tuple[Refs, Callable[[Any, bool], np.ndarray], str]:
        """(id, path, loader key) per image in order, the loader, and a description of what is read."""
        raise NotImplementedError

    def how_to_get(self, root: Path) -> str:
        return ""


class TableSource(Source):
    """A dataset that is a fixed list of files with known sha256 (Kodak, BSDS300)."""

    downloadable = True
    files: dict[str, str] = {}  # relpath -> sha256

    def table(self) -> dict[str, str]:
        return {rel: f"sha256:{h}" for rel, h in self.files.items()}

    def problems(self, root: Path, *, force: bool = False) -> list[store.Problem]:
        folder = self.folder(root)
        table = self.table()
        return store.verified(
            folder,
            [folder / rel for rel in table],
            store.table_id(self.key, table),
            lambda: store.check_table(folder, table),
            force=force,
        )

    def refs(self, root: Path):
        folder = self.folder(root)
        refs = [(Path(rel).stem, folder / rel, folder / rel) for rel in self.files]
        return refs, load_file, f"{len(refs)} files in {folder}"


class Kodak(TableSource):
    key = "kodak"
    description = "Kodak Lossless True Color Image Suite: 24 PNG, 768×512 or 512×768 (download, sha256-checked)"
    files = sums.KODAK_SHA256
    #: ``{name}`` is the file name (kodim01.png …).
    urls = ("http://r0k.us/graphics/kodak/kodak/{name}",)

    def fetch(self, root: Path, *, force: bool = False) -> None:
        folder = self.folder(root)
        problems = self.problems(root, force=force)
        store.remove_corrupt(folder, problems)
        failures = []
        for p in problems:  # try every file, then report all failures at once
            try:
                store.download(
                    [u.format(name=p.name) for u in self.urls], folder / p.name, f"sha256:{self.files[p.name]}"
                )
            except DatasetError as exc:
                failures.append(str(exc))
        if failures:
            raise DatasetError(f"kodak: {len(failures)} of {len(problems)} downloads failed: " + "; ".join(failures))

    def how_to_get(self, root: Path) -> str:
        return f"put kodim01.png … kodim24.png (from {self.urls[0].format(name='')}) in {self.folder(root)}"


class Bsd300(TableSource):
    key = "bsd300"
    description = "BSDS300 test split: 100 JPEG, 481×321 or 321×481 (download, sha256-checked per image)"
    files = sums.BSD300_SHA256  # "test/<id>.jpg", numeric id order
    urls = (
        "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/BSDS300-images.tgz",
        "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/segbench/BSDS300-images.tgz",
    )
    archive_name = "BSDS300-images.tgz"
    #: No independently confirmed archive hash is known: each image is checked before it is written, and the
    #: archive read to 64 MiB uncompressed at most (its 300 JPEGs: 22 MB says Berkeley; the 100 test ones 7.7 MB).
    archive_hash: str | None = None
    archive_max_bytes = 64 << 20
    member_prefix = "BSDS300/images/"

    def fetch(self, root: Path, *, force: bool = False) -> None:
        folder = self.folder(root)
        problems = self.problems(root, force=force)
        if not problems:
            return
        store.remove_corrupt(folder, problems)
        fetch_archive(
            urls=self.urls,
            archive=folder / self.archive_name,
            archive_hash=self.archive_hash,
            folder=folder,
            members={self.member_prefix + rel: rel for rel in self.files},
            table=self.table(),
            max_bytes=self.archive_max_bytes,
        )

    def how_to_get(self, root: Path) -> str:
        return (
            f"put the 100 test JPEGs of {self.archive_name} ({self.urls[0]}; "
            f"BSDS300/images/test/*.jpg) in {self.folder(root) / 'test'}"
        )


# ----------------------------------------------------------------------------- embedded and folders


class Embedded(Source):
    """Colour photographs that scikit-image ships inside its wheel (no network, no pooch)."""

    key = "embedded"
    #: (id, file name in skimage/data/), in dataset order.
    images = (
        ("astronaut", "astronaut.png"),
        ("chelsea", "chelsea.png"),
        ("coffee", "coffee.png"),
        ("immunohistochemistry", "ihc.png"),
        ("motorcycle_left", "motorcycle_left.png"),
        ("rocket", "rocket.jpg"),
    )
    description = (
        "6 colour photographs shipped in scikit-image's wheel "
        "(astronaut, chelsea, coffee, immunohistochemistry, motorcycle_left, rocket); offline"
    )

    @staticmethod
    def data_dir() -> Path:
        spec = importlib.util.find_spec("skimage")
        if spec is None or not spec.submodule_search_locations:
            raise DatasetError("embedded: scikit-image is not installed (pip install scikit-image)")
        return Path(list(spec.submodule_search_locations)[0]) / "data"

    def problems(self, root: Path, *, force: bool = False) -> list[store.Problem]:
        data = self.data_dir()
        return [store.Problem(str(data / f), "missing") for _, f in self.images if not (data / f).is_file()]

    def refs(self, root: Path):
        data = self.data_dir()
        refs = [(i, data / f, data / f) for i, f in self.images]
        return refs, load_file, f"scikit-image data folder {data}"

    def how_to_get(self, root: Path) -> str:
        return "these files ship in scikit-image's wheel: reinstall scikit-image (pip install --force-reinstall scikit-image)"


def natural_key(text: str) -> tuple:
    """Sort key comparing runs of ASCII digits as numbers: img2 < img10 (other digits, ``²``, are text)."""
    return ([int(t) if i % 2 else t for i, t in enumerate(re.split(r"([0-9]+)", text))], text)


def folder_refs(path: Path) -> Refs:
    """Image files under ``path``, recursively, in natural order of their relative path.

    Hidden files and folders (names starting with ``.``) are skipped, symlinked
    folders are not followed, and only regular files (or links to them) are
    listed: a FIFO or device named ``x.png`` is not an image. An image's id is its relative path without the
    suffix (``sub/img01``), or with it where two files would share an id.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = Path(dirpath) / name
            if not name.startswith(".") and is_image_file(p) and p.is_file():  # no FIFOs or devices
                found.append(p.relative_to(path).as_posix())
    found.sort(key=natural_key)
    stems = [rel.rsplit(".", 1)[0] for rel in found]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    return [(stem if counts[stem] == 1 else rel, path / rel, path / rel) for stem, rel in zip(stems, found)]
