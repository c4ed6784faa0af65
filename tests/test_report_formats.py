"""Report formats as peers (markdown, html, csv, json), the viewer pictures they embed, and their options."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image
from rd_helpers import jpeg_records
from report_helpers import measured_run

from codecbench.analysis.curves import curves
from codecbench.cli import main
from codecbench.core.errors import OptionError, ResultsError
from codecbench.core.pictures import MANIFEST, Picture, centre_crop, picture_data, read_manifest, save_picture
from codecbench.core.results import read_results
from codecbench.render.formats import RENDERERS, Renderer, renderers
from codecbench.render.markdown import render_reports
from codecbench.render.output import build_reports, write_formats
from codecbench.render.plots import codec_colour
from codecbench.render.rd import RDOptions, section_renderer
from codecbench.render.report_data import dataset_reports
from codecbench.render.report_json import report_dict
from codecbench.tools.pictures import PictureOptions, chosen_records, make_pictures
from tests.conftest import REPO, nested_pytest_env


def _records():
    return jpeg_records((10, 40, 70)) + jpeg_records((20, 60, 90), subsampling=0)


def _data(fmt: str, records=None, **kwargs) -> dict:
    (report,) = dataset_reports(records or _records(), None, **kwargs)
    (renderer,) = renderers([fmt])
    return renderer, report


# -- the interface -------------------------------------------------------------------------------------------------
def test_the_four_formats_are_registered_and_markdown_is_the_default():
    assert {"markdown", "html", "csv", "json"} <= set(RENDERERS.names())
    assert [r.name for r in renderers([])] == ["markdown"]
    assert [r.name for r in renderers(["html", "csv", "html"])] == ["html", "csv"]  # repeats dropped, order kept


def test_an_unknown_format_is_one_option_error_naming_the_known_ones():
    with pytest.raises(OptionError, match=r"unknown report format 'htm' \(did you mean 'html'\?\).*markdown"):
        renderers(["htm"])


def test_adding_a_format_is_one_registered_renderer(tmp_path):
    class Lines(Renderer):
        name, suffix = "lines", ".txt"

        def render(self, report):
            return "\n".join(sorted({r.image for r in report.records})) + "\n"

    with RENDERERS.restoring():
        RENDERERS.register(Lines())
        (path,) = write_formats(dataset_reports(_records(), None), tmp_path, ["lines"])
    assert path.name == "photos.txt" and path.read_text() == "astronaut\nchelsea\ncoffee\n"


def test_formats_other_than_markdown_need_a_folder(tmp_path):
    reports = dataset_reports(_records(), None)
    with pytest.raises(OptionError, match="--format json writes files"):
        write_formats(reports, None, ["markdown", "json"])


def test_markdown_is_byte_identical_to_the_section_renderer_path(tmp_path):
    records = _records()
    options = RDOptions(anchor="jpeg", per_image=2)
    old = render_reports(records, {"machine": "m"}, sections=[section_renderer(records, options)])
    assert build_reports(records, {"machine": "m"}, rd=options) == old
    (path,) = write_formats(dataset_reports(records, {"machine": "m"}, rd=options), tmp_path, [])
    assert path.read_bytes() == old["photos"].encode()


# -- csv and json -------------------------------------------------------------------------------------------------
def test_csv_has_one_row_per_curve_point_with_its_means():
    renderer, report = _data("csv")
    rows = list(csv.DictReader(io.StringIO(renderer.render(report))))
    points = [(c, p) for c in curves(_records()) for p in c.points]
    assert len(rows) == len(points) == 6
    for row, (curve, point) in zip(rows, points):
        assert (row["label"], row["spec"]) == (curve.label, point.spec)
        assert float(row["bpp"]) == point.bpp and float(row["psnr"]) == point.psnr
        assert float(row["enc_ms"]) == pytest.approx(point.enc_s * 1e3)
        assert row["n_ok"] == "3" and row["reference"] == "false"


def test_csv_leaves_a_missing_mean_empty():
    records = _records()
    records[0].psnr = None  # one image without the value: the mean is not formed
    renderer, report = _data("csv", records)
    row = next(r for r in csv.DictReader(io.StringIO(renderer.render(report))) if r["spec"] == records[0].spec)
    assert row["psnr"] == "" and row["ssim"] != ""


def test_json_holds_curves_tables_and_every_record():
    renderer, report = _data("json", rd=RDOptions(anchor="jpeg"))
    data = json.loads(renderer.render(report))
    assert data["format"] == "codecbench-report" and data["dataset"] == "photos"
    assert [c["label"] for c in data["curves"]] == [c.label for c in curves(_records())]
    assert {c["colour"] for c in data["curves"]} == {to_hex(codec_colour("jpeg"))}  # one colour per codec
    assert sorted(c["dash"] for c in data["curves"]) == ["dash", "solid"]  # the anchor dashed
    assert len(data["images"]["rows"]) == len(_records())
    (table,) = data["bd"]
    (row,) = table["rows"]
    assert row["bd_rate_psnr"]["value"] is not None or row["bd_rate_psnr"]["reason"]
    assert len(data["fixed"]["rows"]) == 2


def test_json_is_strict_json_where_values_are_missing():
    records = _records()
    for r in records[:3]:
        r.ms_ssim = None
    renderer, report = _data("json", records)
    json.loads(renderer.render(report), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


# -- html, without a browser (tests/test_html_report_browser.py opens it) ------------------------------------------
def test_html_is_one_self_contained_file():
    renderer, report = _data("html", rd=RDOptions(anchor="jpeg"))
    page = renderer.render(report)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page), "nothing is fetched"
    assert "plotly.js v" in page and "This file: " in page
    data = json.loads(re.search(r'id="codecbench-data">(.*?)</script>', page, re.S).group(1))
    assert data["dataset"] == "photos" and data["pictures"]["decodes"] == []


def test_html_survives_names_that_would_end_a_script():
    records = _records()
    for r in records:
        r.image = "</script><script>alert(1)</script>" + r.image
    renderer, report = _data("html", records)
    page = renderer.render(report)
    assert page.count("</script>") == 3  # the data, plotly.js and the page's own script: nothing else closes
    data = json.loads(re.search(r'id="codecbench-data">(.*?)</script>', page, re.S).group(1))
    assert data["images"]["rows"][0][2].startswith("</script>")


def test_html_states_its_size():
    renderer, report = _data("html")
    page = renderer.render(report)
    stated = float(re.search(r"This file: ([\d.]+) MB", page).group(1))
    assert stated == pytest.approx(len(page.encode()) / 1e6, abs=0.051)


# -- viewer pictures ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["webp", "png"])
@pytest.mark.parametrize("channels", [3, 1])
def test_pictures_are_kept_losslessly(tmp_path, fmt, channels):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 50, channels), dtype=np.uint8)
    crop = centre_crop(40, 50, 32)
    picture = save_picture(tmp_path, Picture("d", "i", "x:q=1", "cpu", "", crop, 50, 40), pixels, fmt)
    mime, data = picture_data(tmp_path, picture)
    assert mime == f"image/{fmt}"
    back = np.asarray(Image.open(io.BytesIO(data)).convert("L" if channels == 1 else "RGB"))  # WebP keeps gray as RGB
    x, y, w, h = crop
    assert np.array_equal(back.reshape(h, w, channels), pixels[y:y + h, x:x + w])


def test_a_manifest_path_out_of_its_folder_is_refused(tmp_path):
    row = {"dataset": "d", "image": "i", "spec": None, "device": "cpu", "file": "../../etc/passwd",
           "crop": [0, 0, 1, 1], "width": 1, "height": 1}
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "codecbench-pictures", "version": 1, "pictures": [row]}))
    with pytest.raises(ResultsError, match="leaves the folder"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("text", ["{", "[]", '{"format": "other"}', '{"format": "codecbench-pictures"}'])
def test_a_damaged_manifest_is_a_results_error(tmp_path, text):
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(ResultsError, match="unreadable pictures manifest"):
        read_manifest(tmp_path)


def test_a_picture_that_is_no_image_is_refused(tmp_path):
    (tmp_path / "x.webp").write_bytes(b"<html>")
    picture = Picture("d", "i", None, "cpu", "x.webp", (0, 0, 1, 1), 1, 1)
    with pytest.raises(ResultsError, match="not a PNG or WebP"):
        picture_data(tmp_path, picture)


def test_the_settings_nearest_each_target_rate_are_chosen():
    records = jpeg_records((10, 25, 40, 55, 70, 85, 95))
    by_spec = {c.points[i].spec: c.points[i].bpp for c in curves(records) for i in range(len(c.points))}
    chosen = {r.spec for r in chosen_records(records, (0.5, 1.0), "cpu")}
    for target in (0.5, 1.0):
        best = min(by_spec, key=lambda s: abs(np.log(by_spec[s] / target)))
        assert best in chosen
    assert len(chosen) <= 2


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A real run on two embedded images: results, viewer pictures and an html report."""
    folder = tmp_path_factory.mktemp("run")
    return folder, measured_run(folder)


