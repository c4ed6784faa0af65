"""A results-cache entry: what its key is made of, how its value is stored, and what a value may hold.

The key: :func:`identity` gathers the codec's identity and code, the image's
pixels and the measuring code; :func:`cache_key` hashes it. The value:
:func:`entry_text` writes the measurements with a checksum, :func:`read_entry`
reads them back, :func:`check_entry` refuses what no real measurement can be.

:func:`code_digest` is the SHA-256 of the source of the modules defining a
codec's class and bases and, transitively, what they import from the same
packages (in codecbench, only ``core`` and ``codecs``), plus a plugin
distribution's version: editing any of it is a miss without a ``version``
bump. It is computed once per class per process, so it describes the code the
process runs. The manual: ``docs/results.md``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np

import codecbench
from codecbench.core.errors import ResultsError
from codecbench.core.metrics import default_metrics
from codecbench.core.results import Record, parse_json

CACHE_SCHEMA = 2
#: the parts of codecbench a codec's bits can depend on: the layers below ``engine`` (docs/architecture.md)
CODEC_LAYERS = ("codecbench.core", "codecbench.codecs")
#: the modules whose code makes a record's numbers besides the codec's: the metrics and the measuring loop
MEASURING_MODULES = ("codecbench.core.metrics", "codecbench.engine.measure")


def image_digest(image: np.ndarray) -> str:
    """SHA-256 of an image's shape, dtype and pixel bytes (C order)."""
    h = hashlib.sha256()
    h.update(f"{tuple(image.shape)}|{image.dtype.str}|".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


# -- code digests -------------------------------------------------------------
#: (module, SHA-256 of its file) -> the modules its source imports
_IMPORTS: dict[tuple[str, str], tuple[str, ...]] = {}
_CLASSES: weakref.WeakKeyDictionary[type, str | None] = weakref.WeakKeyDictionary()


def code_digest(cls: type) -> str | None:
    """SHA-256 of the code that makes the bits of codec class ``cls`` (module docstring), computed once per class.

    None when some of that code has no source file (a class defined in a REPL or notebook): such a codec is
    never cached.
    """
    if cls not in _CLASSES:
        roots = [k.__module__ for k in cls.__mro__ if _top(k.__module__) not in sys.stdlib_module_names]
        _CLASSES[cls] = modules_digest(roots)
    return _CLASSES[cls]


def modules_digest(roots: list[str]) -> str | None:
    """SHA-256 of the files of modules ``roots`` and of what they import from the same top-level packages."""
    scope = {_top(name) for name in roots}
    files: dict[str, str] = {}
    pending = list(dict.fromkeys(roots))
    while pending:
        name = pending.pop()
        if name in files:
            continue
        path = _module_file(name)
        if path is None and (name in roots or name in sys.modules):
            return None  # code loaded from no file: unknown
        if path is None:
            continue  # not a module (`from m import x`, x a name in m), or one that is not there: no code that runs
        try:
            digest, imports = _file_info(name, path) if path else ("", ())
        except OSError:  # a file that cannot be read: the code is unknown
            return None
        files[name] = digest
        pending += [m for m in imports if m not in files and _in_scope(m, scope, roots)]
    text = json.dumps({"files": dict(sorted(files.items())), "distributions": _distributions(scope)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _top(name: str) -> str:
    return name.partition(".")[0]


def _in_scope(name: str, scope: set[str], roots: list[str]) -> bool:
    if _top(name) not in scope:
        return False
    return _top(name) != "codecbench" or name in roots or name.startswith(tuple(p + "." for p in CODEC_LAYERS))


def _module_file(name: str) -> str | None:
    """The file of module ``name``; "" for a module without code (a namespace package); None if it has no file."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None) if module is not None else _find_spec(name)
    path = getattr(module, "__file__", None) if module is not None else getattr(spec, "origin", None)
    if path and os.path.isfile(path):
        return path
    if spec is not None and spec.submodule_search_locations is not None and not path:
        return ""
    return None


def _find_spec(name: str) -> Any:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None


def _file_info(name: str, path: str) -> tuple[str, tuple[str, ...]]:
    """SHA-256 of module ``name``'s file ``path`` and the modules its Python source imports (none if compiled).

    The file is read and hashed every time (cheap; a timestamp could miss an edit); its source is scanned once.
    """
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if (name, digest) not in _IMPORTS:
        package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
        _IMPORTS[name, digest] = tuple(_imports(data, package)) if path.endswith(".py") else ()
    return digest, _IMPORTS[name, digest]


#: an ``import`` statement at any indentation: ``from M import NAMES`` (NAMES in parentheses may span lines)
#: or ``import NAMES``. A match inside a string only adds a module to look at, which is safe; parsing the
#: source instead (``ast``) cost 20 times as much.
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+([.\w]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]*))",
                     re.MULTILINE)


def _imports(source: bytes, package: str) -> list[str]:
    """Every module an import statement in ``source`` names (``from m import x``: ``m``, and ``m.x`` in case
    it is a module); relative imports resolved against ``package``."""
    found: list[str] = []
    for match in _IMPORT.finditer(source):
        module, names, plain = (g.decode("utf-8", "replace") if g else "" for g in match.groups())
        listed = [n.split()[0] for n in (names or plain).strip("() \t\r\n").replace("\n", " ").split(",") if n.split()]
        if plain:
            found += listed
            continue
        try:
            base = importlib.util.resolve_name(module, package)
        except (ImportError, ValueError):
            continue
        found += [base, *(f"{base}.{n}" for n in listed if n != "*")]
    return found


@functools.lru_cache(maxsize=None)
def _distribution_versions(top: str) -> tuple[tuple[str, str], ...]:
    """The installed distributions that provide top-level package ``top``, with their versions."""
    names = importlib.metadata.packages_distributions().get(top, [])
    return tuple(sorted((name, importlib.metadata.version(name)) for name in set(names)))


def _distributions(scope: set[str]) -> dict[str, str]:
    """The versions of the distributions of the plugin packages in ``scope`` (codecbench's is in ``measured_by``)."""
    return {name: version for top in sorted(scope - {"codecbench"}) for name, version in _distribution_versions(top)}


# -- the key ------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def measured_by() -> dict[str, str]:
    """What measures a record besides the codec: codecbench, the schemas, OpenCV and the measuring code's digest."""
    import cv2  # the metrics' filters and sums (codecbench.core.metrics)

    from codecbench.core.results import SCHEMA_VERSION, SOURCE_FIELDS, record_keys

    # a change in the record's fields (a metric added or renamed) must not serve entries without it;
    # the source-file fields are not measurements (the runner sets them from the dataset item), so not cached
    record_fields = ",".join(sorted(name for name in record_keys() if name not in SOURCE_FIELDS))
    return {
        "codecbench": codecbench.__version__,
        "cache-schema": str(CACHE_SCHEMA),
        "record-schema": f"{SCHEMA_VERSION}:{hashlib.sha256(record_fields.encode()).hexdigest()[:12]}",
        "opencv": cv2.__version__,
        "code": modules_digest(list(MEASURING_MODULES)) or "",
    }


def codec_identity(codec: Any) -> dict[str, Any]:
    """The codec's part of a key: name, ``version``, canonical spec, bit-shaping libraries, :func:`code_digest`."""
    return {
        "codec": codec.name,
        "codec_version": str(getattr(codec, "version", "")),
        "spec": codec.spec,
        "libraries": {str(k): str(v) for k, v in sorted(codec.library_versions().items())},
        "code": code_digest(type(codec)),
    }


def identity(codec_part: dict[str, Any], digest: str, device: str) -> dict[str, Any]:
    """Everything an entry's key is made of (stored with the entry for inspection)."""
    return {**codec_part, "device": device, "image": digest, "measured_by": measured_by()}


def cache_key(ident: dict[str, Any]) -> str:
    """SHA-256 of :func:`identity`'s canonical JSON."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- the value ----------------------------------------------------------------
#: fields every cached measurement has (the rest is whatever the runner measured: quality metrics)
REQUIRED_FIELDS = ("bytes", "bpp", "enc_s", "dec_s")
#: the record fields a cached measurement may set: the default metrics' (an opt-in metric is measured afresh);
#: any other key (the record's identity: ``spec``, ``image``, ``dataset``, ...) is ignored, so an edited entry
#: can never rename or move a record
MEASURED_FIELDS = (*REQUIRED_FIELDS, *default_metrics(), "lossless_ok")


def _checksum(measurements: dict[str, Any], key: str) -> str:
    """SHA-256 of ``key`` and the canonical JSON of ``measurements``; ValueError for NaN or ±Infinity."""
    body = json.dumps(measurements, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(f"{key}\n{body}".encode()).hexdigest()


def entry_text(measurements: dict[str, Any], key: str) -> str:
    """The stored text of the entry of ``key``: its canonical JSON with a ``check`` (:func:`_checksum`), so that a
    damaged entry (a flipped digit), or one served for another key (a damaged index), is detected, not served.
    Raises ValueError for NaN or ±Infinity."""
    entry = {**measurements, "check": _checksum(measurements, key)}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False)


def read_entry(raw: Any, key: str) -> dict[str, Any]:
    """The measurements of stored text ``raw`` (:func:`entry_text`, as bytes) of ``key``; :class:`ResultsError`
    naming what is wrong if it is not UTF-8 text, not a JSON object (or hostile JSON), or fails its ``check``."""
    try:
        value = parse_json(raw.decode("utf-8") if isinstance(raw, bytes) else raw, "entry")
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise ResultsError(f"unreadable entry ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise ResultsError("entry is not a JSON object")
    check = value.pop("check", None)
    try:
        intact = check == _checksum(value, key)
    except ValueError:
        raise ResultsError("entry holds NaN or Infinity") from None
    if not intact:
        raise ResultsError("entry does not match its checksum (damaged or edited)")
    return value


def check_entry(entry: dict[str, Any], codec: Any, shape: tuple[int, ...]) -> None:
    """Raise :class:`ResultsError` unless ``entry`` holds what a real measurement of ``codec`` on an image of
    ``shape`` can: the required fields, and values :func:`codecbench.core.results.validate_record` accepts
    (finite, in range, bpp = 8·bytes/(H·W), ``lossless_ok`` only for a lossless codec)."""
    missing = [k for k in REQUIRED_FIELDS if k not in entry]
    if missing:
        raise ResultsError(f"missing {', '.join(missing)}")
    h, w = shape[:2]
    Record.from_json({
        "codec": codec.name, "spec": codec.spec, "setting": None, "dataset": "", "image": "", "width": w, "height": h,
        "channels": shape[2] if len(shape) > 2 else 1, "lossless": bool(getattr(codec, "lossless", False)),
        "cached": True, "jobs": entry.get("jobs"), **{k: entry[k] for k in MEASURED_FIELDS if k in entry},
    })
