"""Issue 21 items 5–8: `codecbench compare` fails closed, naming the cause, whatever was done to NEW (or BASE).

Every case is a mutation of the committed CI baseline (real JPEG and WebP
measurements of 4 Kodak images, ``reports/baseline/kodak.json``), written
as a codecbench results file, JSON Lines, a file plus journal, or
pytest-benchmark JSON of the same dataset means. The property: the
unchanged file passes; every mutation exits non-zero (1: a named failure,
2: one line naming the impossible value) and says why.
"""

from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

import pytest

from codecbench.cli import main

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "reports" / "baseline" / "kodak.json"
Q50 = "jpeg:optimize=False,quality=50,subsampling=4:2:0"
WHERE = "kodak/cpu: jpeg quality=50: "
QUALITY = ("psnr", "psnr_y", "ssim", "ms_ssim")


@pytest.fixture(scope="module")
def real() -> list[dict]:
    """The baseline's 68 records (jpeg 9 settings, webp 8, on kodim01–04) as JSON objects."""
    return json.loads(BASELINE.read_text(encoding="utf-8"))["records"]


# -- mutations: records (JSON objects) -> records ---------------------------------------
def _edit(records: list[dict], pick, change=None, **fixed) -> list[dict]:
    """``records`` with ``fixed`` values, and those ``change(record)`` returns, set on the ones ``pick`` selects."""
    return [{**r, **(change(r) if change else {}), **fixed} if pick(r) else r for r in records]


def _at(spec: str, image: str | None = None):
    return lambda r: r["spec"] == spec and (image is None or r["image"] == image)


def _scaled(r: dict, factor: float, db: float = 0.0) -> dict:
    """``r`` as if its bitstream were ``factor`` times as long and ``db`` dB worse: consistent bytes and bpp."""
    n = round(r["bytes"] * factor)
    return {**r, "bytes": n, "bpp": 8 * n / (r["width"] * r["height"]), "psnr": r["psnr"] + db}


def _failed(r: dict) -> dict:
    return {**r, **{k: None for k in ("bytes", "bpp", *QUALITY, "enc_s", "dec_s")}, "error": "EncodeError: boom"}


def _replace(records: list[dict], pick, make) -> list[dict]:
    return [make(r) if pick(r) else r for r in records]


def _disguised_regression(records: list[dict]) -> list[dict]:
    """Issue 21 item 5: jpeg +10 % bytes and −0.3 dB at quality ≥ 20, where NEW keeps only each setting's
    cheapest image (the old gate compared its mean with BASE's mean over 4 images, and passed it)."""
    hit = lambda r: r["codec"] == "jpeg" and r["setting"] >= 20  # noqa: E731
    cheapest: dict[str, dict] = {}
    for r in filter(hit, records):
        cheapest[r["spec"]] = min(cheapest.get(r["spec"], r), r, key=lambda c: c["bpp"])
    worse = _replace(records, hit, lambda r: _scaled(r, 1.1, -0.3))
    return [r for r in worse if not hit(r) or r["image"] == cheapest[r["spec"]]["image"]]


def _twin_failed(records: list[dict], failed: str) -> list[dict]:
    """Issue 21 item 7 with equal means: kodim02 given kodim01's measurement at quality 50, then ``failed`` failed."""
    twin = next(r for r in records if _at(Q50, "kodim01")(r))
    twins = _replace(records, _at(Q50, "kodim02"), lambda r: {**twin, "image": "kodim02"})
    return _replace(twins, _at(Q50, failed), _failed)


def _conflicting_copy(records: list[dict], first: bool) -> list[dict]:
    victim = next(r for r in records if _at(Q50, "kodim01")(r))
    copy_ = _scaled(victim, 2.0, -5.0)
    return [copy_, *records] if first else [*records, copy_]


