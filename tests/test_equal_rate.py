"""Equal-rate runs (``codecbench run --target-bpp``): the knob search, the records it writes, the report's table."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from codecbench.analysis.curves import curves
from codecbench.analysis.equal_rate import equal_rate_tables
from codecbench.analysis.gate import compare_records
from codecbench.cli import main
from codecbench.core.codec import CODECS, Codec, Setting, create_codec, register_codec
from codecbench.codecs.learned.weights import CheckpointError
from codecbench.core.errors import OptionError, ResultsError, SpecError
from codecbench.core.results import Record, read_records
from codecbench.core.targets import TOLERANCE, Target, parse_targets
from codecbench.datasets import get_dataset
from codecbench.engine.measure import encoded_bpp, measure
from codecbench.engine.rate_search import MAX_FLOAT_EVALUATIONS, search_knob
from codecbench.engine.runner import Runner
from codecbench.engine.targets import TargetRun
from tests.knobless_codec import FixedJpeg


# -- the search ---------------------------------------------------------
def _counting(function):
    calls = []

    def evaluate(value):
        calls.append(value)
        return function(value)
    return evaluate, calls


@pytest.mark.parametrize("seed", range(40))
def test_an_integer_knob_search_ends_at_the_closest_value_within_its_bound(seed):
    """Any monotone knob (rising or falling, with plateaus): the value chosen is the closest of the knob's values
    to the target, found in at most 2 + ceil(log2(n)) evaluations, each value evaluated once."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    steps = rng.choice([0.0, 0.02, 0.1, 0.5], size=n) * rng.random(n)
    curve = 0.05 + np.cumsum(steps)
    if seed % 2:
        curve = curve[::-1].copy()  # a falling knob (JPEG XL distance, a quantiser)
    target = Target("bpp", float(rng.uniform(curve.min() * 0.8, curve.max() * 1.2)))
    evaluate, calls = _counting(lambda v: float(curve[v - 3]))
    found = search_knob(Setting(int, 3, low=3, high=n + 2), evaluate, target)
    assert len(calls) == len(set(calls)) == found.evaluations <= 2 + math.ceil(math.log2(n))
    best = min(target.distance(v) for v in curve)
    assert target.distance(found.reached) == pytest.approx(best) or target.reached(found.reached)
    assert found.reached == curve[found.value - 3]


def test_a_target_out_of_reach_ends_after_the_two_ends():
    evaluate, calls = _counting(lambda v: 0.1 * v)
    found = search_knob(Setting(int, 5, low=1, high=100), evaluate, Target("bpp", 50.0))
    assert (found.value, found.evaluations, sorted(calls)) == (100, 2, [1, 100])


def test_a_float_knob_is_bisected_on_a_log_scale_to_the_tolerance_or_the_bound():
    evaluate, calls = _counting(lambda v: 1.02 * v)  # a rate knob that overshoots by 2 %
    found = search_knob(Setting(float, 1.0, low=0.01, high=24.0), evaluate, Target("bpp", 0.5))
    assert Target("bpp", 0.5).reached(found.reached) and found.evaluations <= MAX_FLOAT_EVALUATIONS
    assert all(len(f"{v:g}".replace(".", "").lstrip("0")) <= 4 for v in calls)  # readable specs
    evaluate, calls = _counting(lambda v: 30 + 10 * (v > 3.14159))  # a step: never on target
    found = search_knob(Setting(float, 1.0, low=0.01, high=24.0), evaluate, Target("psnr", 35.0))
    assert found.evaluations <= MAX_FLOAT_EVALUATIONS and len(calls) == len(set(calls))


def test_choices_are_searched_in_value_order_and_unbounded_knobs_refused():
    evaluate, calls = _counting(lambda v: {0: 0.1, 1: 0.2, 3: 0.4, 4: 0.8}[v])
    found = search_knob(Setting(int, 3, choices=(4, 0, 3, 1)), evaluate, Target("bpp", 0.45))
    assert (found.value, found.reached) == (3, 0.4) and found.evaluations <= 4
    with pytest.raises(SpecError, match="no range to search"):
        search_knob(Setting(float, 1.0), lambda v: v, Target("bpp", 1.0))


@pytest.mark.parametrize("text, metric", [("0", "bpp"), ("-1", "bpp"), ("nan", "psnr"), ("inf", "bpp"),
                                          ("abc", "bpp"), (" , ", "psnr")])
