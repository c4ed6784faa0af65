"""``codecbench bench``: the benchmark's codec cases, from any directory.

It runs ``pytest --pyargs codecbench.bench --benchmark-only`` in this process
with the codecbench pytest plugin, so the cases, options and reports are
those of ``pytest bench --benchmark-only`` in the repository; every argument
goes to pytest (``codecbench bench --help`` prints pytest's help, the
codecbench options in their own group). Exit status: pytest's (0 every
benchmark passed, 1 one failed), except 2 for a usage error (pytest's 4),
as for every ``codecbench`` command.
"""

from __future__ import annotations

import argparse

#: the pytest plug-in the command loads (also an installed ``pytest11`` entry point of that name)
PLUGIN = "codecbench.integrations.pytest_plugin"
#: the package whose tests are the codec cases
CASES = "codecbench.bench"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run the benchmark's codec cases (pytest-benchmark) from any directory; arguments go to pytest",
        description="Run `pytest --pyargs codecbench.bench --benchmark-only` with the codecbench plugin. Every "
        "argument goes to pytest, e.g. `codecbench bench --codecs jpeg,webp --datasets kodak --max-images 4 -q`.",
        prefix_chars="\x01",  # no option of its own: --codecs, -k, --help … all belong to pytest
        add_help=False,
    )
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest and codecbench plugin options")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pytest

    status = pytest.main(["--pyargs", CASES, "--benchmark-only", "-p", PLUGIN, *args.pytest_args])
    return 2 if status == pytest.ExitCode.USAGE_ERROR else int(status)
