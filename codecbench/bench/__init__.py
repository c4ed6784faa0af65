"""The benchmark's codec cases, installed with codecbench so they run from any directory.

``pytest --pyargs codecbench.bench --benchmark-only [--codecs …] [--datasets …]``
or ``codecbench bench [pytest options]`` run :mod:`codecbench.bench.test_codecs`
with the codecbench pytest plugin (installed as a ``pytest11`` entry point);
in the repository ``pytest bench --benchmark-only`` runs the same tests.
"""
