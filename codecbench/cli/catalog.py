"""``codecbench list``: the registered codecs, the metrics and the known datasets."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from codecbench.core.codec import CODECS
from codecbench.core.metrics import METRICS, PRESETS
from codecbench.datasets import available_datasets, data_root, is_available

#: one listing: one entry per codec, metric or dataset, its values typed as JSON has them
Listing = list[dict[str, Any]]

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("list", help="list codecs (with settings and sweeps), metrics and datasets "
                              "(with availability)")
    p.add_argument("what", nargs="?", choices=("codecs", "metrics", "datasets"),
                   help="list only these (default: codecs, metrics, then datasets)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object {codecs: [...], metrics: [...], datasets: [...]} for scripts")
    p.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    """Print the listings: rich tables on a terminal, plain full-width columns when piped, or JSON."""
    listings: dict[str, Callable[[], Listing]] = {"codecs": codecs_listing, "metrics": metrics_listing,
                                                  "datasets": datasets_listing}
    chosen = {name: make() for name, make in listings.items() if args.what in (None, name)}
    if args.json:
        print(json.dumps(chosen, indent=1))
    elif sys.stdout.isatty():
        console = Console()
        for entries in chosen.values():
            table = Table(*(key.replace("_", " ") for key in entries[0]))
            for entry in entries:
                table.add_row(*map(cell, entry.values()))
            console.print(table)
    else:
        print("\n\n".join(plain_columns(entries) for entries in chosen.values()))
    return 0


def cell(value: Any) -> str:
    """How a listing value reads in a table: yes/no, lists space-separated, mappings as k=v, None as —."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "—" if value in (None, "") else str(value)


def plain_columns(entries: Listing) -> str:
    """``entries`` as left-aligned text columns two spaces apart under their keys, no cell cut short (a pipe
    into ``cat`` or ``grep`` must see every name whole, where rich would wrap or cut cells to 80 columns)."""
    lines = [[key.replace("_", " ") for key in entries[0]], *([cell(v) for v in entry.values()] for entry in entries)]
    widths = [max(map(len, column)) for column in zip(*lines)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def codecs_listing() -> Listing:
    """Each registered codec: lossless or not, rate knob, default sweep, settings (with ranges), devices, and
    whether it runs here by name alone (``available``; else ``unavailable_because`` says why)."""
    return [{"codec": name, "lossless": cls.lossless, "rate_knob": cls.param, "default_sweep": list(cls.sweep),
             "settings": {k: s.describe() for k, s in cls.settings.items()}, "devices": list(cls.devices),
             "available": why is None, "unavailable_because": why}
            for name, cls in CODECS.items() for why in [cls.unavailable()]]


def metrics_listing() -> Listing:
    """Each metric (built-in and plug-ins): label, unit, direction, computed by default (else ``--metrics +NAME``),
    whether it can be computed here, who computes it and how it was validated; then each preset."""
    metrics = [{"metric": name, "label": m.label, "unit": m.unit, "higher_is_better": m.higher_is_better,
                "default": m.default, "needs_torch": m.needs_torch,
                "available": m.unavailable is None or m.unavailable() is None, "source": m.source,
                "validation": m.validation} for name, m in METRICS.items()]
    presets = [{"metric": name, "label": "preset", "source": " ".join(members)} for name, members in PRESETS.items()]
    return metrics + [{**dict.fromkeys(metrics[0]), **p} for p in presets]


def datasets_listing() -> Listing:
    """Each known dataset, whether it is in the data root (None: not a fixed set of files), and its description."""
    root = str(data_root())
    return [{"dataset": name, "data_root": root, "available": None if ":" in name else is_available(name),
             "description": description} for name, description in available_datasets().items()]
