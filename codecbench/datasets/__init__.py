"""Datasets: a registry of image sets, streamed one image at a time, with checksummed downloads.

Usage::

    ds = get_dataset("kodak:gray", max_images=4)   # DatasetError if absent (offline)
    for item in ds:                                  # DatasetItem(id, path, load)
        image = item.load()                          # uint8 H×W×3 (H×W×1 for :gray); ImageError if bad

Names, data root, order and ids, verification and downloads: docs/datasets.md.
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
