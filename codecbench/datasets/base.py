"""The dataset objects: :class:`Dataset` (a lazy, ordered list of images) and :class:`DatasetItem`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DatasetItem:
    """One image of a dataset, not yet loaded.

    ``id`` is stable across runs and machines (``"kodim01"``, ``"3096"``, ``"00042"``);
    ``path`` is the file the pixels come from (for a CIFAR-10 pickle, the pickle file;
    ``None`` where there is no file). The item holds no pixel data: ``load()`` reads
    and decodes the image each time it is called and returns a fresh uint8 array,
    H×W×3 (H×W×1 for a ``:gray`` view). It raises :class:`~codecbench.core.errors.ImageError`
    (with the file name and reason) for an unreadable, truncated or invalid image.
    """

    id: str
    path: Path | None
    load: Callable[[], np.ndarray] = field(repr=False, compare=False)

    @property
    def image(self) -> np.ndarray:
        """Shorthand for ``load()`` (loads again on every access)."""
        return self.load()


class Dataset:
    """An ordered, lazily loaded list of images.

    Iterating yields :class:`DatasetItem` objects in the dataset's documented
    order; each image is decoded only when its ``load()`` is called, so at most
    the images the caller keeps are in memory. ``len()`` is the number of items
    (after ``max_images``); ``total_images`` the number before that limit.
    """

    def __init__(
        self,
        name: str,
        description: str,
        refs: Sequence[tuple[str, str | Path | None, Any]],
        loader: Callable[[Any, bool], np.ndarray],
        *,
        gray: bool = False,
        root: Path | None = None,
        source: str = "",
        max_images: int | None = None,
    ) -> None:
        #: Full name as used in reports, e.g. ``"kodak:gray"`` or ``"folder:photos"``.
        self.name = name
        self.description = description
        #: Whether images are the H×W×1 BT.601 luma view.
        self.gray = gray
        #: The folder the images are read from (``None`` for ``embedded``).
        self.root = root
        #: What exactly is read (e.g. which CIFAR-10 source), for reports and logs.
        self.source = source
        self.max_images = max_images
        self.total_images = len(refs)
        self._refs = list(refs if max_images is None else refs[:max_images])
        self._loader = loader

    def __len__(self) -> int:
        return len(self._refs)

    def __iter__(self) -> Iterator[DatasetItem]:
        for i in range(len(self._refs)):
            yield self[i]

    def __getitem__(self, index: int) -> DatasetItem:
        item_id, path, key = self._refs[index]
        return DatasetItem(item_id, _as_path(path), functools.partial(self._loader, key, self.gray))

    def ids(self) -> list[str]:
        """The image ids in order, without loading any pixels."""
        return [ref[0] for ref in self._refs]

    def paths(self) -> list[Path | None]:
        """The source file of each image in order, without loading any pixels."""
        return [_as_path(ref[1]) for ref in self._refs]

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r}: {len(self)} images from {self.source or self.root}>"


def _as_path(path: str | Path | None) -> Path | None:
    return path if path is None or isinstance(path, Path) else Path(path)
