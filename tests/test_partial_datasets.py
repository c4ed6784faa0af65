"""Partial datasets are never mistaken for complete ones (issue 6, "Downloads").

The other download bullets are covered in tests/test_datasets.py:

- checksum mismatch deletes the file and says so: ``test_download_checksum_mismatch_deletes``,
  ``test_corrupt_present_file_detected_and_replaced``;
- an interrupted download is never used: ``test_interrupted_download_leaves_nothing``,
  ``test_truncated_archive_refused``;
- archive members escaping the target (absolute, ``..``, symlink, hardlink): ``test_unsafe_archive_refused``;
- partial extraction (missing files, a killed extraction's temporary folder):
  ``test_partial_extraction_not_mistaken_for_complete``, ``test_archive_missing_member_installs_nothing``.

Added here: files that are present under their final names but incomplete (a copy or an
extraction killed mid-file, a file truncated after it was verified), an image-folder export
missing images, and an official pickle cut short, which must not be replaced silently by a
lesser source.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from codecbench.datasets import SOURCES, get_dataset, is_available
from codecbench.core.errors import DatasetError


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))


def png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 12, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def kodak3(monkeypatch, tmp_path):
    files = {f"kodim0{i}.png": png_bytes(i) for i in (1, 2, 3)}
    monkeypatch.setattr(SOURCES["kodak"], "files", {n: hashlib.sha256(d).hexdigest() for n, d in files.items()})
    folder = tmp_path / "data" / "kodak"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return tmp_path / "data", files


def test_file_cut_short_under_its_final_name_is_not_used(kodak3):
    root, files = kodak3
    (root / "kodak" / "kodim02.png").write_bytes(files["kodim02.png"][:40])  # a copy killed mid-file
    assert not is_available("kodak", root=root)
    with pytest.raises(DatasetError, match="1 corrupt.*kodim02.png"):
        get_dataset("kodak", root=root)


def test_file_truncated_after_verification_is_caught(kodak3):
    root, files = kodak3
    assert len(get_dataset("kodak", root=root)) == 3  # verified; the marker now spares re-hashing ...
    path = root / "kodak" / "kodim03.png"
    path.write_bytes(files["kodim03.png"][:-10])  # ... but not a changed file
    with pytest.raises(DatasetError, match="kodim03.png"):
        get_dataset("kodak", root=root)


def test_cifar_png_export_missing_images_is_an_error(monkeypatch, tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    src = SOURCES["cifar10"]
    monkeypatch.setattr(src, "labels", "380")
    monkeypatch.setattr(src, "pixels_sha256", hashlib.sha256(images.tobytes()).hexdigest())
    png = tmp_path / "cifar10" / "test_png"
    for i, cls in enumerate(("cat", "ship", "airplane")):
        (png / cls).mkdir(parents=True)
        Image.fromarray(images[i]).save(png / cls / f"{i}_{cls}.png")
    assert len(get_dataset("cifar10", root=tmp_path)) == 3
    (png / "ship" / "1_ship.png").unlink()  # an export (or its extraction) that stopped part way
    with pytest.raises(DatasetError):
        get_dataset("cifar10", root=tmp_path)


def test_cut_short_official_pickle_is_not_replaced_by_a_lesser_source(tmp_path):
    folder = tmp_path / "cifar10"
    (folder / "cifar-10-batches-py").mkdir(parents=True)
    (folder / "cifar-10-batches-py" / "test_batch").write_bytes(os.urandom(1000))  # a truncated copy
    shared = os.environ.get("CODECBENCH_DATA")
    partial = None
    if shared and os.path.isfile(os.path.join(shared, "cifar10", "test_batch_partial")):
        partial = os.path.join(shared, "cifar10", "test_batch_partial")
        os.symlink(partial, folder / "test_batch_partial")  # a valid lesser source beside it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match="test_batch"):
            get_dataset("cifar10", root=tmp_path)