def test_run_keeps_real_decodes_of_the_measured_streams(measured):
    folder, out = measured
    _, records = read_results(out)
    pictures = read_manifest(folder / "r.pictures")
    decodes = [p for p in pictures if p.spec is not None]
    assert len(decodes) == len(records) == 6 and sum(p.spec is None for p in pictures) == 2
    by_key = {(r.spec, r.image): r for r in records}
    for p in decodes:
        assert p.stream_bytes == by_key[p.spec, p.image].bytes  # the stream measured, re-made bit for bit in size
        assert p.crop[2:] == (64, 64)


def test_a_picture_is_the_codec_decode_of_its_stream(measured):
    from codecbench.core.codec import create_codec
    from codecbench.datasets import get_dataset

    folder, _ = measured
    picture = next(p for p in read_manifest(folder / "r.pictures") if p.spec and p.spec.startswith("jpeg"))
    item = next(i for i in get_dataset("embedded") if i.id == picture.image)
    codec = create_codec(picture.spec)
    decoded = codec.decode(codec.encode(item.load()))
    x, y, w, h = picture.crop
    kept = np.asarray(Image.open(folder / "r.pictures" / picture.file).convert("RGB"))
    assert np.array_equal(kept, decoded[y:y + h, x:x + w])


def test_the_html_report_embeds_the_pictures(measured):
    folder, _ = measured
    page = (folder / "reports" / "embedded.html").read_text()
    data = json.loads(re.search(r'id="codecbench-data">(.*?)</script>', page, re.S).group(1))
    pictures = data["pictures"]
    assert len(pictures["decodes"]) == 6 and len(pictures["originals"]) == 2
    first = pictures["decodes"][0]
    header, payload = first["src"].split(",", 1)
    assert header == "data:image/webp;base64"
    kept = next(p for p in read_manifest(folder / "r.pictures")
                if (p.spec, p.image) == (first["spec"], first["image"]))
    assert base64.b64decode(payload) == (folder / "r.pictures" / kept.file).read_bytes()
    assert (folder / "reports" / "embedded.md").is_file()


