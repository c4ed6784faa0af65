"""Every report format carries the same RD analysis: equal-rate tables, BD-rates with their intervals over images,
per-image BD-rates, "better on k of n", verdicts and reference provenance, as the markdown report shows them."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from rd_helpers import jpeg_records, photos

from codecbench.analysis.anchors import Configuration, pick_anchor
from codecbench.analysis.bd_confidence import bd_confidence_rows
from codecbench.analysis.equal_rate import equal_rate_tables
from codecbench.core import metrics
from codecbench.core.results import Record
from codecbench.render.formats import renderers
from codecbench.render.output import write_formats
from codecbench.render.rd import RDOptions
from codecbench.render.report_data import dataset_reports
from codecbench.render.report_json import VERSION

TARGET = 0.8  # bpp: inside what JPEG and WebP reach at some quality on every photo
QUALITIES = range(5, 100, 5)
RESAMPLES = 200
#: the BD-rate anchor (a curve label: the intervals need a measured curve by its label), then the equal-rate one
ANCHORS = "jpeg[subsampling=2],jpeg"


def _encode(image: np.ndarray, fmt: str, quality: int, **settings: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, quality=quality, **settings)
    return buf.getvalue()


def _at_target(codec: str, fmt: str, **settings: int) -> list[Record]:
    """A real equal-rate run, small: per photo, the quality whose Pillow ``fmt`` encode (with the fixed
    ``settings``) comes nearest ``TARGET``."""
    out = []
    fixed = "".join(f",{k}={v}" for k, v in settings.items())
    for name, image in photos():
        h, w, c = image.shape
        data = min((_encode(image, fmt, q, **settings) for q in QUALITIES),
                   key=lambda d: abs(metrics.bpp(len(d), h, w) - TARGET))
        quality = next(q for q in QUALITIES if _encode(image, fmt, q, **settings) == data)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        out.append(Record.build(codec=codec, spec=f"{codec}:quality={quality}{fixed}", setting=quality, knob="quality",
                                dataset="photos", image=name, width=w, height=h, channels=c, enc_s=0.001,
                                dec_s=0.001, bytes=len(data), bpp=metrics.bpp(len(data), h, w),
                                target=f"bpp={TARGET:g}", target_encodes=len(QUALITIES),
                                **metrics.score(image, decoded)))
    return out


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """Two JPEG curves (the anchor and 4:4:4) and an equal-rate run of JPEG and WebP, all on three photos."""
    return (jpeg_records((10, 40, 70)) + jpeg_records((20, 60, 90), subsampling=0)
            + _at_target("jpeg", "JPEG") + _at_target("webp", "WEBP"))


def _report(records, **options):
    options = {"anchor": ANCHORS, "bootstrap": RESAMPLES, **options}
    (report,) = dataset_reports(records, {"machine": "m"}, rd=RDOptions(**options))
    return report


def _render(report, fmt: str) -> str:
    (renderer,) = renderers([fmt])
    return renderer.render(report)


def _row(markdown: str, heading: str, label: str) -> list[str]:
    """The cells of the row of ``label`` in the first table under ``heading``."""
    block = markdown[markdown.index(heading):]
    line = next(line for line in block.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def _interval(est: dict, digits: int, unit: str = "", signed: bool = False) -> str:
    """An interval of the JSON data written as the markdown writes it."""
    spec = f"{'+' if signed else ''}.{digits}f"
    text = f"{est['value']:{spec}}{unit}"
    return text if est["low"] is None else f"{text} [{est['low']:{spec}}, {est['high']:{spec}}]"


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- json ----------------------------------------------------------------------------------------------------------
def test_json_equal_rate_tables_are_the_analysis_and_read_as_the_markdown(records):
    report = _report(records)
    data = json.loads(_render(report, "json"))
    markdown = _render(report, "markdown")
    assert data["version"] == VERSION == 2
    (expected,) = equal_rate_tables(records, ["jpeg"], resamples=RESAMPLES)
    (table,) = data["equal_rate"]
    assert (table["target"], table["target_metric"], table["outcome"], table["anchor"]) == (
        f"bpp={TARGET:g}", "bpp", "psnr", "jpeg")
    assert [r["label"] for r in table["rows"]] == [r.label for r in expected.rows] == ["jpeg", "webp"]
    for row, want in zip(table["rows"], expected.rows):
        assert row["reached_mean"] == pytest.approx(want.reached_mean)
        assert (row["reached_min"], row["reached_max"], row["on_target"]) == (
            want.reached_min, want.reached_max, want.on_target)
        assert (row["outcome"]["value"], row["outcome"]["low"], row["outcome"]["high"]) == (
            want.outcome.value, want.outcome.low, want.outcome.high)
        cells = _row(markdown, f"### At {TARGET:g} bpp", row["label"])
        assert cells[1] == f"{row['images']}/{row['images'] + row['failed']}"
        assert cells[4] == _interval(row["outcome"], 2)
    anchor, webp = table["rows"]
    assert anchor["anchor"] and anchor["diff"] is None and anchor["verdict"] is None
    diffs = [w.psnr - j.psnr for j, w in zip(*(sorted((r for r in records if r.target and r.codec == c),
                                                        key=lambda r: r.image) for c in ("jpeg", "webp")))]
    assert webp["diff"]["value"] == pytest.approx(np.mean(diffs))
    assert webp["better"] == sum(d > 0 for d in diffs) and webp["diff"]["n"] == len(photos())
    cells = _row(markdown, f"### At {TARGET:g} bpp", "webp")
    assert cells[5:] == [_interval(webp["diff"], 2, signed=True), f"{webp['better']} of 3 images",
                         webp["verdict_text"]]
    assert webp["verdict"] in ("better", "worse", "within")


def test_json_bd_rates_with_intervals_per_image_and_k_of_n_match_the_markdown(records):
    report = _report(records)
    data = json.loads(_render(report, "json"))
    markdown = _render(report, "markdown")
    confidence = data["confidence"]
    assert confidence["anchor"] == "jpeg[subsampling=2]" and f"{RESAMPLES} resamples" in confidence["method"]
    anchor = next(c for c in report.curves if c.label == "jpeg[subsampling=2]")
    (expected,) = bd_confidence_rows(report.curves, anchor, records, resamples=RESAMPLES)
    (row,) = confidence["rows"]
    assert row["of_means"]["value"] == expected.of_means.value and row["of_means"]["low"] == expected.of_means.low
    assert row["per_image"]["value"] == expected.per_image.value
    assert (row["better"], row["images"]) == (expected.better, expected.images) and row["images"] == 3
    cells = _row(markdown, "How sure: BD-rate against jpeg[subsampling=2]", row["label"])
    assert cells[1:] == [_interval(row["of_means"], 2, "%", signed=True), _interval(row["per_image"], 2, "%", True),
                         f"{row['better']} of {row['images']} images", row["verdict_text"]]


def test_a_difference_within_its_interval_says_so_in_every_format():
    """Hand-made equal-rate records: ``b`` is the anchor ± the same amounts, so its mean difference is 0."""
    offsets = [0.4, -0.4, 0.2, -0.2, 0.1, -0.1]

    def record(codec: str, image: int, psnr: float) -> Record:
        return Record.build(codec=codec, spec=f"{codec}:q=5", setting=5, knob="q", dataset="d", image=f"i{image}",
                            width=8, height=8, channels=3, bytes=4, bpp=0.5, psnr=psnr, enc_s=0.001, dec_s=0.001,
                            target="bpp=0.5", target_encodes=4)

    made = [record("a", i, 30 + i) for i in range(6)] + [record("b", i, 30 + i + d) for i, d in enumerate(offsets)]
    (report,) = dataset_reports(made, {"machine": "m"}, rd=RDOptions(anchor="a", bootstrap=RESAMPLES))
    row = json.loads(_render(report, "json"))["equal_rate"][0]["rows"][1]
    assert row["diff"]["low"] < 0 < row["diff"]["high"]
    assert row["verdict"] == "within" and row["verdict_text"] == "within the interval: no clear difference"
    assert _row(_render(report, "markdown"), "### At 0.5 bpp", "b")[-1] == row["verdict_text"]
    (extra,) = [t for s, t in renderers(["csv"])[0].extra_files(report).items() if s == ".equal-rate.csv"]
    assert _csv_rows(extra)[1]["verdict"] == "within"
    assert "verdict-" in _render(report, "html")  # the page marks verdicts (its script reads DATA)


# -- csv -----------------------------------------------------------------------------------------------------------
def test_csv_writes_the_analysis_tables_beside_the_points(records, tmp_path):
    report = _report(records)
    data = json.loads(_render(report, "json"))
    paths = write_formats([report], tmp_path, ["csv"])
    assert sorted(p.name for p in paths) == ["photos.bd-confidence.csv", "photos.csv", "photos.equal-rate.csv"]
    (bd,) = _csv_rows((tmp_path / "photos.bd-confidence.csv").read_text())
    (row,) = data["confidence"]["rows"]
    assert bd["anchor"] == "jpeg[subsampling=2]" and bd["label"] == row["label"] == "jpeg[subsampling=0]"
    for key in ("of_means", "per_image"):
        assert float(bd[key]) == row[key]["value"]
        assert (float(bd[f"{key}_low"]), float(bd[f"{key}_high"])) == (row[key]["low"], row[key]["high"])
    assert (int(bd["better"]), int(bd["images"]), bd["verdict_text"]) == (row["better"], row["images"],
                                                                          row["verdict_text"])
    rows = _csv_rows((tmp_path / "photos.equal-rate.csv").read_text())
    (table,) = data["equal_rate"]
    assert [r["label"] for r in rows] == [r["label"] for r in table["rows"]]
    for got, want in zip(rows, table["rows"]):
        assert (got["target"], got["outcome_metric"], got["anchor"]) == (table["target"], "psnr", "jpeg")
        assert float(got["reached_mean"]) == want["reached_mean"] and int(got["on_target"]) == want["on_target"]
        assert float(got["outcome"]) == want["outcome"]["value"] and float(got["outcome_low"]) == want["outcome"]["low"]
        assert got["diff"] == ("" if want["diff"] is None else str(want["diff"]["value"]))
        assert got["verdict_text"] == want["verdict_text"]
    # the points file is what it was: one row per curve point
    assert len(_csv_rows((tmp_path / "photos.csv").read_text())) == 6


def test_without_intervals_or_target_records_no_extra_table_is_made(records):
    report = _report(jpeg_records((10, 40, 70)) + jpeg_records((20, 60, 90), subsampling=0), bootstrap=0)
    data = json.loads(_render(report, "json"))
    assert data["confidence"] is None and data["equal_rate"] == [] and data["references"] == []
    assert renderers(["csv"])[0].extra_files(report) == {}
    report = _report(records, bootstrap=0)
    row = json.loads(_render(report, "json"))["equal_rate"][0]["rows"][1]
    assert row["diff"]["low"] is None and row["verdict"] == "no interval"


# -- references ----------------------------------------------------------------------------------------------------
def test_reference_provenance_is_in_json_html_and_csv_as_in_the_markdown(records, tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"name": "Ref", "description": "a published curve",
                                "provenance": {"source": "paper, table 2", "tool": "enc 1.0", "notes": "rounded"},
                                "results": {"bpp": [0.3, 0.6, 1.2], "psnr-rgb": [27.0, 30.0, 33.0]}}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"name": "Bare", "results": {"bpp": [0.3, 0.6], "psnr-rgb": [27.5, 30.5]}}))
    report = _report(records, references=[f"photos={path}", f"photos={bare}"])
    markdown = _render(report, "markdown")
    refs = json.loads(_render(report, "json"))["references"]
    assert [r["label"] for r in refs] == ["Ref", "Bare"]
    ref, no = refs
    assert ref["provenance"] == {"source": "paper, table 2", "tool": "enc 1.0", "version": "not recorded in the file",
                                 "configuration": "not recorded in the file",
                                 "conversion": "not recorded in the file", "notes": "rounded"}
    for key, text in ref["provenance"].items():
        assert f"  - {key}: {text}" in markdown
    assert no["provenance"] is None and f"  - provenance: {no['note']}" in markdown
    page = _render(report, "html")
    embedded = json.loads(re.search(r'id="codecbench-data">(.*?)</script>', page, re.S).group(1))
    assert embedded["references"] == refs and 'id="references"' in page
    (extra,) = [t for s, t in renderers(["csv"])[0].extra_files(report).items() if s == ".references.csv"]
    rows = _csv_rows(extra)
    assert rows[0]["tool"] == "enc 1.0" and rows[0]["provenance"] == "true"
    assert rows[1]["provenance"] == "false" and rows[1]["source"] == ""


# -- html ----------------------------------------------------------------------------------------------------------
def test_the_html_page_embeds_the_same_analysis_and_has_its_tables(records):
    report = _report(records)
    page = _render(report, "html")
    embedded = json.loads(re.search(r'id="codecbench-data">(.*?)</script>', page, re.S).group(1))
    data = json.loads(_render(report, "json"))
    for key in ("confidence", "equal_rate", "references", "version"):
        assert embedded[key] == data[key]
    for container in ('id="confidence"', 'id="equal-rate-tables"', 'href="#equal-rate"'):
        assert container in page
    for drawn in ("function confidence()", "function equalRate()", "function referenceCurves()"):
        assert drawn in page


def test_formats_may_be_given_comma_separated(records, tmp_path):
    assert [r.name for r in renderers(["html,csv", "json", "csv"])] == ["html", "csv", "json"]
    paths = write_formats([_report(records, bootstrap=0)], tmp_path, ["json,csv"])
    assert {p.name for p in paths} == {"photos.report.json", "photos.csv", "photos.equal-rate.csv"}


def test_the_analysis_is_computed_once_per_report_whatever_the_formats(records, monkeypatch):
    import codecbench.render.rd_analysis as rd_analysis

    calls = []
    real = rd_analysis.bd_confidence_rows
    monkeypatch.setattr(rd_analysis, "bd_confidence_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
    report = _report(records)
    for fmt in ("markdown", "json", "html", "csv"):
        _render(report, fmt)
    renderers(["csv"])[0].extra_files(report)
    assert calls == [1]


# -- anchors -------------------------------------------------------------------------------------------------------
def test_a_codec_anchor_with_several_configurations_picks_one_curve_for_every_section():
    """``--anchor jpeg`` with two JPEG configurations (curves and equal-rate runs alike, the 4:2:0 one listed
    first): the BD-rate table, "How sure", the equal-rate table and the charts' anchor are all the first label."""
    made = (jpeg_records((10, 40, 70)) + jpeg_records((20, 60, 90), subsampling=0)
            + _at_target("jpeg", "JPEG", subsampling=2) + _at_target("jpeg", "JPEG", subsampling=0))
    report = _report(made, anchor="jpeg")
    picked = "jpeg[subsampling=0]"
    data = json.loads(_render(report, "json"))
    markdown = _render(report, "markdown")
    assert [t["base"] for t in data["bd"]] == [picked]
    assert f"against the anchor **{picked}**" in markdown
    assert data["confidence"] is not None and data["confidence"]["anchor"] == picked
    (row,) = data["confidence"]["rows"]
    assert row["label"] == "jpeg[subsampling=2]" and row["images"] == 3
    assert _row(markdown, f"How sure: BD-rate against {picked}", row["label"])[-1] == row["verdict_text"]
    (table,) = data["equal_rate"]
    assert table["anchor"] == picked and [r["anchor"] for r in table["rows"]] == [True, False]
    assert table["rows"][1]["diff"]["n"] == 3
    assert [c["label"] for c in data["curves"] if c["anchor"]] == [picked]
    (bd,) = _csv_rows(renderers(["csv"])[0].extra_files(report)[".bd-confidence.csv"])
    assert bd["anchor"] == picked


def test_the_anchor_rule_label_first_then_the_codecs_first_label_on_the_cpu_first():
    cpu, gpu = Configuration("jpeg[q=1]@cpu", "jpeg", "cpu"), Configuration("jpeg[a=1]@cuda", "jpeg", "cuda")
    ref = Configuration("jpeg", "Ref", "cpu", reference=True)
    assert pick_anchor([gpu, cpu, ref], "jpeg") is ref  # a label first, a reference's too
    assert pick_anchor([gpu, cpu], "jpeg") is cpu
    assert pick_anchor([gpu], "jpeg") is gpu and pick_anchor([gpu], "webp") is None
    measured = Configuration("jpeg", "jpeg", "cpu")
    assert pick_anchor([ref, measured], "jpeg") is measured
    assert pick_anchor([ref], "Ref") is None  # a reference is picked by its label only
