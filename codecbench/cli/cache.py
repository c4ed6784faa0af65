"""``codecbench cache``: inspect or clear the results cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from codecbench.engine.cache import ResultsCache
from codecbench.core.errors import CacheError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache",
        help="show or clear the results cache",
        description="The results cache holds per-image measurements keyed by codec, version, settings, "
        "library versions, device and image pixels (default: cache.sqlite in $CODECBENCH_CACHE or "
        "~/.cache/codecbench).",
    )
    p.add_argument("action", choices=("info", "clear", "path"), help="info: entries per codec; clear: delete entries")
    p.add_argument("--codec", help="clear only this codec's entries")
    p.add_argument("--cache", type=Path, help="cache file (default: cache.sqlite in $CODECBENCH_CACHE or ~/.cache/codecbench)")
    p.set_defaults(func=cache_command)


def cache_command(args: argparse.Namespace) -> int:
    cache = ResultsCache(args.cache)
    if args.action == "path":
        print(cache.path)
        return 0
    if args.action == "clear":
        try:
            n = cache.clear(args.codec)
        except CacheError:
            if args.codec:
                raise
            cache.remove()  # too damaged to open: start afresh
            print(f"removed the damaged cache {cache.path}")
            return 0
        finally:
            cache.close()
        print(f"cleared {n} entr{'y' if n == 1 else 'ies'}" + (f" of {args.codec}" if args.codec else "")
              + f" from {cache.path}")
        return 0
    if not cache.path.exists():
        print(f"{cache.path}: empty (no cache file yet)")
        return 0
    stats = cache.stats()
    cache.close()
    print(f"{stats['path']}: {stats['entries']} entries, {stats['bytes'] / 1e6:.1f} MB")
    for codec, n in stats["by_codec"].items():
        print(f"  {codec}: {n}")
    return 0
