"""The data root, checksum verification (with its cache of verified markers) and downloads."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codecbench.core.errors import DatasetError

log = logging.getLogger("codecbench.datasets")

#: Seconds before a download attempt gives up on a silent server.
DOWNLOAD_TIMEOUT_S = 60


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$CODECBENCH_DATA``, else ``./datasets``.

    A relative path is taken relative to the current working directory.
    """
    if root is None:
        root = os.environ.get("CODECBENCH_DATA") or "datasets"
    return Path(root).expanduser().absolute()


def cache_dir() -> Path:
    """Where verified markers are kept: ``$CODECBENCH_CACHE`` or the user cache (``~/.cache/codecbench``)."""
    env = os.environ.get("CODECBENCH_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codecbench"


# ----------------------------------------------------------------------------- checking files


@dataclass(frozen=True)
class Problem:
    """Why a dataset file is not usable: ``kind`` is ``"missing"``, ``"corrupt"`` or ``"invalid"``."""

    name: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, name: str, expected: str) -> Problem | None:
    """Check one file against ``"algo:hexdigest"``; ``None`` when it matches."""
    algo, _, want = expected.partition(":")
    if not path.is_file():
        return Problem(name, "missing")
    try:
        got = file_digest(path, algo)
    except OSError as exc:
        return Problem(name, "corrupt", f"unreadable: {exc.strerror or exc}")
    if got != want:
        return Problem(name, "corrupt", f"{algo} mismatch: expected {want}, got {got}")
    return None


def check_table(folder: Path, table: Mapping[str, str]) -> list[Problem]:
    """Check every ``relpath -> "algo:hex"`` of ``table`` under ``folder``."""
    problems = []
    for rel, expected in table.items():
        problem = check_file(folder / rel, rel, expected)
        if problem:
            problems.append(problem)
    return problems


def table_id(label: str, table: Mapping[str, str] | str) -> str:
    """A short id of what a verification checked (changes when the package's checksums change)."""
    text = table if isinstance(table, str) else json.dumps(sorted(table.items()))
    return f"{label}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _stamp(folder: Path, files: Sequence[str | Path]) -> str | None:
    """Digest of every file's (path, size, mtime, ctime, inode); ``None`` if one is missing."""
    h = hashlib.sha256()
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            return None
        h.update(f"{os.fspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
    return h.hexdigest()


def _marker_path(folder: Path, check_id: str) -> Path:
    key = hashlib.sha256(f"{folder.resolve()}\0{check_id}".encode()).hexdigest()[:32]
    return cache_dir() / "verified" / f"{key}.json"


def verified(
    folder: Path,
    files: Sequence[str | Path],
    check_id: str,
    check: Callable[[], list[Problem]],
    *,
    force: bool = False,
) -> list[Problem]:
    """Run ``check`` unless a marker says these exact files already passed it.

    The rule: a full check (every checksum) runs the first time; when it passes,
    a marker is written to ``cache_dir()/verified/`` recording the check id (which
    includes a digest of the expected checksums) and a digest of every file's path,
    size, mtime, ctime and inode. Later calls stat the files (no reading) and skip
    the check while all of that is unchanged; any change, a missing file, or
    ``force=True`` re-runs the full check. An unwritable cache only costs speed.
    """
    marker = _marker_path(folder, check_id)
    stamp = _stamp(folder, files)
    if stamp is not None and not force:
        try:
            if json.loads(marker.read_text()).get("stamp") == stamp:
                return []
        except (OSError, ValueError, AttributeError):
            pass
    problems = check()
    if not problems:
        stamp = _stamp(folder, files)
        if stamp is not None:
            record = {
                "folder": str(folder.resolve()),
                "check": check_id,
                "stamp": stamp,
                "files": len(files),
                "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                tmp = marker.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(record))
                os.replace(tmp, marker)
            except OSError as exc:
                log.debug("cannot write verified marker %s: %s", marker, exc)
    return problems


def summarize(problems: Sequence[Problem], limit: int = 8) -> str:
    """'3 missing (a, b, c); 1 corrupt (d: sha256 mismatch …)' for an error message."""
    parts = []
    for kind in ("missing", "corrupt", "invalid"):
        group = [p for p in problems if p.kind == kind]
        if not group:
            continue
        if kind == "missing":
            shown = ", ".join(p.name for p in group[:limit])
        else:
            shown = "; ".join(f"{p.name}: {p.detail}" if p.detail else p.name for p in group[:limit])
        more = f", and {len(group) - limit} more" if len(group) > limit else ""
        parts.append(f"{len(group)} {kind} ({shown}{more})")
    return "; ".join(parts)


def remove_corrupt(folder: Path, problems: Iterable[Problem]) -> None:
    """Delete files that failed their checksum before downloading them again, and say so."""
    for p in problems:
        if p.kind == "corrupt":
            path = folder / p.name
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise DatasetError(f"{path} failed its checksum ({p.detail}) and cannot be deleted: {exc}") from None
            log.warning("deleted %s: it failed its checksum (%s)", path, p.detail)


# ----------------------------------------------------------------------------- downloads


def _file_downloader(url: str, output_file, pooch=None, check_only: bool = False) -> bool | None:
    """A pooch downloader for ``file://`` URLs (local mirrors and the tests)."""
    source = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if check_only:
        return source.is_file()
    if hasattr(output_file, "write"):
        with open(source, "rb") as f:
            shutil.copyfileobj(f, output_file)
    else:
        shutil.copyfile(source, output_file)
    return None


def _downloader(url: str):
    if url.startswith("file:"):
        return _file_downloader
    import pooch  # pooch and requests take a while to import: only when downloading

    return pooch.HTTPDownloader(progressbar=False, timeout=DOWNLOAD_TIMEOUT_S)


def download(urls: str | Sequence[str], dest: Path, known_hash: str | None) -> Path:
    """Download ``dest`` from the first URL that works, verified against ``known_hash``.

    pooch writes to a temporary file next to ``dest`` and moves it into place only
    after a complete download whose checksum matches: an interrupted download or a
    mismatch leaves nothing behind (the temporary file is deleted) and raises
    :class:`DatasetError` saying so.
    """
    import pooch  # only when downloading, as above
    import requests

    if isinstance(urls, str):
        urls = [urls]
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        log.info("downloading %s -> %s", url, dest)
        try:
            pooch.retrieve(
                url, known_hash=known_hash, fname=dest.name, path=dest.parent, downloader=_downloader(url)
            )
            return dest
        except ValueError as exc:  # pooch: checksum mismatch (the download is deleted)
            failures.append(f"{url}: checksum mismatch, the download was deleted ({exc})")
        except (requests.RequestException, OSError) as exc:
            failures.append(f"{url}: download failed, nothing was kept ({type(exc).__name__}: {exc})")
    raise DatasetError(f"cannot download {dest.name}: " + "; ".join(failures))
