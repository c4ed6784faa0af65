"""``codecbench datasets``: fetch (download and verify) datasets into the data root."""

from __future__ import annotations

import argparse

from codecbench.datasets import fetch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("datasets", help="download and verify datasets")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = sub.add_parser("fetch", help="download (if missing) and verify a dataset into $CODECBENCH_DATA or ./datasets")
    f.add_argument("names", nargs="+", metavar="NAME", help="kodak, bsd300, cifar10")
    f.set_defaults(func=fetch_command)


def fetch_command(args: argparse.Namespace) -> int:
    for name in args.names:
        dataset = fetch(name)
        print(f"{dataset.name}: {len(dataset)} images ready")
    return 0
