"""Issue 12 items 1, 9, 10: the gate fails closed, hostile JSON and unwritable outputs are one-line errors."""

from __future__ import annotations

import json
import os

import pytest
from rd_helpers import jpeg_records
from test_compare import _pytest_benchmark_doc

from codecbench.cli import main
from codecbench.analysis.gate import compare_files
from codecbench.core.errors import OutputError, ResultsError
from codecbench.core.results import read_results, write_results
from codecbench.engine.store import ResultsStore


@pytest.fixture(scope="module")
def base():
    return jpeg_records()


def _doc(records, **changes):
    return {"meta": {}, "records": [{**r.to_json(), **changes} for r in records]}


def _one_line_error(capsys, argv, expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error: ") and len(err.strip().splitlines()) == 1, err
    assert expected in err, err


# -- item 1: the gate fails closed -------------------------------------------------------
def test_missing_bpp_in_new_fails_the_gate_named(base, tmp_path, capsys):
    b, n = tmp_path / "base.json", tmp_path / "new.json"
    write_results(b, base, {})
    n.write_text(json.dumps(_doc(base, bpp=None)))
    assert main(["compare", str(b), str(n)]) == 1
    err = capsys.readouterr().err
    assert "photos/cpu: jpeg quality=10: bpp null or missing in NEW (3 of 3 successful records)" in err


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
@pytest.mark.parametrize("side", ["BASE", "NEW"])
def test_non_finite_bpp_is_refused_as_input_exit_2(base, tmp_path, capsys, value, side):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    write_results(good, base, {})
    bad.write_text(json.dumps(_doc(base, bpp=value)))  # json writes NaN/Infinity as Python reads them
    argv = ["compare", str(good), str(bad)] if side == "NEW" else ["compare", str(bad), str(good)]
    _one_line_error(capsys, argv, f"{bad}: record 1: field 'bpp' must be a finite number or null, not {value}")


def test_lossless_codec_without_bytes_and_bpp_fails(base, tmp_path):
    lossless = dict(lossless=True, lossless_ok=True, psnr=None, psnr_y=None)
    b, n = tmp_path / "base.json", tmp_path / "new.json"
    b.write_text(json.dumps(_doc(base, **lossless)))
    n.write_text(json.dumps(_doc(base, **lossless, bpp=None, bytes=None)))
    assert compare_files(b, b).ok
    messages = {v.message for v in compare_files(b, n).violations}
    assert {"bpp null or missing in NEW (3 of 3 successful records)",
            "bytes null or missing in NEW (3 of 3 successful records)"} <= messages


def test_pytest_benchmark_new_without_bpp_fails(base, tmp_path, capsys):
    b, n = tmp_path / "base.json", tmp_path / "new.json"
    b.write_text(json.dumps(_pytest_benchmark_doc(base)))
    doc = _pytest_benchmark_doc(base)
    for bench in doc["benchmarks"]:
        bench["extra_info"].pop("bpp")
    n.write_text(json.dumps(doc))
    write_results(tmp_path / "base.jsonl", base, {})  # per-image records against dataset means too
    for baseline in (b, tmp_path / "base.jsonl"):
        result = compare_files(baseline, n)
        assert not result.ok
        assert len([v for v in result.violations if v.message.startswith("bpp null or missing in NEW")]) == 7
    for bench in doc["benchmarks"]:
        bench["extra_info"]["bpp"] = float("nan")
    n.write_text(json.dumps(doc))
    _one_line_error(capsys, ["compare", str(b), str(n)], "benchmark 1: extra_info field 'bpp' must be a finite number")


# -- item 9: hostile JSON ------------------------------------------------------------------
def _hostile_texts(base) -> dict[str, tuple[str, str]]:
    record = json.dumps(base[0].to_json())
    deep = "[" * 100_000 + "]" * 100_000
    return {
        "deep.json": (deep, "JSON nested too deeply"),
        "deep-line.jsonl": (record + "\n" + deep + "\n", "deep-line.jsonl:2: JSON nested too deeply"),
        "digits.json": (record.replace('"width": 176', '"width": ' + "9" * 5000), "4300 digits"),
        "width.json": (record.replace('"width": 176', f'"width": {10**400}'), "field 'width' is out of range"),
        "bytes.json": (json.dumps(_doc(base, bytes=10**400, source_bytes=1000)), "field 'bytes' is out of range"),
    }


@pytest.mark.parametrize("name", ["deep.json", "deep-line.jsonl", "digits.json", "width.json", "bytes.json"])
def test_hostile_results_file_is_one_line_exit_2_from_report_and_compare(base, tmp_path, capsys, name):
    text, expected = _hostile_texts(base)[name]
    bad, good = tmp_path / name, tmp_path / "good.json"
    bad.write_text(text)
    write_results(good, base[:3], {})
    with pytest.raises(ResultsError, match=expected.replace("(", r"\(")):
        read_results(bad)
    _one_line_error(capsys, ["report", str(bad)], expected)
    _one_line_error(capsys, ["compare", str(good), str(bad)], expected)


@pytest.mark.parametrize("change, expected", [
    (lambda b: b["extra_info"].update(n_images="three"), "extra_info 'n_images' must be an integer"),
    (lambda b: b["extra_info"].update(n_images={}), "extra_info 'n_images' must be an integer"),
    (lambda b: b["extra_info"].update(n_images=float("inf")), "not Infinity"),  # what JSON's 1e400 reads as
    (lambda b: b.update(stats="fast"), "extra_info, params and stats must be objects"),
    (lambda b: b["stats"].update(median="fast"), "stats.median must be a number"),
    (lambda b: b["extra_info"].update(pixels="many"), "extra_info 'pixels' must be a number"),
    (lambda b: b["extra_info"].update(bpp="low"), "extra_info field 'bpp' must be a number or null"),
])
def test_wrong_typed_pytest_benchmark_fields_are_one_line_exit_2(base, tmp_path, capsys, change, expected):
    doc = _pytest_benchmark_doc(base)
    change(doc["benchmarks"][0])
    bad, good = tmp_path / "bad.json", tmp_path / "good.json"
    bad.write_text(json.dumps(doc).replace("Infinity", "1e400"))
    good.write_text(json.dumps(_pytest_benchmark_doc(base)))
    _one_line_error(capsys, ["compare", str(good), str(bad)], f"{bad}: benchmark 1: ")
    _one_line_error(capsys, ["compare", str(bad), str(good)], expected)


# -- item 10: unwritable outputs ---------------------------------------------------------------
def test_output_under_a_regular_file_is_one_line_exit_2(base, tmp_path, capsys):
    good, blocker = tmp_path / "good.json", tmp_path / "afile"
    write_results(good, base[:3], {})
    blocker.write_text("not a folder")
    _one_line_error(capsys, ["report", str(good), "-o", str(blocker / "sub"), "--no-plots"],
                    f"cannot write report folder {blocker / 'sub'}: [Errno 20] Not a directory")
    _one_line_error(capsys, ["report", str(good), "-o", str(blocker / "sub")], "Not a directory")  # the plots folder
    _one_line_error(capsys, ["compare", str(good), str(good), "--out", str(blocker / "x.md")],
                    f"cannot write report {blocker / 'x.md'}: ")
    with pytest.raises(OutputError, match="cannot write results file"):
        write_results(blocker / "r.json", base[:3], {})


def test_disk_full_report_keeps_the_old_file_and_no_temporary(base, tmp_path, capsys):
    good, out = tmp_path / "good.json", tmp_path / "reports"
    write_results(good, base[:3], {})
    assert main(["report", str(good), "-o", str(out), "--no-plots"]) == 0
    before = (out / "photos.md").read_text()
    (out / "photos.md.tmp").symlink_to("/dev/full")  # writes through it fail with ENOSPC
    _one_line_error(capsys, ["report", str(good), "-o", str(out), "--no-plots"],
                    f"cannot write report {out / 'photos.md'}: [Errno 28] No space left on device")
    assert (out / "photos.md").read_text() == before and sorted(p.name for p in out.iterdir()) == ["photos.md"]


def test_disk_full_results_file_keeps_records_in_the_journal(base, tmp_path):
    path = tmp_path / "r.json"
    store = ResultsStore(path, meta={})
    store.append(base[0])
    store.compact()
    store.append(base[1])
    tmp = tmp_path / f".r.json.{os.getpid()}.tmp"
    tmp.symlink_to("/dev/full")
    with pytest.raises(OutputError, match=r"cannot write results file .*r\.json: \[Errno 28\] No space left"):
        store.close()
    assert not tmp.exists()
    assert [r.image for r in read_results(path)[1]] == [base[0].image, base[1].image]  # file + journal
