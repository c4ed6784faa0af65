"""The codecbench command: one-line errors, run → report round trip."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from codecbench.cli import main
from codecbench.core.codec import CODECS, available_codecs, unavailable_codecs
from codecbench.core.metrics import METRICS, PRESETS
from codecbench.core.results import Record, merge_meta, read_records, read_results, write_results
from tests.conftest import REPO, smooth_image


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "codecbench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_bad_spec_is_one_line_and_exit_2():
    done = run_cli("run", "--codecs", "jpeg:quality=500", "--max-images", "1")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "quality" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_dataset_is_one_line_and_exit_2(tmp_path):
    done = run_cli("run", "--codecs", "png", "--datasets", "nosuchset", "-o", str(tmp_path / "r.json"))
    assert done.returncode == 2
    assert "nosuchset" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_then_report(image_folder, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--codecs", "jpeg:quality=40|90,png", "--datasets", f"folder:{image_folder}", "-o", str(out),
                 "--report-dir", str(tmp_path / "reports"), "--no-cache"]) == 0
    meta, records = read_results(out)
    assert len(records) == 12 and sum(not r.ok for r in records) == 3
    assert meta["averaging"].startswith("arithmetic mean") and meta["cpu"]
    assert not Path(str(out) + ".journal").exists()
    (report,) = (tmp_path / "reports").glob("*.md")
    text = report.read_text()
    assert "3/4" in text
    assert "## Lossless codecs" in text
    assert "broken" in text  # the failure is listed
    assert main(["report", str(out)]) == 0
    assert "Averaging" in capsys.readouterr().out
    assert main(["report", str(out), "--out", str(tmp_path / "again")]) == 0
    printed = capsys.readouterr().out.splitlines()
    (written,) = (tmp_path / "again").glob("*.md")
    assert f"wrote {written}" in printed
    assert f"wrote plots under {tmp_path / 'again' / 'plots'}" in printed


def test_settings_apply_to_every_codec_that_has_them(image_folder, tmp_path):
    out = tmp_path / "r.json"
    # two images: the first, broken.png, fails (a run whose every record failed exits 1)
    assert main(["run", "--codecs", "jpeg,webp", "--settings", "quality=20|70", "--datasets",
                 f"folder:{image_folder}", "--max-images", "2", "-o", str(out), "--no-cache"]) == 0
    assert sorted({(r.codec, r.setting) for r in read_records(out)}) == [
        ("jpeg", 20), ("jpeg", 70), ("webp", 20), ("webp", 70)]
    assert main(["run", "--codecs", "png", "--settings", "quality=20", "-o", str(out)]) == 2


def test_list_codecs_shows_sweeps(capsys):
    assert main(["list", "codecs"]) == 0
    assert "jpeg" in capsys.readouterr().out


def test_bare_list_shows_codecs_then_metrics_then_datasets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.index("codec ") < out.index("metric ") < out.index("dataset ")
    assert "default sweep" in out


def test_piped_list_prints_every_name_and_setting_whole(capsys):
    """Piped (not a terminal), each codec's row holds its full name and every setting range, uncut."""
    assert main(["list", "codecs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "…" not in "".join(lines)
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(CODECS.names())
    for name, cls in CODECS.items():
        for key, setting in cls.settings.items():
            assert f"{key}={setting.describe()}" in rows[name], (name, key)


def test_list_says_which_codecs_cannot_run_here_and_why(capsys):
    """A codec that needs a library or a setting (compressai without compressai, torch-model without a factory)
    is listed with the reason, and left out of the codecs that runs over every codec take."""
    assert main(["list", "codecs"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    reasons = unavailable_codecs()
    assert "needs factory=MODULE:CALLABLE" in reasons["torch-model"]
    assert "torch-model" not in available_codecs()
    for name, why in reasons.items():
        assert why in rows[name], name
    try:
        import compressai  # noqa: F401
    except Exception:
        assert "compressai cannot be imported here" in reasons["compressai"]
    else:
        assert "compressai" not in reasons


def test_list_json_is_typed_data_for_scripts(capsys):
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    codecs = {entry["codec"]: entry for entry in listing["codecs"]}
    assert set(codecs) == set(CODECS.names())
    assert {name for name, entry in codecs.items() if entry["available"]} == set(available_codecs())
    assert codecs["jpeg"]["lossless"] is False
    assert codecs["jpeg"]["rate_knob"] == "quality"
    assert 50 in codecs["jpeg"]["default_sweep"]
    assert codecs["png"]["lossless"] is True
    assert {m["metric"] for m in listing["metrics"]} == set(METRICS) | set(PRESETS)
    assert {d["dataset"] for d in listing["datasets"]} >= {"embedded", "kodak", "folder:PATH"}


def _availability(capsys) -> dict[str, bool | None]:
    """Dataset name → its ``available`` value, from ``codecbench list datasets --json``."""
    assert main(["list", "datasets", "--json"]) == 0
    return {entry["dataset"]: entry["available"] for entry in json.loads(capsys.readouterr().out)["datasets"]}


def test_list_datasets_shows_availability_in_an_empty_data_root(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CODECBENCH_DATA", str(tmp_path))
    assert _availability(capsys) == {"embedded": True, "kodak": False, "bsd300": False, "cifar10": False,
                                     "folder:PATH": None}
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "codec " not in out


def test_list_datasets_shows_the_real_datasets_available(data_root, capsys):
    assert _availability(capsys)["kodak"] is True


# -- results files with bad records: one line naming the file, the record and the field ---------
def _record_json(image: str = "a", **changes: object) -> dict:
    """A valid record as JSON (jpeg at quality 50 on a 10×10 image of dataset "tiny"), with ``changes``."""
    record = Record(codec="jpeg", spec="jpeg:quality=50", setting=50, dataset="tiny", image=image, width=10,
                    height=10, bytes=100, bpp=8.0, psnr=30.0, ssim=0.9, enc_s=0.001, dec_s=0.001)
    return {**record.to_json(), **changes}


def _write_records(path: Path, objs: list[dict]) -> Path:
    """``objs`` as a results JSON document (``*.json``) or as JSON Lines (any other suffix)."""
    if path.suffix == ".json":
        path.write_text(json.dumps({"meta": {"schema": 1}, "records": objs}), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(obj) + "\n" for obj in objs), encoding="utf-8")
    return path


def _one_line_error(capsys) -> str:
    """The message of the single `codecbench: error: …` line on stderr."""
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error: ") and len(err.strip().splitlines()) == 1, err
    return err.strip().removeprefix("codecbench: error: ")


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("suffix, where", [(".json", ": record 2: "), (".jsonl", ":2: ")])
@pytest.mark.parametrize("changes, message", [
    ({"bpp": "abc"}, "field 'bpp' must be a number or null, not a string (\"abc\")"),
    ({"enc_s": "fast"}, "field 'enc_s' must be a number or null, not a string (\"fast\")"),
    ({"bytes": True}, "field 'bytes' must be an integer or null, not true/false (true)"),
    ({"width": 10.5}, "field 'width' must be an integer, not a number (10.5)"),
    ({"lossless": 1}, "field 'lossless' must be true/false, not an integer (1)"),
    ({"versions": ["pillow"]}, "field 'versions' must be an object, not an array ([\"pillow\"])"),
])
def test_wrongly_typed_field_is_one_line_naming_file_record_and_field(tmp_path, capsys, command, suffix, where,
                                                                       changes, message):
    bad = _write_records(tmp_path / f"bad{suffix}", [_record_json("a"), _record_json("b", **changes)])
    args = [str(bad)] if command == "report" else [str(_write_records(tmp_path / "good.jsonl", [_record_json()])),
                                                   str(bad)]
    assert main([command, *args]) == 2
    assert _one_line_error(capsys) == f"{bad}{where}{message}"


@pytest.mark.parametrize("suffix, where", [(".json", ": record 2: "), (".jsonl", ":2: ")])
def test_record_missing_fields_names_the_file(tmp_path, capsys, suffix, where):
    incomplete = {k: v for k, v in _record_json("b").items() if k not in ("width", "height")}
    bad = _write_records(tmp_path / f"bad{suffix}", [_record_json("a"), incomplete])
    assert main(["report", str(bad), "--no-rd"]) == 2
    assert _one_line_error(capsys) == f"{bad}{where}not a codecbench record: missing field(s) width, height"


def test_integers_are_numbers_but_a_complete_last_line_is_checked(tmp_path, capsys):
    ints = _write_records(tmp_path / "ints.jsonl", [_record_json(bpp=8, psnr=30, enc_s=0, dec_s=0)])
    assert main(["report", str(ints), "--no-rd"]) == 0
    assert "| quality=50 | 1/1 | 8.0000 | 30.00 |" in capsys.readouterr().out
    unterminated = tmp_path / "last.jsonl"  # a last line without its newline is skipped only when it is not JSON
    unterminated.write_text(json.dumps(_record_json()) + "\n" + json.dumps(_record_json("b", bpp="abc")))
    assert main(["report", str(unterminated), "--no-rd"]) == 2
    assert "last.jsonl:2: field 'bpp'" in _one_line_error(capsys)


# -- a report over several results files: their meta merged ---------------------------------
A_META = {"machine": "x86_64", "cpu": "CPU A", "cores": 2, "python": "3.11.7", "codecbench": "0.1.0",
          "date": "2026-01-01T00:00:00+00:00", "versions": {"pillow": "13.0.0"}}
B_META = {**A_META, "machine": "aarch64", "cpu": "CPU B", "cores": 8, "date": "2026-01-02T00:00:00+00:00",
          "versions": {"pillow": "13.0.0", "imagecodecs": "2026.1.1"}}


def test_merge_meta_unites_versions_and_lists_what_differs():
    assert merge_meta([A_META]) == A_META and merge_meta([{}, A_META]) == A_META  # JSON Lines have no meta
    assert merge_meta([A_META, B_META]) == {
        **A_META, "machine": "x86_64 / aarch64", "cpu": "CPU A / CPU B", "cores": "2 / 8",
        "date": "2026-01-01T00:00:00+00:00 / 2026-01-02T00:00:00+00:00",
        "versions": {"pillow": "13.0.0", "imagecodecs": "2026.1.1"}, "differing": ["machine", "cpu", "cores", "date"]}
    newer = merge_meta([A_META, {**A_META, "versions": {"pillow": "13.1.0"}}])
    assert newer["versions"] == {"pillow": "13.0.0 / 13.1.0"} and newer["differing"] == ["versions.pillow"]


def test_report_over_several_files_says_what_they_disagree_on(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_results(a, [Record.from_json(_record_json("a"))], A_META)
    write_results(b, [Record.from_json(_record_json("b"))], B_META)
    assert main(["report", str(a), str(b), "--no-rd"]) == 0
    out = capsys.readouterr().out
    assert "- **Dataset**: `tiny`, 2 images" in out
    assert "- **Machine**: x86_64 / aarch64, CPU A / CPU B, 2 / 8 cores; Python 3.11.7; codecbench 0.1.0" in out
    assert ("- **Results files**: merged from files that differ in machine (`x86_64 / aarch64`), "
            "cpu (`CPU A / CPU B`), cores (`2 / 8`), date (`2 dates from 2026-01-01T00:00:00+00:00 to "
            "2026-01-02T00:00:00+00:00`); "
            "timings taken on different machines are not comparable") in out
    assert main(["report", str(a), "--no-rd"]) == 0
    out = capsys.readouterr().out
    assert "- **Machine**: x86_64, CPU A, 2 cores;" in out and "Results files" not in out


# -- help and CI wording -------------------------------------------------------------------
def test_compare_help_names_the_inputs_it_reads(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(codecbench results JSON or JSON Lines, or pytest-benchmark JSON with extra_info)" in text


def test_ci_workflow_points_at_existing_docs():
    workflow = (REPO / ".github" / "workflows" / "bench.yml").read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip() for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("#")}
    assert "docs/" not in workflow
    assert 'see README.md, section\n# "CI regression tracking"' in workflow and "CI regression tracking" in headings


# -- the results cache through `codecbench run` and `codecbench cache` ----------------------
@pytest.fixture
def two_pngs(tmp_path) -> Path:
    """A folder dataset of two small PNGs (24×32 and 32×24 px)."""
    folder = tmp_path / "two"
    folder.mkdir()
    for i, (h, w) in enumerate([(24, 32), (32, 24)]):
        Image.fromarray(smooth_image(h, w, i)).save(folder / f"p{i}.png")
    return folder


def _run_jpeg(folder: Path, out: Path, capsys, *extra: str) -> list[str]:
    """`codecbench run` of jpeg at two qualities over ``folder`` into a fresh ``out``; its stderr lines."""
    assert main(["run", "--codecs", "jpeg:quality=50|90", "--datasets", f"folder:{folder}", "-o", str(out),
                 "--fresh", *extra]) == 0
    return capsys.readouterr().err.splitlines()


def test_results_cache_through_the_cli(two_pngs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    cache, out = tmp_path / "cache" / "cache.sqlite", tmp_path / "r.json"
    err = _run_jpeg(two_pngs, out, capsys, "--no-cache")
    assert not cache.exists() and not [line for line in err if line.startswith("cache ")]

    assert f"cache {cache}: 0 hits, 4 misses" in _run_jpeg(two_pngs, out, capsys)
    first = {r.key: r for r in read_records(out)}
    assert len(first) == 4 and all(r.ok for r in first.values())
    assert (f"cache {cache}: 4 hits, 0 misses (timings reused; --retime to measure again)"
            in _run_jpeg(two_pngs, out, capsys))
    reused = {r.key: r for r in read_records(out)}  # sizes, quality and timings all from the cache, and said so
    assert {k: dataclasses.replace(r, cached=False, retimed=None) for k, r in reused.items()} == first
    assert all(r.cached and r.retimed is False for r in reused.values())

    assert f"cache {cache}: 4 hits, 0 misses (4 re-timed)" in _run_jpeg(two_pngs, out, capsys, "--retime")
    retimed = read_records(out)
    assert [(r.bytes, r.psnr, r.ssim) for r in retimed] == [(first[r.key].bytes, first[r.key].psnr,
                                                             first[r.key].ssim) for r in retimed]
    assert any((r.enc_s, r.dec_s) != (first[r.key].enc_s, first[r.key].dec_s) for r in retimed)

    assert main(["cache", "info"]) == 0
    assert f"{cache}: 4 entries" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out.strip() == f"cleared 4 entries from {cache}"
    assert main(["cache", "info"]) == 0
    assert f"{cache}: 0 entries" in capsys.readouterr().out


def test_cache_command_errors_are_one_line(tmp_path, capsys):
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"this is not an SQLite database" * 100)
    for action in (["info"], ["clear", "--codec", "jpeg"]):
        assert main(["cache", *action, "--cache", str(damaged)]) == 2
        assert _one_line_error(capsys).startswith(f"results cache {damaged} is unusable")
    assert main(["cache", "clear", "--cache", str(damaged)]) == 0  # too damaged to open: removed
    assert capsys.readouterr().out.strip() == f"removed the damaged cache {damaged}" and not damaged.exists()
