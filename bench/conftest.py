"""``pytest bench`` runs the codec cases; the harness's own benchmarks (``bench/harness/``) run only when named:
``pytest bench/harness --benchmark-only`` (or one file of it)."""

from pathlib import Path

HARNESS = Path(__file__).resolve().parent / "harness"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """Leave ``bench/harness`` out unless a command-line argument names it or a path inside it."""
    if collection_path.resolve() != HARNESS:
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    return False if any(p == HARNESS or HARNESS in p.parents for p in named) else True