#: (id, mutation of NEW, mutation of BASE or None, exit status, text the error output must hold)
RESULTS_CASES = [
    # item 5: other images
    ("jpeg-keeps-1-of-4-images", lambda rs: [r for r in rs if r["codec"] != "jpeg" or r["image"] == "kodim01"], None,
     1, WHERE + "not the same images in BASE and NEW, so no mean is compared: images only in BASE: kodim02, kodim03, "
     "kodim04"),
    ("one-setting-drops-one-image", lambda rs: [r for r in rs if not _at(Q50, "kodim03")(r)], None,
     1, WHERE + "not the same images in BASE and NEW, so no mean is compared: images only in BASE: kodim03"),
    ("disguised-regression", _disguised_regression, None, 1, "not the same images in BASE and NEW"),
    ("new-adds-an-image", lambda rs: rs + [{**r, "image": "kodim05"} for r in rs if _at(Q50, "kodim04")(r)], None,
     1, WHERE + "not the same images in BASE and NEW, so no mean is compared: images only in NEW: kodim05"),
    ("setting-missing", lambda rs: [r for r in rs if r["spec"] != Q50], None, 1, WHERE + "setting missing from"),
    ("codec-missing", lambda rs: [r for r in rs if r["codec"] != "webp"], None, 1, "kodak/cpu: webp: missing from"),
    # item 6: values no measurement can have (refused when read: exit 2, one line)
    ("bpp-negative", lambda rs: _edit(rs, _at(Q50), bpp=-0.9), None, 2, "field 'bpp' must be positive, not -0.9"),
    ("bpp-zero-one-image", lambda rs: _edit(rs, _at(Q50, "kodim02"), bpp=0), None, 2, "field 'bpp' must be positive"),
    ("bpp-lowered-bytes-kept", lambda rs: _edit(rs, _at(Q50), lambda r: {"bpp": r["bpp"] * 0.8}), None,
     2, "but 8*bytes/(width*height) is"),
    ("base-bpp-zero-new-x10", lambda rs: _edit(rs, _at(Q50), lambda r: {"bpp": r["bpp"] * 10}),
     lambda rs: _edit(rs, _at(Q50), bpp=0), 2, "field 'bpp' must be positive, not 0"),
    ("psnr-1e18", lambda rs: _edit(rs, _at(Q50, "kodim01"), psnr=1e18), None, 2, "field 'psnr' is 1e+18, outside"),
    ("width-0", lambda rs: _edit(rs, _at(Q50, "kodim01"), width=0), None, 2, "field 'width' must be at least 1"),
    ("width-negative", lambda rs: _edit(rs, _at(Q50, "kodim01"), width=-1), None, 2, "field 'width' must be at least"),
    ("bytes-zero", lambda rs: _edit(rs, _at(Q50, "kodim01"), bytes=0), None, 2, "field 'bytes' must be at least 1"),
    ("ssim-5", lambda rs: _edit(rs, _at(Q50, "kodim01"), ssim=5.0), None, 2, "field 'ssim' is 5, outside [-1, 1]"),
    # item 7: other failures
    ("failures-swapped", lambda rs: _replace(rs, _at(Q50, "kodim02"), _failed),
     lambda rs: _replace(rs, _at(Q50, "kodim01"), _failed),
     1, WHERE + "not the same failed images in BASE and NEW, so no mean is compared: failed images only in NEW: "
     "kodim02; failed images only in BASE: kodim01"),
    ("failures-swapped-equal-means", lambda rs: _twin_failed(rs, "kodim02"), lambda rs: _twin_failed(rs, "kodim01"),
     1, WHERE + "not the same failed images in BASE and NEW, so no mean is compared: failed images only in NEW: "
     "kodim02; failed images only in BASE: kodim01"),
    ("new-fails-an-image", lambda rs: _replace(rs, _at(Q50, "kodim03"), _failed), None,
     1, WHERE + "not the same failed images in BASE and NEW, so no mean is compared: "
     "failed images only in NEW: kodim03"),
    ("new-succeeds-where-base-failed", lambda rs: rs, lambda rs: _replace(rs, _at(Q50, "kodim03"), _failed),
     1, "failed images only in BASE: kodim03"),
    # item 8: conflicting duplicates
    ("conflicting-duplicate-last", lambda rs: _conflicting_copy(rs, first=False), None,
     1, f"kodak/cpu: {Q50}: NEW holds 2 conflicting records of kodim01 (they differ in bpp, bytes, psnr)"),
    ("conflicting-duplicate-first", lambda rs: _conflicting_copy(rs, first=True), None,
     1, f"kodak/cpu: {Q50}: NEW holds 2 conflicting records of kodim01 (they differ in bpp, bytes, psnr)"),
    ("conflicting-duplicate-in-base", lambda rs: rs, lambda rs: _conflicting_copy(rs, first=True),
     1, f"kodak/cpu: {Q50}: BASE holds 2 conflicting records of kodim01"),
]


