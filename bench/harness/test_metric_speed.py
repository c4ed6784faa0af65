"""Cost of each metric on Kodak, as a ratio to SSIM + MS-SSIM measured in the same run.

One of the harness's own benchmarks (``pytest bench/harness/test_metric_speed.py --benchmark-only``). On the
first :data:`IMAGES` Kodak images, each decoded from libjpeg quality 40, every metric that can be computed here
is timed as the CPU time (this thread's and that of any program it ran) of one ``score`` call per image, the
median over images of the best of :data:`REPEATS`: "warm" with the original's side already kept
(:mod:`codecbench.core.refcache`, the case of every setting after an image's first), "cold" without.
``extra_info`` has the milliseconds and the ratios; the goal (SSIMULACRA 2 warm ≤ 6× SSIM + MS-SSIM, that is
≤ 100 ms where those take 17 ms) is a speed-goal figure, never a failure. Skipped without the Kodak images.
"""

from __future__ import annotations

import io
import resource
import time

import numpy as np
import pytest
from PIL import Image

from codecbench.core import metrics, refcache
from codecbench.core.errors import DatasetError
from codecbench.datasets import get_dataset

IMAGES, REPEATS = 4, 3
#: SSIMULACRA 2's goal as a multiple of SSIM + MS-SSIM's time
SSIMULACRA2_GOAL = 6.0


def _cpu_s() -> float:
    """This thread's CPU time plus that of the finished child processes (the external metrics' programs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time() + children.ru_utime + children.ru_stime


def _cpu_ms(call, pairs, cold: bool) -> float:
    per_image = []
    for original, decoded in pairs:
        call(original, decoded)  # the first call of an image keeps its reference side
        best = np.inf
        for _ in range(REPEATS):
            if cold:
                refcache.clear()
            start = _cpu_s()
            call(original, decoded)
            best = min(best, _cpu_s() - start)
        per_image.append(best)
    return 1e3 * float(np.median(per_image))


@pytest.fixture(scope="module")
def kodak_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    try:
        items = list(get_dataset("kodak", max_images=IMAGES))
    except DatasetError as exc:
        pytest.skip(f"the kodak dataset is not available: {exc}")
    pairs = []
    for item in items:
        image = item.load()
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=40)
        pairs.append((image, np.asarray(Image.open(buffer).convert("RGB"))))
    return pairs


def _computable() -> list[str]:
    return [name for name, m in metrics.METRICS.items() if m.unavailable is None or m.unavailable() is None]


@pytest.mark.parametrize("name", _computable())
def test_metric_cost_relative_to_ssim(benchmark, speed_goal, kodak_pairs, name: str) -> None:
    ssim_ms = _cpu_ms(lambda a, b: metrics.score(a, b, ["ssim", "ms_ssim"]), kodak_pairs, cold=False)
    warm, cold = (_cpu_ms(lambda a, b: metrics.score(a, b, [name]), kodak_pairs, cold) for cold in (False, True))
    benchmark.pedantic(lambda: metrics.score(*kodak_pairs[0], [name]), rounds=1, iterations=1)
    benchmark.extra_info.update(metric=name, warm_ms=warm, cold_ms=cold, ssim_ms_ssim_ms=ssim_ms,
                                warm_ratio=warm / ssim_ms, cold_ratio=cold / ssim_ms, images=len(kodak_pairs))
    if name == "ssimulacra2":
        speed_goal("SSIMULACRA 2 per Kodak image over SSIM + MS-SSIM", warm / ssim_ms, SSIMULACRA2_GOAL, unit="×")
