"""The result record schema and the results store (JSON Lines).

One :class:`Record` per (codec spec, dataset, image, device). A results file
holds one JSON object per line; appends are flushed and fsynced, so a killed
run loses at most the line being written, and :func:`read_records` skips a
torn last line. :class:`ResultsStore` resumes a run: records already in the
file are not computed again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

from codecbench.errors import ResultsError

SCHEMA_VERSION = 1


@dataclass
class Record:
    """What one codec setting did to one image.

    Rates: ``bytes`` is the full stored bitstream, ``bpp`` = 8·bytes/(H·W).
    Quality (see :mod:`codecbench.metrics`): ``psnr``/``psnr_y`` in dB (None
    when the decoded image is identical), ``ssim``, ``ms_ssim`` (None below
    161 px), ``exact`` (bit-exact round trip). Times in seconds: ``enc_s`` and
    ``dec_s`` are the median over ``repeats`` timed calls after warm-up, of
    the codec call alone (no file I/O, no model loading). ``error`` is set,
    and the measurements left None, when this image failed.
    """

    codec: str
    spec: str
    setting: float | int | str | None
    dataset: str
    image: str
    width: int
    height: int
    channels: int
    device: str = "cpu"
    threads: int = 1
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    psnr_y: float | None = None
    ssim: float | None = None
    ms_ssim: float | None = None
    exact: bool | None = None
    enc_s: float | None = None
    dec_s: float | None = None
    repeats: int = 1
    lossless: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of a record within a run: (spec, dataset, image, device)."""
        return (self.spec, self.dataset, self.image, self.device)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Record:
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in obj.items() if k in names})
        except TypeError as exc:
            raise ResultsError(f"not a codecbench record: {exc}") from None


def read_records(path: str | os.PathLike) -> list[Record]:
    """Read a JSON Lines results file; a torn (unterminated) last line is skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: unreadable results file ({exc})") from None
    lines = text.split("\n")
    complete, torn = lines[:-1], lines[-1]
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise ResultsError(f"{path}:{number}: not a JSON record") from None
        if not isinstance(obj, dict):
            raise ResultsError(f"{path}:{number}: not a JSON record")
        records.append(Record.from_json(obj))
    if torn.strip():
        try:
            records.append(Record.from_json(json.loads(torn)))
        except (json.JSONDecodeError, ResultsError):
            pass  # the line a killed run was writing
    return records


class ResultsStore:
    """An append-only JSON Lines results file that a killed run can resume.

    Opening repairs a torn last line (left by a kill mid-write) by rewriting
    the file atomically without it; :meth:`append` writes one whole line and
    fsyncs it. ``done`` holds the keys of successful records, so a resumed
    run recomputes only what is missing or failed.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[Record] = read_records(self.path) if self.path.exists() else []
        self._rewrite_if_torn()
        self.done = {r.key for r in self.records if r.ok}

    def _rewrite_if_torn(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        write_records_atomic(self.path, self.records)

    def append(self, record: Record) -> None:
        line = json.dumps(record.to_json(), allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)
        if record.ok:
            self.done.add(record.key)

    def latest(self) -> list[Record]:
        """One record per key: the last written (a retried failure replaces the failure)."""
        return list({r.key: r for r in self.records}.values())


def write_records_atomic(path: str | os.PathLike, records: Iterable[Record]) -> None:
    """Replace ``path`` with ``records`` (JSON Lines) via a temp file and rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record.to_json(), allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def iter_ok(records: Iterable[Record]) -> Iterator[Record]:
    """The successful records."""
    return (r for r in records if r.ok)