def _write(path: Path, records: list[dict], form: str) -> Path:
    """``records`` as a results document (``json``), JSON Lines (``jsonl``), or an empty document whose journal
    holds them (``journal``: a killed run's results)."""
    lines = "".join(json.dumps(r) + "\n" for r in records)
    if form == "json":
        path.write_text(json.dumps({"meta": {}, "records": records}), encoding="utf-8")
    elif form == "jsonl":
        path.write_text(lines, encoding="utf-8")
    else:
        path.write_text(json.dumps({"meta": {}, "records": []}), encoding="utf-8")
        Path(str(path) + ".journal").write_text(lines, encoding="utf-8")
    return path


def _gate(capsys, base: Path, new: Path) -> tuple[int, str]:
    status = main(["compare", str(base), str(new)])
    return status, capsys.readouterr().err


def _assert_fails_naming(status: int, err: str, expected_status: int, cause: str) -> None:
    assert "Traceback" not in err
    assert status == expected_status, err
    assert cause in err, err
    if status == 2:
        assert err.startswith("codecbench: error: ") and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("form", ["json", "jsonl", "journal"])
def test_the_unchanged_baseline_passes(real, tmp_path, capsys, form):
    status, err = _gate(capsys, BASELINE, _write(tmp_path / f"new.{form}", real, form))
    assert status == 0 and err == ""


@pytest.mark.parametrize("case", RESULTS_CASES, ids=[c[0] for c in RESULTS_CASES])
@pytest.mark.parametrize("form", ["json", "jsonl"])
def test_every_mutation_of_a_results_file_fails_naming_the_cause(real, tmp_path, capsys, case, form):
    _, mutate_new, mutate_base, expected_status, cause = case
    base = _write(tmp_path / "base.json", mutate_base(copy.deepcopy(real)), "json") if mutate_base else BASELINE
    new = _write(tmp_path / f"new.{form}", mutate_new(copy.deepcopy(real)), form)
    _assert_fails_naming(*_gate(capsys, base, new), expected_status, cause)


def test_a_conflict_inside_a_journal_fails_and_a_journal_record_replaces_the_files(real, tmp_path, capsys):
    new = _write(tmp_path / "new.json", real, "json")
    journal = Path(str(new) + ".journal")
    victim = next(r for r in real if _at(Q50, "kodim01")(r))
    journal.write_text(json.dumps(victim) + "\n")  # a resumed run measured it again, the same: fine
    assert _gate(capsys, BASELINE, new) == (0, "")
    journal.write_text(json.dumps(_scaled(victim, 2.0, -5.0)) + "\n" + json.dumps(victim) + "\n")
    _assert_fails_naming(*_gate(capsys, BASELINE, new), 1, "NEW holds 2 conflicting records of kodim01")


def test_identical_duplicates_count_once_and_the_report_says_so(real, tmp_path, capsys):
    new = _write(tmp_path / "new.json", real + [r for r in real if r["spec"] == Q50], "json")
    assert main(["compare", str(BASELINE), str(new)]) == 0
    out = capsys.readouterr().out
    assert f"NEW: 4 record(s) held more than once in identical copies, each counted once (e.g. {Q50} kodim01)" in out


# -- the same holes for pytest-benchmark JSON -------------------------------------------
def _benchmark_doc(records: list[dict]) -> dict:
    """pytest-benchmark JSON as `pytest bench` writes it for ``records``: per spec an encode and a decode benchmark,
    each with the dataset means in ``extra_info``."""
    benches = []
    for spec in dict.fromkeys(r["spec"] for r in records):
        group = [r for r in records if r["spec"] == spec]
        first, case = group[0], f"{spec}-{group[0]['dataset']}-cpu"
        info = {"spec": spec, "dataset": first["dataset"], "device": "cpu", "codec": first["codec"],
                "setting": first["setting"], "lossless": False, "lossless_ok": None, "n_images": len(group),
                "n_failed": 0, "pixels": sum(r["width"] * r["height"] for r in group),
                **{k: statistics.fmean(r[k] for r in group) for k in ("bpp", *QUALITY)}}
        for phase in ("encode", "decode"):
            median = sum(r[f"{phase[:3]}_s"] for r in group)
            benches.append({"name": f"test_{phase}[{case}]", "fullname": f"bench/test_codecs.py::test_{phase}[{case}]",
                            "group": f"{first['codec']} {first['dataset']} cpu", "param": case,
                            "params": {"spec": spec, "dataset": first["dataset"], "device": "cpu"},
                            "extra_info": dict(info), "stats": {"median": median, "mean": median, "rounds": 3}})
    return {"machine_info": {}, "commit_info": {}, "benchmarks": benches, "datetime": "", "version": "5.2.3"}


