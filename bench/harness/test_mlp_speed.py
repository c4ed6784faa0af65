"""Speed goal of the MLP lossless coders: one Kodak image encodes and decodes in under 10 s on 2 cores.

One of the harness's own benchmarks, run when asked (``pytest bench/harness
--benchmark-only``). For
``mlp-huffman`` and ``mlp-ans`` (built with 2 threads, model loading outside
the timed region) on the first Kodak image (kodim01, 768×512 RGB) and on its
grayscale view (``kodak:gray``): one timed round of one encode then one decode,
without warm-up (the cold call is what a user waits for), each followed by
``codec.synchronize()``. The decode must give the image back exactly;
``benchmark.extra_info`` has ``enc_s`` and ``dec_s`` (seconds) and ``bpp``.
The goal is a figure of the session's "speed goals" section (the
``speed_goal`` fixture), never a failure: a busy machine misses it. Skipped,
with the reason, where the Kodak images are not present.
"""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.core import metrics
from codecbench.core.codec import create_codec
from codecbench.datasets import get_dataset
from codecbench.core.errors import DatasetError
from codecbench.engine.measure import timed

GOAL_S = 10.0  # seconds for one encode plus one decode of one image
THREADS = 2  # the goal's core count


@pytest.mark.parametrize("dataset", ["kodak", "kodak:gray"])
@pytest.mark.parametrize("name", ["mlp-huffman", "mlp-ans"])
def test_mlp_round_trip_speed(benchmark, speed_goal, name: str, dataset: str) -> None:
    try:
        item = next(iter(get_dataset(dataset, max_images=1)))
    except DatasetError as exc:
        pytest.skip(f"the {dataset} dataset is not available: {exc}")
    image = item.load()
    codec = create_codec(name, threads=THREADS)

    def round_trip() -> tuple[bytes, np.ndarray, float, float]:
        data, enc_s = timed(lambda: codec.encode(image), codec, repeats=1)
        decoded, dec_s = timed(lambda: codec.decode(data), codec, repeats=1)
        return data, decoded, enc_s, dec_s

    data, decoded, enc_s, dec_s = benchmark.pedantic(round_trip, rounds=1, iterations=1, warmup_rounds=0)
    assert np.array_equal(decoded, image), f"{name} on {item.id} ({dataset}) is not an exact round trip"
    benchmark.extra_info.update(image=item.id, enc_s=enc_s, dec_s=dec_s, bpp=metrics.bpp(len(data), *image.shape[:2]),
                                threads=THREADS)
    speed_goal(f"{name} round trip of {item.id} ({dataset}, {THREADS} threads)", enc_s + dec_s, GOAL_S)
