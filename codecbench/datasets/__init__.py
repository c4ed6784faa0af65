"""Datasets: a registry of image sets, streamed one image at a time, with checksummed downloads.

Usage::

    from codecbench.datasets import get_dataset

    ds = get_dataset("kodak:gray", max_images=4)   # DatasetError if absent (offline)
    for item in ds:                                  # DatasetItem(id, path, load)
        try:
            image = item.load()                      # uint8 H×W×3 (H×W×1 for :gray)
        except ImageError as exc:                    # a bad file: record it, go on
            ...

**Names** (:func:`available_datasets`): ``embedded`` (default; colour photographs
that scikit-image ships in its wheel, offline), ``kodak`` (24 PNG), ``bsd300``
(BSDS300 test split, 100 JPEG), ``cifar10`` (test split, 10,000 images 32×32),
``folder:PATH`` (every image file under PATH). Any name takes a ``:gray`` suffix:
images become H×W×1 BT.601 luma, by :func:`codecbench.core.images.load_image` with
``gray=True`` (files) or :func:`codecbench.core.images.to_gray` (arrays), so the same
file gives the same luma everywhere. ``Dataset.name`` is the full name
(``"kodak:gray"``, ``"folder:~/photos"``), the one reports use.

**Items and bad images.** Iterating a :class:`Dataset` yields
:class:`DatasetItem` ``(id, path, load)``. Items hold no pixels: ``load()``
decodes the image when called, each time, so iteration never holds more than
the images the caller keeps (10,000 CIFAR images or a folder of 6000×4000
photos stream in bounded memory). Listing never opens an image:
``ds.ids()``, ``ds.paths()``, ``len(ds)``. A file that cannot be decoded does
not stop iteration: its ``load()`` raises :class:`~codecbench.core.errors.ImageError`
naming the file and the reason, and the runner records that image as failed.
``item.image`` is shorthand for ``item.load()``. Loaders are module-level
functions, so items can be pickled to worker processes.

**Order and ids** (stable; ``max_images=N`` keeps the first N):
``embedded`` as listed in its description; ``kodak`` kodim01…kodim24 (ids
``kodim01``…); ``bsd300`` numeric id order (``3096``, ``8023``, …); ``cifar10``
official test-batch index (ids ``00000``…``09999``, the same in every source);
``folder:PATH`` recursive, hidden files and folders skipped, symlinked folders
not followed, natural order of the relative path (``img2`` before ``img10``),
id = relative path without suffix (with suffix where two files would collide).

**Data root**: ``root=`` argument, else ``$CODECBENCH_DATA``, else ``./datasets``
(relative paths against the working directory). Layout::

    kodak/kodim01.png … kodim24.png
    bsd300/test/<id>.jpg
    cifar10/cifar-10-batches-py/test_batch       official pickle (what a download installs)
    cifar10/test_png/<class>/<i>_<class>.png     image-folder export, ordered by <i>
    cifar10/test_batch_partial                   first 932 images, official pickle layout

CIFAR-10 uses the best source present, in that order (the partial pickle only
with a :class:`DatasetWarning`); a source that is present but fails its check
is an error, never silently replaced by a lesser one. Pickles are never
unpickled: the pixel block is located with :mod:`pickletools` and read by seek.

**Verification.** Kodak and BSDS300 files are checked against sha256 tables
embedded in the package; the CIFAR-10 pickle against the official md5
(torchvision's), the partial pickle against its sha256, and a PNG export by
structure (10 class folders, indices 0…9999 once each, class = official label)
plus the sha256 of all decoded pixels, so any lossless export passes. The
first full check writes a *verified marker* in ``$CODECBENCH_CACHE`` (default
``~/.cache/codecbench``)/verified/, keyed by the folder and the expected
checksums and recording every file's size, mtime, ctime and inode; later opens
only stat the files, and any change re-runs the full check. ``fetch`` and
``verify`` always check in full.

**Downloads** (``download=True``, :func:`fetch`, ``codecbench datasets fetch
NAME``) go through pooch from the official URLs: Kodak per file (sha256),
BSDS300-images.tgz (no confirmed archive hash is known, so each of the 100
extracted test images is sha256-checked), cifar-10-python.tar.gz (md5
``c58f30108f718f92721af3b95e74349a``, then the test_batch md5). A download is
written to a temporary file and moved into place only when complete and
matching (pooch); a mismatch deletes it and says so; an interrupted download
leaves nothing. Present files that verify are used without network; corrupt
ones are deleted (with a warning) before re-downloading. Archives are checked
member by member with tarfile's ``"data"`` filter before anything is extracted
(absolute paths, ``..``, links pointing outside: the archive is refused and
deleted); wanted regular files are extracted with ``filter="data"`` into a
temporary folder, checked, and only then renamed into place; the archive is
deleted after a successful install. Pythons without tarfile filters are refused.
``file://`` URLs work too (local mirrors).
"""

from codecbench.datasets._store import cache_dir, data_root
from codecbench.datasets.base import Dataset, DatasetItem
from codecbench.datasets.registry import (
    DEFAULT_DATASET,
    SOURCES,
    available_datasets,
    fetch,
    get_dataset,
    is_available,
    parse_name,
    register_dataset,
    verify,
)
from codecbench.datasets.sources import DatasetWarning

__all__ = [
    "DEFAULT_DATASET",
    "SOURCES",
    "Dataset",
    "DatasetItem",
    "DatasetWarning",
    "available_datasets",
    "cache_dir",
    "data_root",
    "fetch",
    "get_dataset",
    "is_available",
    "parse_name",
    "register_dataset",
    "verify",
]