def test_report_finds_the_pictures_beside_the_results(measured, tmp_path):
    folder, out = measured
    assert main(["report", str(out), "--out", str(tmp_path), "--format", "json"]) == 0
    data = json.loads((tmp_path / "embedded.report.json").read_text())
    assert len(data["pictures"]["decodes"]) == 6
    assert all(Path(d["src"]).is_file() for d in data["pictures"]["decodes"])


def test_a_decode_cropped_unlike_its_original_is_left_out(measured, tmp_path):
    folder, out = measured
    shutil.copytree(folder / "r.pictures", tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / MANIFEST).read_text())
    moved = next(row for row in manifest["pictures"] if row["spec"])
    moved["crop"] = [0, 0, 64, 64]
    (tmp_path / "p" / MANIFEST).write_text(json.dumps(manifest))
    _, records = read_results(out)
    (report,) = dataset_reports(records, None, pictures=[tmp_path / "p"])
    shown = report_dict(report)["pictures"]["decodes"]
    assert len(shown) == 5 and (moved["spec"], moved["image"]) not in {(d["spec"], d["image"]) for d in shown}


def test_make_pictures_names_a_codec_that_fails(measured, tmp_path):
    _, out = measured
    _, records = read_results(out)
    broken = [r for r in records if r.codec == "webp"]
    for r in broken:
        r.spec = "webp:quality=40,method=9"  # no such method: the codec cannot be built
    summary = make_pictures(broken, tmp_path, PictureOptions(images=1, crop=32))
    assert summary.problems and "webp:quality=40,method=9" in summary.problems[0]
    assert [p.spec for p in summary.pictures] == [None]  # the original is still kept


