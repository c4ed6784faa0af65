"""Reading the official CIFAR-10 python pickle layout without unpickling it.

The official ``cifar-10-batches-py/test_batch`` is a protocol-2 pickle of a dict
``{batch_label, labels, data, filenames}`` where ``data`` is a uint8 array of
shape (N, 3072), each row one 32×32 image stored as 1024 red, 1024 green, then
1024 blue values. :func:`read_batch` walks the pickle's opcodes with
:mod:`pickletools` (which executes nothing) to find the labels and the byte
offset of the pixel block; :func:`read_row` then reads one image with a seek.
So no pickle is ever executed, and only one image is in memory at a time.
Protocol-3+ pickles with the same dict layout (``BINBYTES`` pixel data) are read too.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecbench.core.errors import DatasetError, ImageError

ROW_BYTES = 3 * 32 * 32

# Opcodes that carry a raw byte string, with the size of their length prefix.
_PAYLOAD_OPS = {"BINSTRING": 4, "BINBYTES": 4, "SHORT_BINBYTES": 1, "BINBYTES8": 8, "BYTEARRAY8": 8}
_STRING_OPS = {"SHORT_BINSTRING", "BINSTRING", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING"}
_INT_OPS = {"BININT", "BININT1", "BININT2", "INT", "LONG1", "LONG"}
_KEYS = {"batch_label", "labels", "data", "filenames", "fine_labels", "coarse_labels"}


@dataclass(frozen=True)
class CifarBatch:
    """Where the images of a CIFAR-10 batch file are: ``count`` rows at byte ``offset``."""

    path: Path
    count: int
    offset: int
    labels: tuple[int, ...]


def read_batch(path: Path) -> CifarBatch:
    """Locate the labels and pixel rows of a batch file in the official pickle layout.

    Raises :class:`DatasetError` if the file is not in that layout (or is truncated).
    """
    labels: list[int] = []
    key = None
    payload = None  # (offset, length)
    after_false = False
    saw_u1 = False
    saw_3072 = False
    try:
        with open(path, "rb") as f:
            for op, arg, pos in pickletools.genops(f):
                name = op.name
                if name in _STRING_OPS and isinstance(arg, (str, bytes)):
                    text = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                    if text in _KEYS:
                        key = text
                    elif key == "data" and text == "u1":
                        saw_u1 = True
                if name in _INT_OPS and isinstance(arg, int):
                    if key == "labels":
                        labels.append(arg)
                    elif key == "data" and arg == ROW_BYTES:
                        saw_3072 = True
                # numpy's array state is (version, shape, dtype, is_fortran, rawdata): the pixel bytes are
                # the raw string right after is_fortran=False (C order, one image per row).
                if key == "data" and name in _PAYLOAD_OPS and after_false and payload is None:
                    payload = (pos + 1 + _PAYLOAD_OPS[name], len(arg))
                after_false = name == "NEWFALSE"
    except DatasetError:
        raise
    except (ValueError, EOFError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable CIFAR-10 batch (truncated or not a pickle: {exc})") from None
    if payload is None or not (saw_u1 and saw_3072):
        raise DatasetError(f"{path}: not in the CIFAR-10 pickle layout (no C-ordered uint8 N×3072 'data' array)")
    offset, length = payload
    count, rest = divmod(length, ROW_BYTES)
    if rest or count != len(labels):
        raise DatasetError(
            f"{path}: inconsistent CIFAR-10 batch ({length} pixel bytes for {len(labels)} labels)"
        )
    return CifarBatch(path=Path(path), count=count, offset=offset, labels=tuple(labels))


def read_row(path: Path, offset: int, index: int) -> np.ndarray:
    """Image ``index`` of a batch as uint8 32×32×3 (RGB)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset + index * ROW_BYTES)
            raw = f.read(ROW_BYTES)
    except OSError as exc:
        raise ImageError(f"{path}[{index}]: cannot read ({exc.strerror or exc})") from None
    if len(raw) != ROW_BYTES:
        raise ImageError(f"{path}[{index}]: truncated ({len(raw)} of {ROW_BYTES} bytes)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(3, 32, 32).transpose(1, 2, 0).copy()
