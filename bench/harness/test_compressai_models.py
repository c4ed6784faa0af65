"""The model adapters against CompressAI's own ``compress``/``decompress`` (issue 24), in the CompressAI peer venv.

Run when asked (``pytest bench/harness/test_compressai_models.py --benchmark-only -s``), when
``$CODECBENCH_COMPRESSAI_PYTHON`` names a python that imports compressai and codecbench
(``bench/harness/peers/compressai_venv.sh`` makes one); otherwise it skips with the reason. It installs
nothing. ``peers/compressai_models.py`` does the work in that python: ScaleHyperprior (``bmshj2018-hyperprior``)
and MeanScaleHyperprior (``mbt2018-mean``), randomly initialised and ``update()``-d, through the ``compressai``
adapter, and the same architectures with spread-out weights through the ``torch-model`` adapter, each beside
CompressAI's own calls on the first Kodak images (``$CODECBENCH_COMPARE_MAX_IMAGES``, default 3).

The test fails unless, on every image, both sides hold the same weights, write the same strings byte for byte
and (on one torch thread, as the adapter codes) decode the same 8-bit pixels, so the same PSNR; codecbench's
``payload_bpp`` must equal CompressAI's bpp and its ``bpp`` exceed it by the header alone. With torch's default
thread count CompressAI's decode may differ by a level in a few pixels (its float synthesis transform depends on
the thread count); that is reported, not failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from codecbench.core.errors import DatasetError
from codecbench.datasets.registry import get_dataset
from compressai_peer import find_peer

MODELS = ("bmshj2018-hyperprior", "mbt2018-mean")
QUALITY = 3
SCRIPT = Path(__file__).resolve().parent / "peers" / "compressai_models.py"
#: codecbench's header on a 768×512 image: container (≤ 20 bytes with the stride setting) and strings header
MAX_HEADER_BYTES = 40


def _peer_python() -> str:
    peer, why = find_peer()
    if peer is None:
        pytest.skip(why)
    probe = subprocess.run([peer.python, "-c", "import codecbench.codecs.learned.adapters, codecbench.engine.measure"],
                           capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no message)"])[-1]
        pytest.skip(f"the peer venv cannot import codecbench ({last}); rerun bench/harness/peers/compressai_venv.sh")
    return peer.python


def test_adapters_code_what_compressai_codes(benchmark, tmp_path):
    python = _peer_python()
    count = int(os.environ.get("CODECBENCH_COMPARE_MAX_IMAGES", "3"))
    try:
        paths = [str(p) for p in get_dataset("kodak", max_images=count).paths()]
    except DatasetError as exc:
        pytest.skip(f"Kodak is not available: {exc}")
    command = [python, str(SCRIPT), str(tmp_path), ",".join(MODELS), str(QUALITY), *paths]

    def run() -> dict:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    rows = result["rows"]
    benchmark.extra_info.update({"peer": result["versions"], "rows": rows,
                                 "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})
    print("\nadapters vs CompressAI:", json.dumps(result["versions"]))
    for row in rows:
        one, default = row["compressai_threads_1"], row["compressai_threads_default"]
        print(f"  {row['spec']} {row['image']}: bpp {row['bpp']:.6f}, payload_bpp {row['payload_bpp']:.6f}, "
              f"CompressAI bpp {one['bpp']:.6f}; PSNR {row['psnr']:.4f} dB, CompressAI {one['psnr_8bit']:.4f} dB "
              f"(8-bit), {one['psnr_float']:.4f} dB (float); same strings {one['same_strings']}, same pixels "
              f"{one['same_pixels']}; at {default['threads']} threads: same strings {default['same_strings']}, "
              f"{default['samples_differing']} samples differ by up to {default['max_difference']}")
    assert len(rows) == 2 * len(MODELS) * len(paths)
    for row in rows:
        one = row["compressai_threads_1"]
        where = f"{row['spec']} on {row['image']}"
        assert row["same_weights"], where
        assert one["same_strings"], where
        assert one["same_pixels"], where
        assert row["psnr"] == one["psnr_8bit"], where
        assert row["payload_bpp"] == pytest.approx(one["bpp"], rel=1e-12), where
        header_bits = (row["bpp"] - row["payload_bpp"]) * 768 * 512
        assert 0 < header_bits <= 8 * MAX_HEADER_BYTES, where
