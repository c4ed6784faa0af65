"""The helpers of the CompressAI comparison benchmark (bench/harness/compressai_peer.py), without CompressAI itself."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from codecbench.core.errors import ResultsError
from codecbench.core.results import Record
from conftest import REPO

_spec = importlib.util.spec_from_file_location("compressai_peer", REPO / "bench" / "harness" / "compressai_peer.py")
peer = sys.modules.setdefault("compressai_peer", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(peer)


def _output(**results):
    return json.dumps({"name": "JPEG", "description": "JPEG. Pillow version 13.0.0", "results": results})


def test_parse_maps_ascending_qualities_to_values():
    text = _output(bpp=[0.2, 0.5, 4.0], **{"psnr-rgb": [23.0, 26.5, 41.0], "ms-ssim-rgb": [0.8, 0.9, 0.99],
                                                      "encoding_time": [0.01, 0.01, 0.02]})
    parsed = peer.parse_bench_output(text, [95, 1, 5])  # CompressAI sorts -q; so do we
    assert list(parsed) == [1, 5, 95]
    assert parsed[5] == {"bpp": 0.5, "psnr-rgb": 26.5, "ms-ssim-rgb": 0.9, "encoding_time": 0.01}
    assert parsed[95]["psnr-rgb"] == 41.0


@pytest.mark.parametrize("text, message", [
    ("JPEG | quality: 1/9", "not JSON"),
    (json.dumps([1, 2]), 'no "results"'),
    (_output(bpp=[0.2, 0.5], **{"psnr-rgb": [23.0, 26.5]}), "lacks ms-ssim-rgb"),
    (_output(bpp=[0.2], **{"psnr-rgb": [23.0, 26.5], "ms-ssim-rgb": [0.8, 0.9]}), '"bpp" is not a list of 2'),
    (_output(bpp=[0.2, None], **{"psnr-rgb": [23.0, 26.5], "ms-ssim-rgb": [0.8, 0.9]}), "not a number"),
    (_output(bpp=[0.2, True], **{"psnr-rgb": [23.0, 26.5], "ms-ssim-rgb": [0.8, 0.9]}), "not a number"),
])
def test_parse_rejects_malformed_output(text, message):
    with pytest.raises(ResultsError, match=message):
        peer.parse_bench_output(text, [1, 5])


def _record(quality, image, psnr, **extra):
    return Record(codec="jpeg", spec=f"jpeg:quality={quality}", setting=quality, dataset="kodak", image=image,
                  width=768, height=512, bytes=1000, bpp=1000 * 8 / (768 * 512), psnr=psnr, **extra)


def test_codecbench_means_are_per_quality_means_over_images():
    records = [_record(10, "kodim01", 28.0), _record(10, "kodim02", 31.0), _record(50, "kodim01", 34.5)]
    means = peer.codecbench_means(records, ["psnr", "bpp"])
    assert list(means) == [10, 50]
    assert means[10]["psnr"] == pytest.approx(29.5) and means[50]["psnr"] == 34.5
    assert means[10]["bpp"] == pytest.approx(8000 / (768 * 512))


def test_codecbench_means_refuse_failed_or_incomplete_records():
    with pytest.raises(ResultsError, match="kodim02 failed: boom"):
        peer.codecbench_means([_record(10, "kodim01", 28.0), _record(10, "kodim02", None, error="boom")], ["psnr"])
    with pytest.raises(ResultsError, match="no ms_ssim"):
        peer.codecbench_means([_record(10, "kodim01", 28.0)], ["psnr", "ms_ssim"])


def test_psnr_differences_per_quality_and_same_qualities_required():
    ours = {1: {"psnr": 23.5}, 5: {"psnr": 27.0}}
    diffs = peer.psnr_differences(ours, {1: {"psnr-rgb": 23.0}, 5: {"psnr-rgb": 27.25}})
    assert diffs == {1: pytest.approx(0.5), 5: pytest.approx(-0.25)}
    with pytest.raises(ResultsError, match="qualities differ"):
        peer.psnr_differences(ours, {1: {"psnr-rgb": 23.0}})


def test_bench_command_passes_qualities_jobs_and_every_metric(tmp_path):
    cmd = peer.bench_command("/venv/bin/python", tmp_path, [1, 5, 95], jobs=2)
    assert cmd == ["/venv/bin/python", "-m", "compressai.utils.bench", "jpeg", str(tmp_path), "-q", "1,5,95",
                   "-j", "2", "--metrics", "psnr-rgb", "ms-ssim-rgb"]


def test_find_peer_says_why_it_is_absent(tmp_path):
    assert peer.find_peer({})[0] is None and "CODECBENCH_COMPRESSAI_PYTHON is not set" in peer.find_peer({})[1]
    found, why = peer.find_peer({peer.PYTHON_ENV: str(tmp_path / "nope")})
    assert found is None and "no such file" in why
    # the project's own python has no compressai (it cannot: torchvision and numpy<2)
    found, why = peer.find_peer({peer.PYTHON_ENV: sys.executable})
    assert found is None
    assert "cannot import compressai's bench loop" in why
    assert "compressai" in why.split(":")[-1]


def test_timed_returns_stdout_wall_and_cpu_seconds_and_raises_on_failure():
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nprint('hello')"
    run = peer.timed([sys.executable, "-c", spin])
    assert run.stdout == "hello\n"
    assert run.wall_s >= run.cpu_s * 0.9
    assert run.cpu_s >= 0.3
    idle = peer.timed([sys.executable, "-c", "import time; time.sleep(0.5)"])
    assert idle.wall_s >= 0.5 and idle.cpu_s < 0.4  # sleeping costs wall time, not CPU time
    with pytest.raises(ResultsError, match="status 3: bad thing"):
        peer.timed([sys.executable, "-c", "import sys; sys.stderr.write('bad thing\\n'); sys.exit(3)"])


def test_link_images_holds_exactly_the_given_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.png", "b.png", "notes.txt"):
        (src / name).write_bytes(name.encode())
    folder = peer.link_images([src / "a.png", src / "b.png"], tmp_path / "peer")
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "b.png"]
    assert (folder / "b.png").read_bytes() == b"b.png"


def test_same_measurements_ignores_times_and_order_but_not_values():
    serial = [_record(10, "kodim01", 28.0, enc_s=0.01), _record(10, "kodim02", 31.0, enc_s=0.02)]
    parallel = [_record(10, "kodim02", 31.0, enc_s=0.05), _record(10, "kodim01", 28.0, enc_s=0.04)]
    assert peer.same_measurements(serial, parallel)
    assert not peer.same_measurements(serial, [_record(10, "kodim01", 28.0), _record(10, "kodim02", 31.001)])
    assert not peer.same_measurements(serial, serial[:1])
