"""The CIFAR-10 test split as a dataset source: the official pickle, a PNG export or the partial pickle."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import numpy as np

from codecbench.datasets import _checksums as sums
from codecbench.datasets import _store as store
from codecbench.datasets._archive import fetch_archive
from codecbench.datasets.cifar import read_batch, read_row
from codecbench.datasets.sources import DatasetWarning, Source, load_file
from codecbench.core.errors import DatasetError, ImageError
from codecbench.core.images import load_image, to_gray


def load_cifar_row(key: tuple[Path, int, int], gray: bool) -> np.ndarray:
    path, offset, index = key
    image = read_row(path, offset, index)
    return to_gray(image) if gray else image


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
