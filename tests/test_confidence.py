"""How sure a difference is: bootstrap intervals over images, per-image BD-rates, the report's verdicts."""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np
import pytest
from rd_helpers import jpeg_records, photos

from codecbench.analysis import bootstrap
from codecbench.analysis.bd_confidence import bd_confidence, curve_samples
from codecbench.analysis.bdrate import bd_rate
from codecbench.analysis.curves import curves
from codecbench.render.confidence import verdict
from codecbench.render.rd import RDOptions, rd_section


def test_the_mean_interval_is_the_percentile_interval_of_resampled_means_and_repeatable():
    values = np.random.default_rng(3).normal(30, 2, size=24)
    estimate = bootstrap.mean_estimate(values)
    assert estimate == bootstrap.mean_estimate(values)  # fixed seed
    rows = bootstrap.resample_indices(24)
    assert rows.shape == (bootstrap.RESAMPLES, 24) and bootstrap.RESAMPLES >= 1000
    naive = sorted(statistics.fmean(values[i] for i in row) for row in rows)  # one resample at a time
    assert (estimate.low, estimate.high) == pytest.approx(tuple(np.percentile(naive, [2.5, 97.5])))
    assert estimate.low < estimate.value < estimate.high and estimate.n == 24
    assert bootstrap.mean_estimate(values[:1]).low is None  # one image: no interval


def test_more_images_of_the_same_spread_give_a_narrower_interval():
    rng = np.random.default_rng(5)
    narrow, wide = bootstrap.mean_estimate(rng.normal(0, 1, 400)), bootstrap.mean_estimate(rng.normal(0, 1, 16))
    assert narrow.high - narrow.low < (wide.high - wide.low) / 2


@pytest.fixture(scope="module")
def two_configurations():
    """Real JPEG at 4:2:0 and at 4:4:4 on three photographs: two curves of one codec."""
    records = jpeg_records(subsampling=2) + jpeg_records(subsampling=0)
    by_label = {c.label: c for c in curves(records)}
    return records, by_label["jpeg[subsampling=2]"], by_label["jpeg[subsampling=0]"]


def test_bd_confidence_holds_the_tables_figure_and_the_mean_of_per_image_bd_rates(two_configurations):
    records, anchor, test = two_configurations
    row = bd_confidence(anchor, test, records)
    assert row.of_means.value == bd_rate(anchor, test, "psnr").value  # the BD-rate table's figure
    assert row.of_means.low <= row.of_means.value <= row.of_means.high
    per_image = []
    for name, _ in photos():  # each image's own curves, through the same BD-rate function
        own = {c.label: c for c in curves([r for r in records if r.image == name])}
        per_image.append(bd_rate(own[anchor.label], own[test.label], "psnr").value)
    assert row.per_image.value == pytest.approx(statistics.fmean(per_image))
    assert (row.better, row.images) == (sum(v < 0 for v in per_image), len(photos()))


def test_a_curve_against_itself_is_within_its_interval(two_configurations):
    records, anchor, _ = two_configurations
    row = bd_confidence(anchor, anchor, records)
    assert row.of_means.value == pytest.approx(0, abs=1e-9) and row.better == 0
    assert verdict(row.of_means, better_below=True) == "within the interval: no clear difference"


def test_curves_over_other_images_or_references_get_no_interval_and_say_why(two_configurations):
    records, anchor, test = two_configurations
    fewer = [r for r in records if not (r.spec.endswith("subsampling=0") and r.image == "coffee")]
    assert bd_confidence(anchor, test, fewer).reason == "the two curves are means over different images"
    reference = dataclasses.replace(test, reference=True)
    assert bd_confidence(anchor, reference, records).reason == "a reference curve holds published means only"
    assert curve_samples(anchor, records).bpp.shape == (3, len(anchor.points))


def test_verdicts_read_the_side_of_zero_the_interval_lies_on():
    e = bootstrap.Estimate
    assert verdict(e(-5.0, -7.0, -3.0, 24), better_below=True).startswith("better")
    assert verdict(e(-5.0, -7.0, -3.0, 24), better_below=False).startswith("worse")
    assert verdict(e(1.0, -0.5, 2.5, 24), better_below=True).startswith("within the interval")
    assert verdict(e(1.0, None, None, 1), better_below=True) == "no interval"


def test_the_report_says_how_sure_each_bd_rate_is(two_configurations):
    records, anchor, _ = two_configurations
    text = rd_section(records, "photos", RDOptions(anchor=anchor.label, bootstrap=1000))
    assert "How sure: BD-rate against jpeg[subsampling=2] with 95 % intervals over images" in text
    row = next(line for line in text.splitlines() if line.startswith("| jpeg[subsampling=0] |") and "images" in line)
    assert "[" in row
    assert "of 3 images" in row
    assert "excludes 0" in row or "within the interval" in row
    assert "1000 resamples, seed 0" in text
    assert "How sure" not in rd_section(records, "photos", RDOptions(anchor=anchor.label, bootstrap=0))
