"""The codec cases: every selected codec spec × dataset × device, one encode and one decode benchmark each.

Run with ``pytest --pyargs codecbench.bench --benchmark-only`` (from any
directory), ``codecbench bench``, or in the repository ``pytest bench
--benchmark-only``; select with ``--codecs``, ``--datasets``, ``--devices``,
``--max-images`` (see docs/running.md). The encode test times rounds of
encoding every image of the dataset; the decode test times decoding the
bitstreams and scores its decodings (bpp, PSNR, SSIM, MS-SSIM into
``benchmark.extra_info`` of both). The plugin pairs the two tests of a case
by their names (``PHASES`` in :mod:`codecbench.integrations.pytest_plugin`).
"""


def test_encode(benchmark, codec_case, codecbench_session):
    codecbench_session.bench_encode(benchmark, codec_case)


def test_decode(benchmark, codec_case, codecbench_session):
    codecbench_session.bench_decode(benchmark, codec_case)
