"""`pytest bench --target-bpp/--target-psnr` in a subprocess: equal-rate cases, searched as `codecbench run` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from codecbench.core.codec import create_codec
from codecbench.core.results import read_results
from codecbench.core.targets import Target
from codecbench.engine.measure import encoded_bpp, measure
from codecbench.engine.runner import Runner
from codecbench.engine.targets import TargetRun
from codecbench.datasets import get_dataset
from codecbench.integrations.bench_session import SESSION_TIMED_REGION
from codecbench.integrations.bench_targets import SEARCH_UNTIMED
from codecbench.render.confidence import KNOBLESS
from tests.conftest import REPO, nested_pytest_env, smooth_image

#: the plug-in module that registers :class:`tests.knobless_codec.FixedJpeg` in the nested session (``-p``)
FIXED_CODEC = "from codecbench.core.codec import register_codec\nfrom tests.knobless_codec import FixedJpeg\n\n" \
              "register_codec(FixedJpeg)\n"

TARGETS = ("bpp=1", "bpp=2", "psnr=38")


def run_bench(tmp_path, *args: str, plugin_dir=None) -> subprocess.CompletedProcess:
    extra = {"PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_dir or ""), os.environ.get("PYTHONPATH", "")]))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "bench" / "test_codecs.py"), "-p", "no:cacheprovider",
         "--benchmark-only", "--rounds", "1", "--report-dir", str(tmp_path / "reports"), *args],
        capture_output=True, text=True, cwd=REPO, timeout=600, env=nested_pytest_env(**extra))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two synthetic photos on which JPEG and WebP reach 1 and 2 bpp (their rate knobs span about 0.2–6.7 bpp)."""
    path = tmp_path_factory.mktemp("target-images")
    for i, (h, w) in enumerate([(128, 160), (144, 112)]):
        Image.fromarray(smooth_image(h, w, i)).save(path / f"img{i}.png")
    return path


