"""``codecbench list``: the registered codecs, the metrics and the known datasets."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from codecbench.core.codec import available_codecs
from codecbench.datasets import available_datasets, data_root, is_available
from codecbench.core.metrics import METRICS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("list", help="list codecs (with settings and sweeps), metrics and datasets "
                              "(with availability)")
    p.add_argument("what", nargs="?", choices=("codecs", "metrics", "datasets"),
                   help="list only these (default: codecs, metrics, then datasets)")
    p.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    console = Console()
    if args.what in (None, "codecs"):
        console.print(codecs_table())
    if args.what in (None, "metrics"):
        console.print(metrics_table())
    if args.what in (None, "datasets"):
        console.print(datasets_table())
    return 0


def codecs_table() -> Table:
    """Each registered codec: lossy or lossless, rate knob, default sweep, settings, devices."""
    table = Table("codec", "kind", "rate knob", "default sweep", "settings", "devices")
    for name, cls in available_codecs().items():
        settings = ", ".join(f"{k}={s.describe()}" for k, s in cls.settings.items())
        sweep = " ".join(map(str, cls.sweep))
        table.add_row(name, "lossless" if cls.lossless else "lossy", cls.param or "—", sweep, settings,
                      ", ".join(cls.devices))
    return table


def metrics_table() -> Table:
    """Each metric of the table (built-in and plug-ins): unit, direction, whether runs compute it by default."""
    table = Table("metric", "label", "unit", "better", "default", "needs torch")
    for name, m in METRICS.items():
        table.add_row(name, m.label, m.unit or "—", "higher" if m.higher_is_better else "lower",
                      "yes" if m.default else "no (--metrics +" + name + ")", "yes" if m.needs_torch else "no")
    return table


def datasets_table() -> Table:
    """Each known dataset, whether it is available offline in the data root, and its description."""
    table = Table("dataset", f"available in {data_root()}", "description")
    for name, description in available_datasets().items():
        here = "—" if ":" in name else ("yes" if is_available(name) else "no (codecbench datasets fetch)")
        table.add_row(name, here, description)
    return table
