"""Installing the files of a downloaded archive: bounded, checked extraction (:func:`fetch_archive`).

Nothing a hostile archive holds can escape the dataset folder, cost more than
the archive's stated uncompressed bound, or reach the disk without passing
its checksum first.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from codecbench.core.errors import DatasetError
from codecbench.datasets._store import Problem, download, summarize


#: How each compression an archive may use is recognised (its first bytes) and opened for reading.
_DECOMPRESSORS: dict[bytes, Callable[[IO[bytes]], IO[bytes]]] = {
    b"\x1f\x8b": lambda f: gzip.GzipFile(fileobj=f),
    b"BZh": lambda f: bz2.BZ2File(f),
    b"\xfd7zXZ\x00": lambda f: lzma.LZMAFile(f),
}


class _Bounded:
    """The decompressed stream of ``archive``, refusing (:class:`DatasetError`) to go past byte ``limit``."""

    def __init__(self, stream: IO[bytes], limit: int, archive: Path) -> None:
        self.stream, self.limit, self.archive = stream, limit, archive

    def _refuse(self) -> DatasetError:
        return DatasetError(f"refusing to extract {self.archive}: it holds more than {self.limit:,} bytes "
                            "uncompressed, more than the real archive; nothing was used")

    def read(self, size: int = -1) -> bytes:
        room = self.limit - self.stream.tell()
        data = self.stream.read(room + 1 if size is None or size < 0 else min(size, room + 1))
        if len(data) > room:
            raise self._refuse()
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = offset if whence == os.SEEK_SET else self.stream.tell() + offset if whence == os.SEEK_CUR else None
        if target is None or target > self.limit:
            raise self._refuse()
        return self.stream.seek(target)

    def tell(self) -> int:
        return self.stream.tell()


def extract_verified(archive: Path, dest: Path, members: Mapping[str, str], table: Mapping[str, str],
                     max_bytes: int) -> list[Problem]:
    """Write each wanted member of ``archive`` (archive name -> relpath) whose checksum ``table[relpath]`` matches
    to ``dest/relpath``; return the problems (a wanted member missing, or failing its checksum).

    Every member (not only the wanted ones) is first checked with Python's ``tarfile`` ``"data"`` extraction
    filter, plus a refusal of absolute names: an absolute path, a ``..`` escape, or a link pointing outside
    makes the whole archive refused with a :class:`DatasetError` naming the member. The archive is read
    decompressing at most ``max_bytes``: a member whose header puts its end beyond is refused before its data is
    decompressed. A wanted member is read into memory and checked before it is written, so only files that pass
    their checksum reach the disk, at the paths of ``members`` (never a name from the archive).
    """
    dest_str = str(dest.resolve())
    problems, found = [], set()
    try:
        with open(archive, "rb") as raw:
            head = raw.read(8)
            raw.seek(0)
            opener = next((o for magic, o in _DECOMPRESSORS.items() if head.startswith(magic)), None)
            stream = opener(raw) if opener else raw
            with tarfile.open(fileobj=_Bounded(stream, max_bytes, archive), mode="r:") as tar:
                for member in tar:
                    _check_member(archive, member, dest_str, max_bytes)
                    name = posixpath.normpath(member.name)
                    if member.isfile() and name in members and name not in found:
                        found.add(name)
                        problem = _write_checked(tar.extractfile(member).read(), dest, members[name], table)
                        problems += [problem] if problem else []
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise DatasetError(f"{archive} is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    return problems + [Problem(rel, "missing") for name, rel in members.items() if name not in found]


def _check_member(archive: Path, member: tarfile.TarInfo, dest: str, max_bytes: int) -> None:
    """Refuse (:class:`DatasetError`) an unsafe member, or one that would end beyond ``max_bytes``."""
    if not hasattr(tarfile, "data_filter"):
        raise DatasetError(
            f"refusing to extract {archive.name}: this Python's tarfile has no extraction filters "
            "(they need Python 3.12, or 3.8.17 / 3.9.17 / 3.10.12 / 3.11.4 or later); upgrade Python"
        )
    try:
        if member.name.startswith(("/", "\\")) or (len(member.name) > 1 and member.name[1] == ":"):
            raise tarfile.AbsolutePathError(member)
        tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        raise DatasetError(
            f"refusing to extract {archive}: member {member.name!r} is unsafe ({exc}); nothing was used"
        ) from None
    if member.offset_data + member.size > max_bytes:
        raise DatasetError(f"refusing to extract {archive}: member {member.name!r} ({member.size:,} bytes) ends "
                           f"beyond {max_bytes:,} bytes uncompressed, more than the real archive; nothing was used")


def _write_checked(data: bytes, dest: Path, rel: str, table: Mapping[str, str]) -> Problem | None:
    """Write ``data`` to ``dest/rel`` if it matches ``table[rel]`` (``"algo:hex"``); else the problem, nothing written."""
    algo, _, want = table[rel].partition(":")
    got = hashlib.new(algo, data).hexdigest()
    if got != want:
        return Problem(rel, "corrupt", f"{algo} mismatch: expected {want}, got {got}")
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return None


def fetch_archive(
    *,
    urls: Sequence[str],
    archive: Path,
    archive_hash: str | None,
    folder: Path,
    members: Mapping[str, str],
    table: Mapping[str, str],
    max_bytes: int,
) -> None:
    """Download ``archive``, extract ``members`` (archive name -> relpath under ``folder``), install them.

    ``archive_hash`` (``"algo:hex"``, None where no hash is known) is checked before anything is extracted.
    Extraction (:func:`extract_verified`, reading at most ``max_bytes`` uncompressed) writes only files that
    pass their checksum in ``table``, into a temporary folder inside ``folder``; only when every file is present
    and correct are they renamed into place. A corrupt, unsafe or oversized archive is deleted and reported;
    the archive is deleted after a successful install too (the extracted files are what is verified and used).
    """
    folder.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(folder)
    download(urls, archive, archive_hash)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    try:
        try:
            problems = extract_verified(archive, tmp, members, table, max_bytes)
        except DatasetError as exc:
            archive.unlink(missing_ok=True)
            raise DatasetError(f"{exc}; the archive was deleted") from None
        if problems:
            archive.unlink(missing_ok=True)
            raise DatasetError(
                f"{archive.name} does not hold the expected files: {summarize(problems)}; "
                "the archive was deleted and nothing was installed"
            )
        for rel in members.values():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, target)
        archive.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _clean_stale_temporaries(folder: Path, older_than_s: float = 3600) -> None:
    """Remove extraction folders left by a killed fetch (they are never read)."""
    now = time.time()
    for path in folder.glob(".extract-*"):
        try:
            if now - path.stat().st_mtime > older_than_s:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
