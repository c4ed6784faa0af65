"""RD curves, BD-rate, fixed-rate interpolation, plots and CompressAI interchange."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rd_helpers import jpeg_records, synthetic_curve

from codecbench.core.errors import CodecbenchError, ResultsError
from codecbench.core.metrics import ms_ssim_db
from codecbench.analysis import bdrate
from codecbench.render import plots, rd_tables
from codecbench.analysis.compressai_json import (
    curve_to_compressai,
    export_curves,
    load_reference,
    parse_reference_arg,
    references_for,
)
from codecbench.analysis.curves import curves
from codecbench.core.results import Record
from codecbench.render.fmt import bd_value

BPP = np.array([0.15, 0.3, 0.6, 1.2, 2.4])
PSNR = np.array([27.0, 30.0, 33.5, 37.0, 41.0])


@pytest.fixture(scope="module")
def jpeg():
    return jpeg_records()


# -- BD-rate ---------------------------------------------------------------
@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_rate_of_a_curve_with_ten_percent_fewer_bits_is_minus_ten_percent(method):
    anchor = synthetic_curve("jpeg", BPP, PSNR)
    test = synthetic_curve("better", BPP * 0.9, PSNR)
    for metric in bdrate.BD_RATE_METRICS:
        bd = bdrate.bd_rate(anchor, test, metric, method=method)
        assert bd.value == pytest.approx(-10.0, abs=1e-9), metric
    assert bdrate.bd_rate(test, anchor, method=method).value == pytest.approx(100 / 0.9 - 100, abs=1e-9)


@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_psnr_of_a_curve_one_db_higher_is_one_db(method):
    anchor = synthetic_curve("jpeg", BPP, PSNR)
    test = synthetic_curve("up", BPP, PSNR + 1.0)
    assert bdrate.bd_quality(anchor, test, method=method).value == pytest.approx(1.0, abs=1e-9)
    assert bdrate.bd_rate(anchor, anchor, method=method).value == pytest.approx(0.0, abs=1e-12)


def test_bd_is_not_extrapolated_without_overlap():
    anchor = synthetic_curve("jpeg", BPP, PSNR)
    far = synthetic_curve("far", BPP * 50, PSNR + 20)  # no common PSNR range, no common rate range
    assert bd_value(bdrate.bd_rate(anchor, far)) == "n/a (no overlap)"
    assert bd_value(bdrate.bd_quality(anchor, far), "dB") == "n/a (no overlap)"
    sliver = synthetic_curve("sliver", BPP * 1.0, PSNR + 13.5)  # overlaps 27..41 only on 40.5..41
    assert bdrate.bd_rate(anchor, sliver).value is None
    assert bdrate.bd_rate(anchor, sliver, min_overlap=0.0).value is not None
    table = rd_tables.bd_table([anchor, far])
    assert "n/a (no overlap)" in table and "| far |" in table


def test_single_point_and_empty_curves_give_a_reason_not_a_number():
    anchor = synthetic_curve("jpeg", BPP, PSNR)
    one = synthetic_curve("one", [0.5], [32.0])
    assert bd_value(bdrate.bd_rate(anchor, one)) == "n/a (too few points)"
    nodata = synthetic_curve("none", [], [])
    assert bd_value(bdrate.bd_rate(anchor, nodata)) == "n/a (no data)"
    assert bdrate.quality_at(one, 0.5) == 32.0 and bdrate.quality_at(one, 0.6) is None


def test_non_monotonic_curve_is_reduced_to_its_envelope_and_noted():
    anchor = synthetic_curve("jpeg", BPP, PSNR)
    bumpy = synthetic_curve("bumpy", [0.15, 0.3, 0.45, 0.6, 1.2, 2.4], [27.0, 30.0, 29.0, 33.5, 37.0, 41.0])
    x, y, dropped = bdrate.curve_arrays(bumpy, "psnr")
    assert dropped == 1 and list(x) == [0.15, 0.3, 0.6, 1.2, 2.4]
    assert bdrate.bd_rate(anchor, bumpy).value == pytest.approx(0.0, abs=1e-9)
    assert "1 of 6 points not on the PSNR upper envelope" in rd_tables.bd_table([anchor, bumpy])


def test_fixed_rate_and_fixed_quality_only_inside_the_measured_range():
    c = synthetic_curve("jpeg", BPP, PSNR)
    assert bdrate.quality_at(c, 0.3) == pytest.approx(30.0)  # a measured point is reproduced
    assert bdrate.rate_at(c, 33.5) == pytest.approx(0.6)
    assert 30.0 < bdrate.quality_at(c, 0.5) < 33.5
    assert bdrate.quality_at(c, 0.1) is None and bdrate.quality_at(c, 3.0) is None
    assert bdrate.rate_at(c, 26.0) is None and bdrate.rate_at(c, 45.0) is None
    table = rd_tables.fixed_table([c, synthetic_curve("high", BPP * 4, PSNR + 8)])
    row = next(line for line in table.splitlines() if line.startswith("| high |"))
    assert row.count("—") == 3  # below 0.6 bpp and below 35 dB it has no measurement


def test_table_states_method_and_anchor_and_marks_references():
    anchor = synthetic_curve("jpeg", BPP, PSNR)
    ref = synthetic_curve("bpg", BPP * 0.7, PSNR, reference=True)
    for method in bdrate.METHODS:
        table = rd_tables.bd_table([anchor, ref], "jpeg", method=method)
        assert bdrate.METHOD_TEXT[method] in table
        assert "bpg (reference, not measured here) | 5 | -30.00%" in table
    assert "anchor `webp` has no lossy curve" in rd_tables.bd_table([anchor], "webp")
    with pytest.raises(CodecbenchError, match="unknown interpolation method"):
        rd_tables.bd_table([anchor], method="cubic-ish")
    # a reference curve may serve as the anchor, by its label
    assert "against the anchor **bpg (reference, not measured here)**" in rd_tables.bd_table([anchor, ref], "bpg")


# -- curves from real records ------------------------------------------------
def test_curve_points_are_arithmetic_means_over_images(jpeg):
    (curve,) = curves(jpeg)
    assert curve.codec == "jpeg"
    assert curve.label == "jpeg"
    assert curve.knob == "quality"
    assert [p.setting for p in curve.points] == [10, 25, 40, 55, 70, 85, 95]
    for p in curve.points:
        group = [r for r in jpeg if r.setting == p.setting]
        assert p.n_ok == p.n_total == 3
        assert p.bpp == pytest.approx(np.mean([r.bpp for r in group]), rel=1e-12)
        assert p.psnr == pytest.approx(np.mean([r.psnr for r in group]), rel=1e-12)
        assert p.ms_ssim_db == pytest.approx(ms_ssim_db(np.mean([r.ms_ssim for r in group])), rel=1e-12)
    # bpp grows with quality for real JPEG, and so does PSNR
    assert np.all(np.diff([p.bpp for p in curve.points]) > 0)
    assert np.all(np.diff([p.psnr for p in curve.points]) > 0)


def test_failed_images_are_counted_not_averaged_and_leave_the_bd_computation(jpeg):
    records = [Record(**{**r.__dict__}) for r in jpeg]
    victim = next(r for r in records if r.setting == 40 and r.image == "coffee")
    for f in ("bytes", "bpp", "psnr", "psnr_y", "ssim", "ms_ssim", "enc_s", "dec_s"):
        setattr(victim, f, None)
    victim.error = "EncodeError: boom"
    (curve,) = curves(records)
    p = next(p for p in curve.points if p.setting == 40)
    assert (p.n_ok, p.n_total, p.complete) == (2, 3, False)
    assert len(curve.series("psnr", complete_only=True)[0]) == 6
    table = rd_tables.bd_table([curve, synthetic_curve("x", BPP, PSNR)], "jpeg")
    assert "settings left out because images failed: 40 (2/3 ok)" in table


def test_labels_distinguish_configurations_of_one_codec(jpeg):
    other = jpeg_records((10, 40, 70), subsampling=0)
    labels = sorted(c.label for c in curves(jpeg + other))
    assert labels == ["jpeg[subsampling=0]", "jpeg[subsampling=2]"]
    cuda = [Record(**{**r.__dict__, "device": "cuda"}) for r in other]
    labels = sorted(c.label for c in curves(other + cuda))
    assert labels == ["jpeg@cpu", "jpeg@cuda"]


def test_real_jpeg_without_huffman_optimisation_costs_bits(jpeg):
    plain = jpeg_records(optimize=False)
    bd = bdrate.bd_rate(curves(jpeg)[0], curves(plain)[0])
    assert 2.0 < bd.value < 25.0  # same pixels, larger files: a positive BD-rate
    assert bdrate.bd_quality(curves(jpeg)[0], curves(plain)[0]).value < 0


# -- plots -------------------------------------------------------------------
def _curve_set():
    return [
        synthetic_curve("jpeg", BPP, PSNR),
        synthetic_curve("webp", BPP * 0.8, PSNR + 0.3),
        synthetic_curve("paper-model", BPP * 0.6, PSNR, reference=True),
    ]


def test_plots_are_written_per_dataset_and_byte_identical(tmp_path):
    first = plots.plot_dataset(_curve_set(), tmp_path / "a")
    second = plots.plot_dataset(_curve_set(), tmp_path / "b")
    assert sorted(first) == sorted(plots.PLOTS)
    for kind, path in first.items():
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data == second[kind].read_bytes(), kind
        assert b"matplotlib" not in data.lower() and b"Software" not in data
    md = plots.plots_markdown(first, tmp_path)
    assert "![PSNR vs rate](a/d-psnr.png)" in md


def test_plots_skip_what_has_no_data(tmp_path):
    c = synthetic_curve("jpeg", BPP, PSNR)
    for p in range(len(c.points)):
        c.points[p] = type(c.points[p])(**{**c.points[p].__dict__, "ms_ssim": None})
    written = plots.plot_dataset([c], tmp_path)
    assert "ms-ssim" not in written and "psnr" in written
    assert plots.plot_dataset([], tmp_path) == {}


# -- CompressAI interchange --------------------------------------------------
def test_export_matches_the_compressai_format_and_reimports(jpeg, tmp_path):
    (curve,) = curves(jpeg)
    doc = curve_to_compressai(curve)
    assert set(doc) == {"name", "description", "results"}
    assert set(doc["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    assert all(len(v) == len(curve.points) for v in doc["results"].values())
    assert "arithmetic mean over the dataset's images" in doc["description"]
    (path,) = export_curves(curves(jpeg), tmp_path)
    assert path == tmp_path / "photos" / "jpeg.json"
    ref = load_reference(path, "photos")
    assert ref.reference and ref.label == "jpeg"
    assert [p.bpp for p in ref.points] == pytest.approx([p.bpp for p in curve.points], rel=1e-15)
    assert [p.ms_ssim_db for p in ref.points] == pytest.approx([p.ms_ssim_db for p in curve.points], rel=1e-12)
    assert bdrate.bd_rate(curve, ref).value == pytest.approx(0.0, abs=1e-9)


def test_old_compressai_keys_and_reference_arguments(tmp_path):
    path = tmp_path / "paper.json"
    path.write_text(json.dumps({"name": "bmshj2018", "results": {"bpp": [0.5, 0.2], "psnr": [32.0, 29.0],
                                                                 "ms-ssim": [0.97, 0.94]}}))
    ref = load_reference(path, "kodak")
    assert [p.bpp for p in ref.points] == [0.2, 0.5] and ref.points[0].psnr == 29.0
    assert ref.points[1].ms_ssim_db == pytest.approx(-10 * math.log10(0.03))
    assert parse_reference_arg(f"kodak={path}") == ("kodak", path)
    assert parse_reference_arg(str(path)) == (None, path)
    assert [c.dataset for c in references_for([f"kodak={path}", str(path)], "kodak")] == ["kodak", "kodak"]
    assert len(references_for([f"kodak={path}"], "bsd300")) == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not JSON"),
        ('{"benchmarks": []}', "not a CompressAI results file"),
        ('{"results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}}', "has 1 values, results.bpp has 2"),
        ('{"results": {"bpp": [0.1], "psnr-rgb": ["x"]}}', "must be a number or null"),
        ('{"results": {"bpp": []}}', "empty"),
        ('{"results": {"bpp": [0.1]}}', "no quality metric"),
        ('{"results": {"bpp": [-1], "psnr": [3]}}', "positive"),
    ],
)
def test_bad_reference_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        load_reference(path)
    with pytest.raises(ResultsError, match="no such reference file"):
        load_reference(tmp_path / "missing.json")


# -- `codecbench report` with the RD analysis ------------------------------------
def test_report_command_writes_rd_tables_plots_references_and_exports(jpeg, tmp_path):
    from codecbench.cli import main

    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r.to_json()) + "\n" for r in jpeg), encoding="utf-8")
    ref = tmp_path / "paper.json"
    ref.write_text(json.dumps({"name": "paper-codec", "description": "published",
                               "results": {"bpp": [0.3, 0.6, 1.2, 2.4], "psnr-rgb": [28.0, 31.0, 34.0, 37.0]}}))
    out = tmp_path / "reports"
    assert main(["report", str(results), "--out", str(out), "--reference", f"photos={ref}", "--per-image", "2",
                 "--compressai", str(tmp_path / "cai"), "--method", "akima"]) == 0
    text = (out / "photos.md").read_text()
    assert "## Rate–distortion analysis — photos" in text
    assert "| paper-codec (reference, not measured here) | 4 |" in text
    assert "Akima interpolation" in text and "PSNR @ 0.25 bpp" in text
    assert "![PSNR vs rate](plots/photos-psnr.png)" in text and (out / "plots" / "photos-psnr.png").is_file()
    assert "Worst 2 images per codec" in text
    assert json.loads((tmp_path / "cai" / "photos" / "jpeg.json").read_text())["name"] == "jpeg"
    assert main(["report", str(results), "--out", str(tmp_path / "plain"), "--no-rd"]) == 0
    assert "Rate–distortion" not in (tmp_path / "plain" / "photos.md").read_text()
    assert main(["report", str(results), "--reference", str(tmp_path / "missing.json")]) == 2


def test_a_codec_keeps_its_colour_whatever_else_is_plotted():
    from codecbench.analysis.curves import Curve
    from codecbench.render.plots import CODEC_COLOURS, codec_colour, curve_styles

    def curve(codec: str, label: str) -> Curve:
        return Curve(codec=codec, label=label, dataset="d", device="cpu", points=[])

    alone = curve_styles([curve("webp", "webp")])
    crowded = curve_styles([curve(c, c) for c in ("avif", "jpeg", "my-plugin", "webp", "zeta")])
    assert alone["webp"][0] == crowded["webp"][0] == codec_colour("webp")
    assert len(set(CODEC_COLOURS.values())) == len(CODEC_COLOURS)  # the built-ins never share a colour
    assert codec_colour("VTM") == codec_colour("vtm")  # reference curves name codecs in capitals
    assert codec_colour("my-plugin") == crowded["my-plugin"][0]
    # a codec's configurations share its colour and differ by marker
    hevc = curve_styles([curve("hevc", "hevc"), curve("hevc", "hevc subsampling=4:4:4")])
    assert len({colour for colour, _ in hevc.values()}) == 1 and len({m for _, m in hevc.values()}) == 2


# -- `--file-size`: compression rate and ratio against the original files --------
def _sized(image: str, bytes_: int, source: int | None, *, lossless: bool = False, setting: int = 50) -> Record:
    codec = "png" if lossless else "jpeg"
    knob = "compress_level" if lossless else "quality"
    return Record(codec=codec, spec=f"{codec}:{knob}={setting}", setting=setting, dataset="tiny", image=image,
                  width=10, height=10, bytes=bytes_, bpp=8 * bytes_ / 100, psnr=None if lossless else 30.0,
                  lossless_ok=True if lossless else None, lossless=lossless,
                  source_bytes=source, source_format=None if source is None else "PNG")


def test_file_size_columns_are_per_image_means_against_the_original_files(tmp_path):
    from codecbench.cli import main
    from codecbench.render.markdown import render_reports

    records = [
        # jpeg: 100 and 300 of 1000 bytes → 90 % and 70 % smaller (mean 80.00), ratios 10 and 3.33 (mean 6.67)
        _sized("a", 100, 1000), _sized("b", 300, 1000),
        # png: 500 of 1000 and 400 of 800 → 50 % both, ratio 2; image c has no file size: over 2 of 3 images
        _sized("a", 500, 1000, lossless=True, setting=9), _sized("b", 400, 800, lossless=True, setting=9),
        _sized("c", 123, None, lossless=True, setting=9),
    ]
    (text,) = render_reports(records, file_size=True).values()
    assert ("- **Compression rate and ratio**: relative to the original files (PNG, as stored in the dataset): "
            "compression rate % = 100 × (1 − stored bytes / original file bytes), "
            "compression ratio = original file bytes / stored bytes") in text
    assert "only n of the row's ok images have an original file size" in text
    assert "| setting | ok/total | bpp | compression rate % | compression ratio | PSNR dB |" in text
    assert "| quality=50 | 2/2 | 16.0000 | 80.00 | 6.67 | 30.00 |" in text
    assert "| codec | setting | ok/total | bpp | compression rate % | compression ratio | exact |" in text
    assert "| png | compress_level=9 | 3/3 | 27.2800 | 50.00 (2/3) | 2.00 (2/3) | yes |" in text

    (plain,) = render_reports(records).values()
    assert "compression rate" not in plain.lower() and "compression ratio" not in plain

    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records), encoding="utf-8")
    assert main(["report", str(results), "--out", str(tmp_path / "sized"), "--no-rd", "--file-size"]) == 0
    assert "| quality=50 | 2/2 | 16.0000 | 80.00 | 6.67 |" in (tmp_path / "sized" / "tiny.md").read_text()
    assert main(["report", str(results), "--out", str(tmp_path / "plain"), "--no-rd"]) == 0
    assert "compression rate" not in (tmp_path / "plain" / "tiny.md").read_text()


def test_results_without_file_sizes_still_load_and_report(tmp_path, capsys):
    """A results file written before ``source_bytes``/``source_format`` existed."""
    from codecbench.cli import main
    from codecbench.core.results import SOURCE_FIELDS, read_records

    old = [{k: v for k, v in r.to_json().items() if k not in SOURCE_FIELDS}
           for r in (_sized("a", 100, 1000), _sized("b", 300, 1000))]
    results = tmp_path / "old.json"
    results.write_text(json.dumps({"meta": {"schema": 1}, "records": old}), encoding="utf-8")
    assert [(r.source_bytes, r.source_format) for r in read_records(results)] == [(None, None)] * 2
    assert main(["report", str(results), "--no-rd", "--file-size"]) == 0
    text = capsys.readouterr().out
    assert "- **Compression rate and ratio**: — (these results hold no original file sizes" in text
    assert "| quality=50 | 2/2 | 16.0000 | — | — | 30.00 |" in text
    assert main(["report", str(results), "--no-rd"]) == 0
    assert "| quality=50 | 2/2 | 16.0000 | 30.00 |" in capsys.readouterr().out
