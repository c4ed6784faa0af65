"""The dataset registry (:data:`SOURCES`): names -> :class:`Dataset` objects, availability, fetching.

Third-party packages add datasets through the entry-point group ``codecbench.datasets`` (each entry point names a
:class:`~codecbench.datasets.sources.Source` instance, a sequence of them, or a module that registers them).
"""

from __future__ import annotations

import os
from pathlib import Path

from codecbench.datasets import _store as store
from codecbench.datasets import cifar_source, sources
from codecbench.datasets.base import Dataset
from codecbench.core.errors import DatasetError
from codecbench.core.images import IMAGE_SUFFIXES
from codecbench.core.registry import Registry

GRAY_SUFFIX = ":gray"
_GRAY_NOTE = f" (append '{GRAY_SUFFIX}' for the grayscale view)"
FOLDER_PREFIX = "folder:"

ENTRY_POINT_GROUP = "codecbench.datasets"

#: The named datasets, in the order ``available_datasets`` lists them: the built-in ones, then the plug-ins'.
SOURCES: Registry[sources.Source] = Registry("dataset", sources.Source, instances=True, group=ENTRY_POINT_GROUP,
                                             key=lambda source: source.key, error=DatasetError)
#: registers a :class:`~codecbench.datasets.sources.Source` instance under its ``key`` (and returns it)
register_dataset = SOURCES.register

for _source in (sources.Embedded(), sources.Kodak(), sources.Bsd300()):
    register_dataset(_source, module=sources.__name__)
register_dataset(cifar_source.Cifar10(), module=cifar_source.__name__)

DEFAULT_DATASET = "embedded"


def available_datasets() -> dict[str, str]:
    """Dataset name -> one-line description (``folder:PATH`` included; any name takes ``:gray``)."""
    names = {key: src.description for key, src in SOURCES.items()}
    names["folder:PATH"] = (
        "every image file under PATH, recursively, in natural path order (img2 before img10); local only"
    )
    return names


def _known() -> str:
    return ", ".join([*SOURCES, "folder:PATH"]) + _GRAY_NOTE


def parse_name(name: str) -> tuple[str, bool]:
    """Split ``"kodak:gray"`` into ``("kodak", True)``; raises :class:`DatasetError` for unknown names."""
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"empty dataset name; known datasets: {_known()}")
    base, gray = name.strip(), False
    if base.endswith(GRAY_SUFFIX):
        base, gray = base[: -len(GRAY_SUFFIX)], True
    if base.startswith(FOLDER_PREFIX):
        if not base[len(FOLDER_PREFIX):]:
            raise DatasetError("folder: needs a path, e.g. folder:~/photos")
        return base, gray
    if base not in SOURCES:
        raise SOURCES.unknown(name, also=["folder:PATH"], note=_GRAY_NOTE)
    return base, gray


def _missing_message(src: sources.Source, root: Path, problems) -> str:
    lines = f"dataset {src.key!r} is not usable from {src.folder(root)}: {store.summarize(problems)}. "
    if any(p.kind == "missing" for p in problems) and not any(p.kind != "missing" for p in problems):
        lines += f"To use it offline, {src.how_to_get(root)}, or set CODECBENCH_DATA to a folder that has it"
    else:
        lines += "Replace the bad files (or delete them)"
    if src.downloadable:
        lines += f"; or download it: get_dataset({src.key!r}, download=True) / `codecbench datasets fetch {src.key}`"
    return lines + "."


def _check_max_images(max_images: int | None) -> None:
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1):
        raise DatasetError(f"max_images must be a positive integer or None, not {max_images!r}")


def get_dataset(
    name: str = DEFAULT_DATASET,
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    max_images: int | None = None,
) -> Dataset:
    """The dataset called ``name`` (``"kodak"``, ``"bsd300:gray"``, ``"folder:~/photos"``, …).

    ``root`` defaults to :func:`data_root` (``$CODECBENCH_DATA`` or ``./datasets``).
    With ``download=True`` missing or corrupt files are downloaded (checksummed);
    otherwise a dataset that is not present and verified raises one
    :class:`DatasetError` saying which files are missing and where to put them.
    ``max_images`` keeps the first N images of the dataset's order.
    """
    _check_max_images(max_images)
    base, gray = parse_name(name)
    full_name = base + (GRAY_SUFFIX if gray else "")
    if base.startswith(FOLDER_PREFIX):
        return _folder_dataset(base[len(FOLDER_PREFIX):], full_name, gray, max_images)
    src = SOURCES[base]
    data = store.data_root(root)
    if download and src.downloadable:
        src.fetch(data)
    problems = src.problems(data)
    if problems:
        raise DatasetError(_missing_message(src, data, problems))
    refs, loader, what = src.refs(data)
    folder = None if base == "embedded" else src.folder(data)
    return Dataset(
        full_name,
        src.description + (" — grayscale view (H×W×1, BT.601 luma)" if gray else ""),
        refs,
        loader,
        gray=gray,
        root=folder,
        source=what,
        max_images=max_images,
    )


def _folder_dataset(path_text: str, full_name: str, gray: bool, max_images: int | None) -> Dataset:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise DatasetError(f"{full_name}: folder {path} does not exist")
    if not path.is_dir():
        raise DatasetError(f"{full_name}: {path} is not a folder")
    refs = sources.folder_refs(path)
    if not refs:
        raise DatasetError(f"{full_name}: no image files ({', '.join(IMAGE_SUFFIXES)}) in {path} or its subfolders")
    return Dataset(
        full_name,
        f"images under {path}" + (" — grayscale view (H×W×1, BT.601 luma)" if gray else ""),
        refs,
        sources.load_file,
        gray=gray,
        root=path.absolute(),
        source=f"{len(refs)} image files under {path.absolute()}",
        max_images=max_images,
    )


def fetch(name: str, root: str | os.PathLike | None = None) -> Dataset:
    """Make dataset ``name`` present and verified under the data root; return it (``.root`` is its folder).

    Every file is checked in full (the verified marker is ignored and rewritten);
    only what is missing or corrupt is downloaded, so a complete dataset needs no
    network. ``embedded`` and ``folder:`` need nothing and are only checked.
    Raises :class:`DatasetError` (download failed, checksum mismatch, unsafe archive).
    """
    base, _ = parse_name(name)
    if not base.startswith(FOLDER_PREFIX):
        src = SOURCES[base]
        data = store.data_root(root)
        if src.downloadable:
            src.fetch(data, force=True)
        problems = src.problems(data)
        if problems:
            raise DatasetError(_missing_message(src, data, problems))
    return get_dataset(name, root=root)


def verify(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """Check every file of dataset ``name`` in full, never downloading; the problems found ([] = fine)."""
    base, _ = parse_name(name)
    if base.startswith(FOLDER_PREFIX):
        get_dataset(base)
        return []
    return [str(p) for p in SOURCES[base].problems(store.data_root(root), force=True)]


def is_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``get_dataset(name, root=root)`` would succeed without network (uses the verified markers)."""
    try:
        base, _ = parse_name(name)
        if base.startswith(FOLDER_PREFIX):
            get_dataset(base)
            return True
        return not SOURCES[base].problems(store.data_root(root))
    except DatasetError:
        return False
