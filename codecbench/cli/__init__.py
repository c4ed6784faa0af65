"""The ``codecbench`` command.

Each subcommand is a module of this package exposing
``register(subparsers)``; the parser it adds sets ``func(args) -> int``.
Errors a user can cause are :class:`CodecbenchError`: printed as one line,
exit status 2. So is any other :class:`OSError` (a disk full or a read-only
folder where a command writes), as the OS states it: errno, message, path.
Warnings are one line each too, ``codecbench: warning: …``, without the
source line Python would show (:func:`show_warning`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import threading
import time
import warnings
from typing import Sequence, TextIO

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
    """Run the CLI; return the process exit status.

    Called as the program (``argv`` None: the console script, ``python -m codecbench``) it ends the
    process itself if threads a codec left running would keep the interpreter alive (:func:`exit_status`).
    """
    if argv is None:
        return exit_status(main(sys.argv[1:]))
    with warnings.catch_warnings():  # this command's warnings only: a library caller keeps its own display
        warnings.showwarning = show_warning
        return _command(list(argv))


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    """A :func:`warnings.showwarning` that prints ``codecbench: warning: MESSAGE`` as one line (on stderr)."""
    text = " ".join(str(message).split())
    try:
        print(f"codecbench: warning: {text}", file=file or sys.stderr)
    except (OSError, ValueError):  # stderr closed (a broken pipe): a warning must not end the command
        pass


def _command(argv: list[str]) -> int:
    """Parse ``argv`` and run its command; errors a user can cause are one line (module docstring)."""
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


#: seconds the program waits for threads it did not start to end before it exits without them
THREAD_GRACE_S = 2.0


def exit_status(status: int) -> int:
    """``status``, once no thread but this one keeps the interpreter alive.

    A non-daemon thread that a plugin started and never ends would make the interpreter wait for it forever
    after the results are written; one still running after :data:`THREAD_GRACE_S` gets a warning line, the
    output is flushed, and the process ends at once with ``status`` (exit handlers do not run then).
    """
    deadline = time.monotonic() + THREAD_GRACE_S
    for thread in _others():
        thread.join(max(0.0, deadline - time.monotonic()))
    stray = [thread.name for thread in _others()]
    if not stray:
        return status
    try:
        print(f"codecbench: warning: exiting without waiting for {len(stray)} thread(s) a codec left running "
              f"({', '.join(stray[:3])})", file=sys.stderr)
    except (OSError, ValueError):  # stderr closed (a broken pipe) or failing: nothing more can be said there
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _others() -> list[threading.Thread]:
    """The live non-daemon threads other than this one."""
    return [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon and t.is_alive()]


if __name__ == "__main__":
    sys.exit(main())