def _info(doc: dict, spec: str = Q50, phases=("encode", "decode"), **changes) -> dict:
    for bench in doc["benchmarks"]:
        if bench["params"]["spec"] == spec and bench["name"].startswith(tuple(f"test_{p}" for p in phases)):
            bench["extra_info"].update(changes)
    return doc


def _benchmark_copy(doc: dict, first: bool) -> dict:
    bench = next(b for b in doc["benchmarks"] if b["params"]["spec"] == Q50)
    worse = copy.deepcopy(bench)
    worse["extra_info"].update(bpp=bench["extra_info"]["bpp"] * 2, psnr=bench["extra_info"]["psnr"] - 5)
    doc["benchmarks"] = [worse, *doc["benchmarks"]] if first else [*doc["benchmarks"], worse]
    return doc


MEANS = f"kodak/cpu: {Q50}: NEW holds "
BENCHMARK_CASES = [
    ("means-over-3-of-4-images", lambda rs, doc: _benchmark_doc([r for r in rs if not _at(Q50, "kodim04")(r)]),
     1, WHERE + "not the same images in BASE and NEW, so no mean is compared: images only in NEW: (3 images); "
     "images only in BASE: (4 images)"),
    ("bpp-negative", lambda rs, doc: _info(doc, bpp=-0.9), 2, "benchmark 11: extra_info field 'bpp' must be positive"),
    ("bpp-zero", lambda rs, doc: _info(doc, bpp=0), 2, "extra_info field 'bpp' must be positive, not 0"),
    ("psnr-1e18", lambda rs, doc: _info(doc, psnr=1e18), 2, "extra_info field 'psnr' is 1e+18, outside"),
    ("no-pixels", lambda rs, doc: _info(doc, pixels=0), 2, "extra_info 'pixels' must be at least 'n_images' (4)"),
    ("more-failed-than-images", lambda rs, doc: _info(doc, n_failed=5), 2, "'n_failed' (5) exceeds 'n_images' (4)"),
    ("one-image-failed", lambda rs, doc: _info(doc, n_failed=1), 1,
     WHERE + "not the same failed images in BASE and NEW, so no mean is compared: failed images only in NEW"),
    ("conflicting-benchmark-last", lambda rs, doc: _benchmark_copy(doc, first=False), 1,
     MEANS + "3 conflicting records of (4 images) (they differ in bpp, psnr)"),
    ("conflicting-benchmark-first", lambda rs, doc: _benchmark_copy(doc, first=True), 1,
     MEANS + "3 conflicting records of (4 images) (they differ in bpp, psnr)"),
    ("encode-and-decode-disagree", lambda rs, doc: _info(doc, phases=("decode",), psnr=20.0), 1,
     MEANS + "2 conflicting records of (4 images) (they differ in psnr)"),
]


@pytest.mark.parametrize("case", BENCHMARK_CASES, ids=[c[0] for c in BENCHMARK_CASES])
@pytest.mark.parametrize("baseline", ["pytest-benchmark", "codecbench"])
def test_every_mutation_of_pytest_benchmark_json_fails_naming_the_cause(real, tmp_path, capsys, case, baseline):
    _, mutate, expected_status, cause = case
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_benchmark_doc(real)))
    new = tmp_path / "new.json"
    new.write_text(json.dumps(mutate(copy.deepcopy(real), _benchmark_doc(real))))
    _assert_fails_naming(*_gate(capsys, base if baseline == "pytest-benchmark" else BASELINE, new),
                         expected_status, cause)


def test_pytest_benchmark_json_of_the_baseline_passes_and_an_identical_copy_is_said(real, tmp_path, capsys):
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    base.write_text(json.dumps(_benchmark_doc(real)))
    new.write_text(json.dumps(_benchmark_doc(real)))
    for b in (base, BASELINE):
        assert _gate(capsys, b, new) == (0, "")
    doc = _benchmark_doc(real)
    doc["benchmarks"].append(copy.deepcopy(doc["benchmarks"][0]))
    new.write_text(json.dumps(doc))
    assert main(["compare", str(base), str(new)]) == 0
    assert "NEW: 1 record(s) held more than once in identical copies" in capsys.readouterr().out
