"""Where a run's time went: the line ``codecbench run`` prints at the end."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TimeSpent:
    """Where a run's time went, in seconds (:attr:`codecbench.engine.runner.Runner.time_spent`).

    ``codec``: the timed encode and decode calls (every repeat) and the
    warm-up rounds; ``scoring``: the rest of each image's measurement
    (metrics, the decoded-shape check, results-cache look-ups and writes,
    the worker round trip under ``isolate``), model loading excluded;
    ``loading``: reading and decoding the dataset's images. ``codec`` and
    ``scoring`` are summed over the ``processes`` codec processes working
    at once; on ``dask`` every part is the Dask workers' sum, as they report it.
    """

    codec: float = 0.0
    scoring: float = 0.0
    loading: float = 0.0
    processes: int = 1
    dask: bool = False

    def add(self, seconds: dict[str, float]) -> None:
        """Add seconds reported by a worker (``{"codec": …, "scoring": …, "loading": …}``, each optional)."""
        for part in ("codec", "scoring", "loading"):
            setattr(self, part, getattr(self, part) + seconds.get(part, 0.0))

    def summary(self, wall: float) -> str:
        """One line saying where ``wall`` seconds went; every figure is labelled with what it adds up to.

        One codec process: the parts and "other" add up to ``wall``. N processes: codec calls, metrics and
        "other" add up to N × ``wall`` process-seconds, image loading (in this process) is a share of ``wall``.
        Dask: the workers' sums, without shares (workers may come and go during a run).
        """
        def part(name: str, sec: float, total: float | None = None, of: str = "") -> str:
            figure = f"{sec:.1f}" if sec >= 1 or sec == 0 else f"{sec:.3f}"  # a short run's parts are not "0.0 s"
            return f"{name} {figure} s" + (f" ({100 * sec / total:.0f}%{of})" if total else "")

        head = f"time: {wall:.1f} s wall"
        if self.dask:
            return (f"{head}; summed over the Dask workers (worker-seconds): {part('codec calls', self.codec)}, "
                    f"{part('metrics', self.scoring)}, {part('image loading', self.loading)}")
        if self.processes == 1:
            other = max(0.0, wall - self.codec - self.scoring - self.loading)
            parts = [("codec calls", self.codec), ("metrics and cache", self.scoring), ("image loading", self.loading),
                     ("other (model loading, results files)", other)]
            return f"{head}; " + ", ".join(part(name, sec, wall) for name, sec in parts)
        capacity = self.processes * wall
        idle = max(0.0, capacity - self.codec - self.scoring)
        parts = [("codec calls", self.codec), ("metrics and cache", self.scoring),
                 ("other (model loading, idle)", idle)]
        return (f"{head}; {self.processes} codec processes, {capacity:.1f} process-seconds: "
                + ", ".join(part(name, sec, capacity) for name, sec in parts)
                + f"; {part('image loading (this process)', self.loading, wall, ' of the wall time')}")
