"""The measurement engine: one :func:`~codecbench.engine.measure.measure` for every caller (runner, pytest
plugin, training evaluation, noise benchmark, seed-claims scripts)."""