@pytest.mark.parametrize("args, message", [
    (["report", "R", "--format", "html"], "--format html writes files"),
    (["report", "R", "--format", "pdf"], "unknown report format 'pdf'"),
    (["run", "--codecs", "jpeg", "--format", "html"], "--format chooses the formats of --report-dir"),
    (["run", "--codecs", "jpeg", "--viewer-images", "-2"], "--viewer-images must be 0 or more"),
    (["pictures", "R", "S"], "need --out DIR"),
    (["pictures", "R", "--images", "0"], "viewer images must be at least 1"),
    (["pictures", "R", "--image", "nosuch"], "no measured lossy record of image(s) nosuch"),
])
def test_bad_format_options_are_one_line(args, message, measured, capsys):
    _, out = measured
    args = [str(out) if a in ("R", "S") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert message in err
    assert "Traceback" not in err


def _bench(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "bench" / "test_codecs.py"), "-q", "-p", "no:cacheprovider",
         "--benchmark-only", "--rounds", "1", "--report-dir", str(tmp_path), *args],
        capture_output=True, text=True, cwd=REPO, timeout=600, env=nested_pytest_env())


def test_the_pytest_session_report_in_several_formats(tmp_path):
    done = _bench(tmp_path, "--codecs", "jpeg:quality=30|90", "--max-images", "1", "--report-format", "html",
                  "--report-format", "csv")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["embedded.csv", "embedded.html",
                                                                         "embedded.json"]
    assert "embedded: report " in done.stdout and "embedded.html" in done.stdout
    _, records = read_results(tmp_path / "embedded.json")
    assert len(records) == 2


def test_an_unknown_session_report_format_is_a_usage_error(tmp_path):
    done = _bench(tmp_path, "--codecs", "jpeg:quality=30", "--report-format", "pdf")
    assert done.returncode == 4 and "unknown report format 'pdf'" in done.stderr, done.stderr[-2000:]
    assert not any(tmp_path.iterdir())


def test_make_pictures_codes_with_the_threads_each_record_was_measured_with(measured, tmp_path, monkeypatch):
    """AVIF's bytes depend on the encoder's thread count: a picture re-made with other threads is another stream."""
    import codecbench.tools.pictures as pictures_module

    _, out = measured
    _, records = read_results(out)
    for r in records:
        r.threads = 2 if r.codec == "webp" else 1
    built = []
    real = pictures_module.create_codec
    monkeypatch.setattr(pictures_module, "create_codec",
                        lambda spec, **kw: built.append((spec.split(":")[0], kw["threads"])) or real(spec, **kw))
    summary = make_pictures(records, tmp_path, PictureOptions(images=1, crop=32))
    assert not summary.problems and not summary.mismatched
    assert ("webp", 2) in built and all(threads == (2 if codec == "webp" else 1) for codec, threads in built)
