"""The record of one codec on one image: its identity fields, and its measurements or the error that replaced them.

The runner, the Dask workers (:mod:`codecbench.engine.distributed`) and the
pytest plugin build records here. A failure is the record's ``error`` (:func:`error_text`), never an
exception.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from codecbench.core.codec import Codec
from codecbench.core.errors import error_text
from codecbench.core.images import SourceFile
from codecbench.core.results import Record, validate_record


def base_record(codec: Codec, dataset: str, item_id: str, image: np.ndarray | None,
                source: SourceFile | None = None) -> Record:
    """A record of ``codec`` on one image without measurements; ``source`` is the image file it was read from."""
    h, w, c = image.shape if image is not None else (0, 0, 0)
    return Record(
        codec=codec.name,
        spec=codec.spec,
        setting=codec.setting,
        dataset=dataset,
        image=item_id,
        width=w,
        height=h,
        channels=c,
        device=codec.device,
        threads=codec.threads,
        lossless=codec.lossless,
        versions=dict(codec.identity),
        source_bytes=source.bytes if source else None,
        source_format=source.format if source else None,
        knob=codec.param,
    )


def unreadable_record(codec: Codec, dataset: str, item_id: str, failure: BaseException,
                      source: SourceFile | None = None) -> Record:
    """The failed record of ``codec`` on an image it could not be measured on (``failure``: why, e.g. the image
    could not be loaded)."""
    record = base_record(codec, dataset, item_id, None, source)
    record.error = error_text(failure)
    return record


def record_of(codec: Codec, dataset: str, item_id: str, image: np.ndarray, source: SourceFile | None,
              measured: Callable[[], dict]) -> Record:
    """The record of ``codec`` on one image with the fields ``measured()`` returns; a failure (anything but
    ``KeyboardInterrupt``, a plugin's ``sys.exit`` included) is the record's ``error``, never raised; so is a
    value no real measurement has (NaN, out of range: :func:`~codecbench.core.results.validate_record`)."""
    record = base_record(codec, dataset, item_id, image, source)
    try:
        measured_record = record.with_values(**measured())
        validate_record(measured_record)
        return measured_record
    except BaseException as exc:  # one image's failure must not end the run
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.error = error_text(exc)
    return record