def test_bad_targets_are_option_errors(text, metric):
    with pytest.raises(OptionError):
        parse_targets(text, metric)


@pytest.mark.parametrize("bad", [{"target": "bpp=0"}, {"target": "ssim=0.9"}, {"target": "bpp=nan"},
                                 {"target": "bpp"}, {"target_encodes": 3}, {"target": "bpp=1", "target_encodes": -1}])
def test_a_record_with_an_impossible_target_is_refused_on_reading(bad):
    obj = {"codec": "jpeg", "spec": "jpeg:quality=5", "setting": 5, "dataset": "d", "image": "i", "width": 4,
           "height": 4, "bytes": 2, "bpp": 1.0, **bad}
    with pytest.raises(ResultsError, match="target"):
        Record.from_json(obj)


# -- real runs ----------------------------------------------------------
@pytest.fixture(scope="module")
def target_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("targets") / "results.json"
    argv = ["run", "--codecs", "jpeg,webp,png", "--datasets", "embedded", "--max-images", "2", "--target-bpp",
            "0.4,1.5", "--no-cache", "--out", str(out)]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        assert main(argv) == 0
    assert "png: a lossless codec has no rate to aim at" in stderr.getvalue()
    return out, argv


def test_each_record_is_the_knob_value_closest_to_its_target_on_its_image(target_run):
    """The property, checked with real encodes: no other quality of the codec comes closer on that image."""
    out, _ = target_run
    records = read_records(out)
    images = {item.id: item.load() for item in get_dataset("embedded", max_images=2)}
    assert len(records) == 2 * 2 * 2 and all(r.ok and r.target in ("bpp=0.4", "bpp=1.5") for r in records)
    for r in records:
        target = Target.parse(r.target)
        assert 0 < r.target_encodes <= 2 + math.ceil(math.log2(101))
        for other in (r.setting - 1, r.setting + 1):
            if 0 <= other <= 100:
                spec = r.spec.replace(f"quality={r.setting}", f"quality={other}")
                bpp = encoded_bpp(create_codec(spec, threads=1), images[r.image])
                assert target.distance(r.bpp) <= target.distance(bpp) or target.reached(r.bpp)


def test_a_resumed_target_run_measures_nothing_again(target_run, capsys):
    out, argv = target_run
    before = out.read_bytes()
    assert main(argv) == 0
    assert "0 measured" in capsys.readouterr().err
    assert json.loads(before)["records"] == json.loads(out.read_bytes())["records"]


def test_target_records_are_no_curve_points_and_are_not_gated(target_run):
    records = read_records(target_run[0])
    assert curves(records) == []
    sweep = [dataclasses.replace(r, target=None, target_encodes=None) for r in records[:1]]
    assert {r.key for r in sweep}.isdisjoint({r.key for r in records})  # the same image and spec, two records
    assert compare_records(records, []).ok  # nothing with a target is gated


