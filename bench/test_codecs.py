"""The benchmark suite: every selected codec spec × dataset × device.

Run with ``pytest bench --benchmark-only``; select with ``--codecs``,
``--datasets``, ``--devices``, ``--max-images`` (see docs/running.md). Each encode test
times one round of encoding every image of the dataset, then scores the
bitstreams (bpp, PSNR, SSIM, MS-SSIM into ``benchmark.extra_info``); each
decode test times decoding them.
"""


def test_encode(benchmark, codec_case, codecbench_session):
    codecbench_session.bench_encode(benchmark, codec_case)


def test_decode(benchmark, codec_case, codecbench_session):
    codecbench_session.bench_decode(benchmark, codec_case)
