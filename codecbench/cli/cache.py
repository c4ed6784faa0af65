"""``codecbench cache``: inspect or clear the results cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from codecbench.engine.cache import REMEDY, ResultsCache
from codecbench.core.errors import CacheError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache",
        help="show or clear the results cache",
        description="The results cache holds per-image measurements keyed by codec, version, settings, "
        "library versions, the codec's code, device and image pixels (default: cache.sqlite in $CODECBENCH_CACHE or "
        "~/.cache/codecbench).",
    )
    p.add_argument("action", choices=("info", "clear", "path"),
                   help="info: entries per codec and an integrity check (a damaged file is an error); "
                   "clear: delete entries (a damaged file is removed)")
    p.add_argument("--codec", help="clear only this codec's entries")
    p.add_argument("--cache", type=Path, help="cache file (default: cache.sqlite in $CODECBENCH_CACHE or ~/.cache/codecbench)")
    p.set_defaults(func=cache_command)


def cache_command(args: argparse.Namespace) -> int:
    cache = ResultsCache(args.cache)
    try:
        if args.action == "path":
            print(cache.path)
            return 0
        if args.action == "clear":
            return _clear(cache, args.codec)
        return _info(cache)
    finally:
        cache.close()


def _clear(cache: ResultsCache, codec: str | None) -> int:
    """Delete the entries (of ``codec``); a file too damaged for that is removed whole, unless ``codec`` is given."""
    try:
        n = cache.clear(codec)
    except CacheError:
        if codec:  # the message says that `cache clear` (of everything) removes a damaged file
            raise
        cache.remove()
        print(f"removed the damaged cache {cache.path}")
        return 0
    print(f"cleared {n} entr{'y' if n == 1 else 'ies'}" + (f" of {codec}" if codec else "") + f" from {cache.path}")
    return 0


def _info(cache: ResultsCache) -> int:
    """Entries per codec, then SQLite's integrity check: a damaged file is a :class:`CacheError` (one line)."""
    if not cache.path.exists():
        print(f"{cache.path}: empty (no cache file yet)")
        return 0
    stats = cache.stats()
    print(f"{stats['path']}: {stats['entries']} entries, {stats['bytes'] / 1e6:.1f} MB")
    for codec, n in stats["by_codec"].items():
        print(f"  {codec}: {n}")
    problem = cache.check()
    if problem:
        raise CacheError(f"results cache {cache.path} fails SQLite's integrity check ({problem}); {REMEDY}")
    return 0
