"""The datasets codecbench knows: where their files are, how they are checked, fetched and listed."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.datasets import _checksums as sums
from codecbench.datasets import _store as store
from codecbench.datasets._archive import fetch_archive
from codecbench.datasets.cifar import read_batch, read_row
from codecbench.core.errors import DatasetError, ImageError
from codecbench.core.images import is_image_file, load_image, to_gray

Refs = list[tuple[str, "Path | None", Any]]


class DatasetWarning(UserWarning):
    """A dataset is usable but not the complete set (e.g. CIFAR-10's 932-image partial pickle)."""


# ----------------------------------------------------------------------------- loaders (module level: picklable)


def load_file(path: Path, gray: bool) -> np.ndarray:
    """Load an image file by codecbench's conversion rules (:func:`codecbench.core.images.load_image`)."""
    return load_image(path, gray=gray)


def load_cifar_row(key: tuple[Path, int, int], gray: bool) -> np.ndarray:
    path, offset, index = key
    image = read_row(path, offset, index)
    return to_gray(image) if gray else image


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


# ----------------------------------------------------------------------------- CIFAR-10


class Cifar10(Source):
    """CIFAR-10 test split, from the best source present under ``<root>/cifar10/``.

    In order of preference: the official pickle ``cifar-10-batches-py/test_batch``
    (md5-checked), the image-folder export ``test_png/<class>/<i>_<class>.png``
    (structure, labels and decoded pixels checked), then ``test_batch_partial``
    (first 932 images, sha256-checked; used with a :class:`DatasetWarning`). A
    source that is present but fails its check is an error, never skipped for a
    lesser one.
    """

    key = "cifar10"
    description = "CIFAR-10 test split: 10,000 images, 32×32 (download, md5-checked; or a PNG export)"
    downloadable = True
    urls = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
    archive_name = "cifar-10-python.tar.gz"
    archive_hash: str | None = f"md5:{sums.CIFAR10_ARCHIVE_MD5}"
    archive_max_bytes = 256 << 20  # uncompressed: six pickles of 31 MB each, with room
    pickle_rel = "cifar-10-batches-py/test_batch"
    pickle_hash = f"md5:{sums.CIFAR10_TEST_BATCH_MD5}"
    meta_rel = "cifar-10-batches-py/batches.meta"
    meta_hash = f"md5:{sums.CIFAR10_META_MD5}"
    partial_rel = "test_batch_partial"
    partial_hash = f"sha256:{sums.CIFAR10_PARTIAL_SHA256}"
    png_rel = "test_png"
    classes = sums.CIFAR10_CLASSES
    labels = "".join(sums.CIFAR10_TEST_LABELS)
    pixels_sha256 = sums.CIFAR10_TEST_PIXELS_SHA256

    # --- which source

    def variant(self, root: Path) -> str | None:
        """``"official"``, ``"png"``, ``"partial"`` (the best one present, checked or not), or ``None``."""
        folder = self.folder(root)
        if (folder / self.pickle_rel).exists():
            return "official"
        if (folder / self.png_rel).is_dir():
            return "png"
        if (folder / self.partial_rel).exists():
            return "partial"
        return None

    def variant_problems(self, root: Path, variant: str, *, force: bool = False) -> list[store.Problem]:
        folder = self.folder(root)
        if variant in ("official", "partial"):
            rel, expected = (
                (self.pickle_rel, self.pickle_hash) if variant == "official" else (self.partial_rel, self.partial_hash)
            )
            table = {rel: expected}
            return store.verified(
                folder, [folder / rel], store.table_id(f"cifar10-{variant}", table),
                lambda: store.check_table(folder, table), force=force,
            )
        if variant == "png":
            files, problems = self._png_files(folder / self.png_rel)
            if problems:
                return problems
            ordered = [files[i] for i in range(len(self.labels))]
            return store.verified(
                folder / self.png_rel, ordered, store.table_id("cifar10-png", self.pixels_sha256 + self.labels),
                lambda: self._check_png_pixels(folder / self.png_rel, ordered), force=force,
            )
        raise ValueError(variant)

    def problems(self, root: Path, *, force: bool = False) -> list[store.Problem]:
        variant = self.variant(root)
        if variant is None:
            return [store.Problem(f"{self.pickle_rel} (or {self.png_rel}/, or {self.partial_rel})", "missing")]
        return self.variant_problems(root, variant, force=force)

    # --- the PNG export

    _PNG_NAME = re.compile(r"(\d+)_([a-z]+)\.png")

    def _png_files(self, png_root: Path) -> tuple[dict[int, str], list[store.Problem]]:
        """Map index -> file of a ``<class>/<i>_<class>.png`` export, with every structural problem found.

        The scan is memoized while the folder and its class folders keep their mtimes
        (which change whenever an entry is added, removed or renamed).
        """
        try:
            dirs = sorted(os.scandir(png_root), key=lambda e: e.name)
            memo_key = (str(png_root), tuple((d.name, d.stat().st_mtime_ns) for d in dirs), png_root.stat().st_mtime_ns)
        except OSError as exc:
            return {}, [store.Problem(self.png_rel, "invalid", f"unreadable: {exc}")]
        if getattr(self, "_png_memo", (None,))[0] == memo_key:
            return self._png_memo[1]
        files: dict[int, str] = {}
        problems: list[store.Problem] = []
        n = len(self.labels)
        for class_dir in dirs:
            if class_dir.name.startswith("."):
                continue
            rel_dir = f"{self.png_rel}/{class_dir.name}"
            if not class_dir.is_dir() or class_dir.name not in self.classes:
                problems.append(store.Problem(rel_dir, "invalid", "not one of the 10 class folders"))
                continue
            for entry in os.scandir(class_dir.path):
                if entry.name.startswith("."):
                    continue
                rel = f"{rel_dir}/{entry.name}"
                m = self._PNG_NAME.fullmatch(entry.name)
                if not m or m.group(2) != class_dir.name:
                    problems.append(store.Problem(rel, "invalid", "name is not <index>_<class>.png of its folder"))
                    continue
                index = int(m.group(1))
                if index >= n or index in files:
                    problems.append(store.Problem(rel, "invalid", "index out of range or duplicated"))
                    continue
                expected = self.classes[int(self.labels[index])]
                if expected != class_dir.name:
                    problems.append(store.Problem(rel, "invalid", f"image {index} is a {expected}, not a {class_dir.name}"))
                    continue
                files[index] = entry.path
        for i in range(n):
            if i not in files:
                cls = self.classes[int(self.labels[i])]
                problems.append(store.Problem(f"{self.png_rel}/{cls}/{i}_{cls}.png", "missing"))
        self._png_memo = (memo_key, (files, problems))
        return files, problems

    def _check_png_pixels(self, png_root: Path, ordered: list[str]) -> list[store.Problem]:
        h = hashlib.sha256()
        for path in ordered:
            rel = os.path.relpath(path, png_root.parent)
            try:
                image = load_image(path)
            except ImageError as exc:
                return [store.Problem(rel, "corrupt", str(exc))]
            if image.shape != (32, 32, 3):
                return [store.Problem(rel, "invalid", f"shape {image.shape}, not 32×32×3")]
            h.update(image.tobytes())
        got = h.hexdigest()
        if got != self.pixels_sha256:
            return [
                store.Problem(
                    self.png_rel, "corrupt",
                    f"the decoded pixels of the {len(ordered)} images differ from the official test set "
                    f"(sha256 of all pixels: expected {self.pixels_sha256}, got {got})",
                )
            ]
        return []

    # --- fetch and list

    def fetch(self, root: Path, *, force: bool = False) -> None:
        """Make a complete source present: keep a verified official pickle or PNG export, else download."""
        folder = self.folder(root)
        variant = self.variant(root)
        if variant in ("official", "png"):
            problems = self.variant_problems(root, variant, force=force)
            if not problems:
                return
            if variant == "png":
                raise DatasetError(
                    f"cifar10: the PNG export in {folder / self.png_rel} fails its check: "
                    f"{store.summarize(problems)}; fix or remove it, then fetch again"
                )
            store.remove_corrupt(folder, problems)
        fetch_archive(
            urls=self.urls,
            archive=folder / self.archive_name,
            archive_hash=self.archive_hash,
            folder=folder,
            members={self.pickle_rel: self.pickle_rel, self.meta_rel: self.meta_rel},
            table={self.pickle_rel: self.pickle_hash, self.meta_rel: self.meta_hash},
            max_bytes=self.archive_max_bytes,
        )

    def refs(self, root: Path, variant: str | None = None):
        folder = self.folder(root)
        variant = variant or self.variant(root)
        if variant == "png":
            files, problems = self._png_files(folder / self.png_rel)
            if problems:
                raise DatasetError(f"cifar10: {folder / self.png_rel}: {store.summarize(problems)}")
            refs = [(f"{i:05d}", files[i], files[i]) for i in range(len(files))]
            return refs, load_file, f"PNG export {folder / self.png_rel} ({len(refs)} images)"
        if variant in ("official", "partial"):
            path = folder / (self.pickle_rel if variant == "official" else self.partial_rel)
            batch = read_batch(path)
            refs = [(f"{i:05d}", path, (path, batch.offset, i)) for i in range(batch.count)]
            what = "official pickle" if variant == "official" else "partial pickle (first 932 of 10,000 images)"
            if variant == "partial":
                warnings.warn(
                    f"cifar10: only the first {batch.count} of 10,000 test images are available ({path}); "
                    "numbers are not comparable with full-test-set results. "
                    "Fetch the complete set with `codecbench datasets fetch cifar10`.",
                    DatasetWarning,
                    stacklevel=3,
                )
            return refs, load_cifar_row, f"{what} {path}"
        raise DatasetError(f"cifar10: no source in {folder}")

    def how_to_get(self, root: Path) -> str:
        folder = self.folder(root)
        return (
            f"put the official {self.pickle_rel} (from {self.urls[0]}) in {folder}, "
            f"or an image-folder export as {folder / self.png_rel}/<class>/<index>_<class>.png"
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