@pytest.fixture(scope="module")
def session(folder, tmp_path_factory):
    """One session: jpeg, webp (searched), png (lossless: left out), fixed-jpeg-test (knobless) at three targets."""
    tmp = tmp_path_factory.mktemp("target-session")
    (tmp / "cb_fixed_jpeg_test.py").write_text(FIXED_CODEC)
    done = run_bench(tmp, "-p", "cb_fixed_jpeg_test", "--codecs", "jpeg,webp,png,fixed-jpeg-test",
                     "--datasets", f"folder:{folder}", "--target-bpp", "1,2", "--target-psnr", "38",
                     "--benchmark-json", str(tmp / "b.json"), "-v", plugin_dir=tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    benchmarks = json.loads((tmp / "b.json").read_text())["benchmarks"]
    report = next((tmp / "reports").glob("*.md"))
    meta, records = read_results(report.with_suffix(".json"))
    return done.stdout, benchmarks, report.read_text(), meta, records


def test_each_configuration_and_target_is_a_case_named_by_its_target(session, folder):
    out, benchmarks, _, _, records = session
    assert "14 passed" in out  # (jpeg, webp) × 3 targets + one knobless case, × (encode, decode)
    assert "png: a lossless codec has no rate to aim at" in out and not any(r.codec == "png" for r in records)
    names = {b["name"] for b in benchmarks}
    for codec in ("jpeg", "webp"):
        for target in TARGETS:
            assert f"test_encode[{codec}-{target}-folder:{folder}-cpu]" in names
    assert f"test_decode[fixed-jpeg-test-knobless-folder:{folder}-cpu]" in names
    groups = {b["group"] for b in benchmarks if b["extra_info"]["target"] == "bpp=1"}
    assert groups == {f"bpp=1 folder:{folder} cpu"}  # pytest-benchmark compares the codecs at one rate


def test_each_image_is_timed_at_the_setting_the_engine_search_finds(session, folder):
    """The records hold the setting `codecbench run --target-*` finds on each image, its target and encodes; the
    search's result is the closest knob value (a neighbour is no closer unless both are on target)."""
    _, benchmarks, _, meta, records = session
    images = {item.id: item.load() for item in get_dataset(f"folder:{folder}")}
    searched = [r for r in records if r.codec in ("jpeg", "webp")]
    assert len(searched) == 2 * len(TARGETS) * len(images) and all(r.ok for r in searched)
    with Runner(["jpeg", "webp"], threads=1) as runner:
        engine = {(r.spec, r.image, r.target) for r in TargetRun(
            runner, ["jpeg", "webp"], [Target.parse(t) for t in TARGETS]).run_dataset(f"folder:{folder}")}
    assert {(r.spec, r.image, r.target) for r in searched} == engine
    for r in searched:
        target = Target.parse(r.target)
        reached = getattr(r, target.metric)
        assert r.target_encodes > 0 and r.enc_s is not None and r.dec_s is not None
        for other in (r.setting - 1, r.setting + 1):
            if 1 <= other <= 100 and not target.reached(reached):
                codec = create_codec(r.spec.replace(f"quality={r.setting}", f"quality={other}"), threads=1)
                near = (encoded_bpp(codec, images[r.image]) if target.metric == "bpp"
                        else measure(codec, images[r.image], metrics=("psnr",))["psnr"])
                assert target.distance(reached) <= target.distance(near)
    assert meta["timed_region"] == SESSION_TIMED_REGION + SEARCH_UNTIMED


def test_extra_info_holds_the_target_and_what_each_image_reached(session):
    _, benchmarks, _, _, records = session
    for b in benchmarks:
        info = b["extra_info"]
        if info["codec"] == "fixed-jpeg-test":
            assert info["target"] == "knobless" and info["targets"] == list(TARGETS)
            continue
        mine = {r.image: r for r in records if r.spec.startswith(info["codec"]) and r.target == info["target"]}
        assert [(f["image"], f["setting"], f["bpp"], f["target_encodes"]) for f in info["found"]] == [
            (r.image, r.setting, r.bpp, r.target_encodes) for r in mine.values()]
        target = Target.parse(info["target"])
        assert info["on_target"] == sum(target.reached(getattr(r, target.metric)) for r in mine.values())
        assert info["bpp"] == pytest.approx(sum(r.bpp for r in mine.values()) / len(mine))


def test_a_knobless_codec_is_measured_once_and_marked_at_every_target(session):
    _, _, report, _, records = session
    fixed = [r for r in records if r.codec == "fixed-jpeg-test"]
    assert sorted({r.target for r in fixed}) == sorted(TARGETS) and len(fixed) == 2 * len(TARGETS)
    assert all(r.ok and r.target_encodes == 0 and r.enc_s is not None for r in fixed)
    by_image = {}
    for r in fixed:  # one measurement, written for each target
        by_image.setdefault(r.image, set()).add((r.bytes, r.enc_s, r.dec_s))
    assert all(len(measured) == 1 for measured in by_image.values())
    assert KNOBLESS in report


def test_the_report_shows_the_equal_rate_tables(session, folder):
    _, _, report, _, records = session
    assert f"## At equal rate — folder:{folder}" in report
    for title in ("### At 1 bpp (cpu)", "### At 2 bpp (cpu)", "### At 38 dB PSNR (cpu)"):
        assert title in report
    at_1 = report.split("### At 1 bpp (cpu)")[1].split("###")[0]
    row = next(line for line in at_1.splitlines() if line.startswith("| webp |"))
    reached = [r.bpp for r in records if r.codec == "webp" and r.target == "bpp=1"]
    assert f"{sum(reached) / len(reached):.4f} ({min(reached):.4f}–{max(reached):.4f})" in row
    assert "vs jpeg" in at_1


@pytest.mark.parametrize("args, message", [
    (["--target-bpp", "-1"], "a bpp target must be a positive number, not -1.0"),
    (["--target-psnr", "nan"], "a psnr target must be a positive number, not nan"),
    (["--target-bpp="], "--target-bpp: no value given"),
    (["--target-bpp", "0.5", "--codecs", "jpeg:quality=50"], "sets the rate knob 'quality'"),
    (["--target-psnr", "35", "--codecs", "png"], "every codec selected is lossless"),
])
def test_bad_targets_are_one_line_usage_errors(args, message, folder, tmp_path):
    codecs = [] if "--codecs" in args else ["--codecs", "jpeg"]
    done = run_bench(tmp_path, *codecs, *args, "--datasets", f"folder:{folder}")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and message in lines[0], done.stderr
    assert not (tmp_path / "reports").exists()


def test_under_xdist_the_searched_settings_are_the_serial_ones(session, folder, tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (it is in the dev extra)")
    done = run_bench(tmp_path, "-n", "2", "--codecs", "jpeg,webp", "--datasets", f"folder:{folder}",
                     "--target-bpp", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, records = read_results(next((tmp_path / "reports").glob("*.json")))
    serial = {(r.spec, r.image, r.target_encodes) for r in session[4]
              if r.target == "bpp=1" and r.codec != "fixed-jpeg-test"}
    assert {(r.spec, r.image, r.target_encodes) for r in records} == serial
    assert all(r.target == "bpp=1" and r.enc_s is None for r in records)  # xdist times nothing
