"""The codec cases of ``pytest bench --benchmark-only``: the tests of :mod:`codecbench.bench.test_codecs`.

They live in the package so that they also run from any directory
(``pytest --pyargs codecbench.bench --benchmark-only``, ``codecbench bench``);
here they keep their node ids (``bench/test_codecs.py::test_encode[…]``), which
pytest-benchmark's comparisons go by.
"""

from codecbench.bench.test_codecs import test_decode, test_encode

__all__ = ["test_decode", "test_encode"]
