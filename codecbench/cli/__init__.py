"""The ``codecbench`` command.

Each subcommand is a module of this package exposing
``register(subparsers)``; the parser it adds sets ``func(args) -> int``.
Errors a user can cause are :class:`CodecbenchError`: printed as one line,
exit status 2. So is any other :class:`OSError` (a disk full or a read-only
folder where a command writes), as the OS states it: errno, message, path.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

import codecbench
from codecbench.core.errors import CodecbenchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codecbench", description="Benchmark and evaluate learned and classical image codecs."
    )
    parser.add_argument("--version", action="version", version=f"codecbench {codecbench.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the words as given (e.g. a model card records the exact training command)
    try:
        return int(args.func(args) or 0)
    except CodecbenchError as exc:
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file or folder the commands do not name themselves: the OS's one line
        print(f"codecbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codecbench: interrupted (results written so far are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
