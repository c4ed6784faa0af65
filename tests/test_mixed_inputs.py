"""Issue 22: inputs that do not come from one run say so in one line.

``codecbench compare`` warns when BASE and NEW were timed on different machines or timed regions, and
leaves latency out of its verdict unless ``--max-slowdown`` asks; ``codecbench report`` warns when its
inputs hold a record more than once (the later copy is kept, as every reader of results files keeps it).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from rd_helpers import jpeg_records

from codecbench.cli import main
from codecbench.core.results import write_results

XEON = {"machine": "x86_64", "cpu": "Intel(R) Xeon(R) Processor @ 2.50GHz", "cores": 2, "jobs": 1, "threads": 2,
        "timed_region": "the codec's encode or decode call alone", "timing": {"warmup": 1, "repeats": 1}}


@pytest.fixture(scope="module")
def records():
    return jpeg_records((25, 55, 85))


def _write(path, records, meta):
    write_results(path, records, meta)
    return str(path)


def _compare(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["compare", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("codecbench: warning: ")]


# -- compare: other machine, other timed region ----------------------------------------------------------
def test_a_baseline_from_another_machine_warns_and_its_speed_decides_nothing(records, tmp_path, capsys):
    slower = [dataclasses.replace(r, enc_s=r.enc_s * 8, dec_s=r.dec_s * 8) for r in records]
    base = _write(tmp_path / "base.json", records, XEON)
    new = _write(tmp_path / "new.json", slower, {**XEON, "cpu": "AMD EPYC 7B13", "cores": 16})
    status, out, err = _compare(capsys, base, new)
    assert status == 0, err  # ×8 slower, but latency is not in the verdict unless asked
    assert _warnings(err) == [
        "codecbench: warning: BASE and NEW come from different machines (cpu Intel(R) Xeon(R) Processor @ 2.50GHz → "
        "AMD EPYC 7B13; cores 2 → 16): their encode/decode time ratios compare those as well as the code; latency is "
        "left out of the verdict (--max-slowdown would gate it)"]
    assert "**Warning:** BASE and NEW come from different machines" in out and "| 8.00 | 8.00 | ok |" in out
    status, out, err = _compare(capsys, base, new, "--max-slowdown", "1.15")
    assert status == 1  # asked for: the speed gate decides, warning or not
    assert "encode time ×8.00 of BASE > ×1.15" in err
    assert len(_warnings(err)) == 1 and "--max-slowdown gates on them all the same" in err


@pytest.mark.parametrize("change, named", [
    ({"jobs": 2}, "jobs 1 → 2"),
    ({"threads": 1}, "threads 2 → 1"),
    ({"timing": {"warmup": 1, "repeats": 3}}, 'timing {"repeats": 1, "warmup": 1} → {"repeats": 3, "warmup": 1}'),
    ({"timed_region": "the whole pytest-benchmark round, metrics included"}, "timed_region differs"),
])
def test_another_timed_region_warns_naming_what_differs(records, tmp_path, capsys, change, named):
    base = _write(tmp_path / "base.json", records, XEON)
    new = _write(tmp_path / "new.json", records, {**XEON, **change})
    status, _, err = _compare(capsys, base, new)
    assert status == 0
    assert _warnings(err) == [f"codecbench: warning: BASE and NEW come from different timed regions ({named}): their "
                              "encode/decode time ratios compare those as well as the code; latency is left out of "
                              "the verdict (--max-slowdown would gate it)"]


@pytest.mark.parametrize("new_meta", [XEON, {**XEON, "date": "another day", "python": "3.12"}, {}])
def test_the_same_conditions_or_unknown_ones_give_no_warning(records, tmp_path, capsys, new_meta):
    base = _write(tmp_path / "base.json", records, XEON)
    new = _write(tmp_path / "new.json", records, new_meta)  # {}: a file without meta says nothing either way
    status, out, err = _compare(capsys, base, new)
    assert status == 0
    assert _warnings(err) == []
    assert "Warning" not in out


def test_pytest_benchmark_files_from_two_machines_warn(tmp_path, capsys):
    def bench_file(name, brand, count):
        benches = [{"name": f"test_{phase}[jpeg:quality=75-kodak-cpu]", "param": "jpeg:quality=75-kodak-cpu",
                    "stats": {"median": 0.01}, "extra_info": {"phase": phase, "n_images": 4, "pixels": 4 * 393216,
                                                              "bpp": 1.5, "psnr": 33.0, "codec": "jpeg"}}
                   for phase in ("encode", "decode")]
        path = tmp_path / name
        path.write_text(json.dumps({"machine_info": {"machine": "x86_64", "cpu": {"brand_raw": brand, "count": count}},
                                    "commit_info": {}, "benchmarks": benches, "datetime": "", "version": "5.1.0"}))
        return str(path)

    status, _, err = _compare(capsys, bench_file("a.json", "AMD EPYC", 2), bench_file("b.json", "Apple M2", 8))
    assert status == 0
    [warning] = _warnings(err)
    assert "different machines (cpu AMD EPYC → Apple M2; cores 2 → 8)" in warning  # the same "machine": not named


# -- report: records held more than once ------------------------------------------------------------------
def _report(capsys, *paths) -> tuple[int, str]:
    status = main(["report", *map(str, paths), "--no-rd"])
    return status, capsys.readouterr().err


def test_report_warns_of_conflicting_duplicates_naming_them(records, tmp_path, capsys):
    first = _write(tmp_path / "first.json", records, XEON)
    changed = [dataclasses.replace(r, psnr=r.psnr + 0.5) if r.image == "coffee" and r.setting == 55 else r
               for r in records]
    second = _write(tmp_path / "second.json", changed, XEON)
    status, err = _report(capsys, first, second)
    assert status == 0
    spec = next(r.spec for r in records if r.setting == 55)
    assert _warnings(err) == [f"codecbench: warning: {len(records)} record(s) held more than once were collapsed, "
                              f"the later copy kept; 1 conflicting: {spec} photos/coffee (2 copies differ in psnr)"]


def test_report_counts_identical_duplicates_within_one_file(records, tmp_path, capsys):
    doubled = _write(tmp_path / "doubled.json", [*records, *records[:2]], XEON)
    status, err = _report(capsys, doubled)
    assert status == 0
    assert _warnings(err) == ["codecbench: warning: 2 record(s) held more than once were collapsed, the later copy "
                              "kept (the copies were identical)"]


def test_report_of_distinct_records_does_not_warn(records, tmp_path, capsys):
    half = len(records) // 2
    status, err = _report(capsys, _write(tmp_path / "a.json", records[:half], XEON),
                          _write(tmp_path / "b.json", records[half:], XEON))
    assert status == 0 and _warnings(err) == []