def test_the_report_shows_the_equal_rate_table_with_the_spread(target_run, capsys):
    assert main(["report", str(target_run[0]), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "## At equal rate — embedded" in text
    assert "### At 0.4 bpp (cpu)" in text
    assert "### At 1.5 bpp" in text
    row = next(line for line in text.splitlines() if line.startswith("| webp |") and "images" in line)
    assert "vs jpeg" in text
    assert "2/2" in row
    assert "(" in row  # mean (min–max) of the reached bpp
    records = read_records(target_run[0])
    for table in equal_rate_tables(records, ["jpeg"]):
        for row in table.rows:
            reached = [r.bpp for r in records if r.codec == row.label and r.target == str(table.target)]
            assert (row.reached_min, row.reached_max) == (min(reached), max(reached))
            assert row.reached_mean == pytest.approx(sum(reached) / len(reached))
            assert row.on_target == sum(abs(v - table.target.value) <= TOLERANCE["bpp"] * table.target.value
                                        for v in reached)


@pytest.mark.parametrize("argv, message", [
    (["--target-bpp", "0"], "positive number"),
    (["--target-bpp", "x"], "positive number"),
    (["--target-psnr", ""], "no value given"),
    (["--target-bpp", "0.5", "--jobs", "2"], "--jobs 1"),
    (["--target-bpp", "0.5", "--isolate"], "--jobs 1"),
    (["--target-bpp", "0.5", "--codecs", "webp:quality=50"], "sets the rate knob"),
])
def test_bad_target_options_are_one_line_errors(argv, message, tmp_path, capsys):
    codecs = [] if "--codecs" in argv else ["--codecs", "jpeg"]
    assert main(["run", *codecs, *argv, "--max-images", "1", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error:")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


def test_a_codec_without_a_rate_knob_is_measured_once_and_marked():
    with CODECS.restoring():
        register_codec(FixedJpeg)  # a real codec whose rate cannot be set
        with Runner(["fixed-jpeg-test", "jpeg"], threads=1) as runner:
            records = list(TargetRun(runner, ["fixed-jpeg-test", "jpeg"],
                                     [Target("bpp", 0.5), Target("bpp", 2.0)]).run_dataset("embedded", max_images=1))
    fixed = [r for r in records if r.codec == "fixed-jpeg-test"]
    assert [r.target for r in fixed] == ["bpp=0.5", "bpp=2"] and all(r.target_encodes == 0 for r in fixed)
    assert fixed[0].bytes == fixed[1].bytes and fixed[0].enc_s == fixed[1].enc_s  # one measurement, twice
    table = equal_rate_tables(records, ["jpeg"])[0]
    assert [r.knobless for r in table.rows] == [True, False]


def test_a_psnr_target_ends_at_the_quality_closest_to_it():
    with Runner(["jpeg"], threads=1) as runner:
        (record,) = TargetRun(runner, ["jpeg"], [Target("psnr", 33.0)]).run_dataset("embedded", max_images=1)
    assert record.ok and record.target == "psnr=33" and record.target_encodes <= 9
    image = next(iter(get_dataset("embedded", max_images=1))).load()
    for other in (record.setting - 1, record.setting + 1):
        codec = create_codec(record.spec.replace(f"quality={record.setting}", f"quality={other}"), threads=1)
        psnr = measure(codec, image, metrics=("psnr",))["psnr"]
        assert abs(record.psnr - 33.0) <= abs(psnr - 33.0) or abs(record.psnr - 33.0) <= TOLERANCE["psnr"]


def test_knob_values_that_cannot_be_built_are_left_out_of_the_search_with_a_warning():
    """As the hyperprior's quality=2, whose checkpoint is not shipped: the search goes over the others."""
    with CODECS.restoring():
        @register_codec
        class SteppedJpeg(Codec):  # a real codec with checkpoint-like steps, one of them missing
            name = "stepped-jpeg-test"
            param = "step"
            settings = {"step": Setting(int, 1, choices=(0, 1, 2, 3))}
            channels = (3,)

            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                if self.config["step"] == 2:
                    raise CheckpointError("checkpoint step-2.pt is missing")

            def _encode(self, image):
                out = io.BytesIO()
                Image.fromarray(image).save(out, "JPEG", quality=(10, 40, 70, 95)[self.config["step"]])
                return out.getvalue()

            def _decode(self, data):
                return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

        with Runner(["stepped-jpeg-test"], threads=1) as runner:
            with pytest.warns(UserWarning, match=r"left out of the search: 2 \(CheckpointError: checkpoint step-2"):
                records = list(TargetRun(runner, ["stepped-jpeg-test"], [Target("bpp", 3.0)]).run_dataset(
                    "embedded", max_images=1))
    assert [r.ok for r in records] == [True] and records[0].setting in (0, 1, 3)


def test_a_verdict_names_the_rate_gap_when_the_two_missed_the_target_differently():
    from codecbench.analysis.bootstrap import Estimate
    from codecbench.analysis.equal_rate import EqualRateRow, EqualRateTable, Paired
    from codecbench.render.confidence import equal_rate_markdown

    worse = Estimate(-2.3, -2.7, -1.9, 24)
    rows = [EqualRateRow("coarse", 0.69, 0.57, 0.94, 0, Estimate(30.5, 29.5, 31.4, 24),
                         versus=Paired(worse, 0, reached_gap=-31.0)),
            EqualRateRow("fine", 1.0, 0.99, 1.01, 20, Estimate(30.5, 29.5, 31.4, 24),
                         versus=Paired(worse, 0, reached_gap=1.5))]
    text = "\n".join(equal_rate_markdown([EqualRateTable("kodak", "cpu", Target("bpp", 1.0), "jpeg", rows)], 1000))
    assert "worse (interval excludes 0); at -31 % bpp against the anchor's" in text
    fine = next(line for line in text.splitlines() if line.startswith("| fine |"))
    assert fine.endswith("| worse (interval excludes 0) |")
