"""Timings you can compare: a report says where rows of one table (or the tables of one device) were timed
under different conditions (jobs, threads, cached timings, another run or machine), and says nothing otherwise."""

import dataclasses
import importlib.util
import json

import pytest

from codecbench.cli import main
from codecbench.engine.runner import Runner
from tests.conftest import REPO
from tests.rd_helpers import jpeg_records

NOTE = "Timed under different conditions: "
TABLES_NOTE = "**Timing conditions differ between these tables**"
META = {"machine": "x86_64", "cpu": "Test CPU", "cores": 2, "date": "2026-12-01T10:00:00+00:00"}


def _records(qualities, codec="jpeg", **fields):
    """The JSON of real JPEG records at ``qualities``, each updated with ``fields`` (and named ``codec``)."""
    records = []
    for r in jpeg_records(qualities):
        obj = {**r.to_json(), **fields}
        if codec != "jpeg":
            obj.update(codec=codec, spec=obj["spec"].replace("jpeg:", f"{codec}:"))
        records.append(obj)
    return records


def _file(path, records, meta=META):
    path.write_text(json.dumps({"meta": meta, "records": records}))
    return path


def _write(path, qualities, meta=META, codec="jpeg", **fields):
    """A results file of real JPEG records at ``qualities`` (see :func:`_records`)."""
    return _file(path, _records(qualities, codec, **fields), meta)


def _report(capsys, *paths):
    capsys.readouterr()
    assert main(["report", *map(str, paths), "--no-rd"]) == 0
    return capsys.readouterr().out


def test_a_table_of_rows_timed_with_different_jobs_and_threads_says_so(tmp_path, capsys):
    records = [*_records((10, 25), jobs=1, threads=1), *_records((40,), jobs=2, threads=2)]
    text = _report(capsys, _file(tmp_path / "r.json", records))
    assert (NOTE + "quality=10, 25 with jobs 1, threads 1; quality=40 with jobs 2, threads 2 — compare these times "
            "only within a condition.") in text
    assert TABLES_NOTE not in text  # one table: its note says it all


def test_uniform_rows_have_no_conditions_line_and_the_report_is_unchanged(tmp_path, capsys):
    known = _report(capsys, _write(tmp_path / "known.json", (10, 25, 40), jobs=1, threads=1))
    legacy = _report(capsys, _write(tmp_path / "legacy.json", (10, 25, 40), threads=1))  # no jobs: older files
    assert NOTE not in known
    assert TABLES_NOTE not in known
    assert "compare these times" not in known
    assert known == legacy


def test_unknown_jobs_is_a_condition_of_its_own(tmp_path, capsys):
    records = [*_records((10,), jobs=1, threads=1), *_records((40,), threads=1)]
    text = _report(capsys, _file(tmp_path / "r.json", records))
    assert NOTE + "quality=10 with jobs 1, threads 1; quality=40 with jobs unknown, threads 1" in text


def test_a_row_whose_images_were_timed_differently_says_so(tmp_path, capsys):
    first, *rest = _records((10,), jobs=1, threads=1)
    records = [first, *({**r, "jobs": 2} for r in rest), *_records((40,), jobs=1, threads=1)]
    assert NOTE + "quality=10 with jobs 1 and 2, threads 1; quality=40 with jobs 1, threads 1" in _report(
        capsys, _file(tmp_path / "r.json", records))


def test_timings_reused_from_the_cache_are_a_condition_of_their_own(tmp_path, capsys):
    records = [*_records((10,), jobs=1, threads=1), *_records((40,), jobs=1, threads=1, cached=True, retimed=False)]
    text = _report(capsys, _file(tmp_path / "r.json", records))
    assert (NOTE + "quality=10 with jobs 1, threads 1, timed in the run; quality=40 with jobs 1, threads 1, "
            "timings reused from the results cache") in text


def test_a_retimed_cache_hit_is_timed_in_the_run(tmp_path, capsys):
    records = [*_records((10,), jobs=1, threads=1), *_records((40,), jobs=1, threads=1, cached=True, retimed=True)]
    assert NOTE not in _report(capsys, _file(tmp_path / "r.json", records))


def test_merged_files_of_unknown_jobs_compare_only_within_a_file(tmp_path, capsys):
    old = _write(tmp_path / "old.json", (10, 25), threads=1)
    new = _write(tmp_path / "new.json", (40,), {**META, "date": "2026-12-03T09:00:00+00:00"}, threads=1)
    text = _report(capsys, old, new)
    assert (NOTE + "quality=10, 25 with jobs unknown, threads 1, from `old.json` (2026-12-01); quality=40 with jobs "
            "unknown, threads 1, from `new.json` (2026-12-03)") in text


def test_files_retimed_under_one_condition_on_one_machine_merge_cleanly(tmp_path, capsys):
    # a one-pass re-time writes one file per command, on different dates: known jobs on one machine compare
    first = _write(tmp_path / "a.json", (10, 25), jobs=1, threads=1)
    later = _write(tmp_path / "b.json", (40,), {**META, "date": "2026-12-04T09:00:00+00:00"}, jobs=1, threads=1)
    other = _write(tmp_path / "c.json", (40,), {**META, "cpu": "Other CPU"}, jobs=1, threads=1)
    text = _report(capsys, first, later)
    assert NOTE not in text
    text = _report(capsys, first, other)
    assert (NOTE + "quality=10, 25 with jobs 1, threads 1, on x86_64, Test CPU, 2 cores; quality=40 with jobs 1, "
            "threads 1, on x86_64, Other CPU, 2 cores") in text


def test_tables_timed_under_different_conditions_are_listed(tmp_path, capsys):
    jpeg = _write(tmp_path / "a.json", (10, 40), jobs=1, threads=1)
    other = _write(tmp_path / "b.json", (10, 40), codec="other", jobs=2, threads=1)
    text = _report(capsys, jpeg, other)
    assert NOTE not in text  # each table is uniform
    assert TABLES_NOTE in text
    assert "- jobs 1, threads 1: jpeg\n- jobs 2, threads 1: other\n" in text


def test_a_file_name_cannot_break_the_note(tmp_path, capsys):
    odd = _write(tmp_path / "a`b|c.json", (10,), threads=1)
    text = _report(capsys, odd, _write(tmp_path / "d.json", (40,), threads=1))
    assert "from `a?b?c.json` (2026-12-01)" in text


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_runner_records_how_many_codec_calls_ran_at_once(image_folder, jobs):
    with Runner(["png"], jobs=jobs) as runner:
        records = list(runner.run_dataset(f"folder:{image_folder}"))
    assert {r.jobs for r in records if r.ok} == {jobs}
    assert all(r.jobs is None for r in records if not r.ok)  # broken.png: nothing was timed


def _retime_script():
    spec = importlib.util.spec_from_file_location("retime_reports", REPO / "bench" / "retime_reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_retime_script_accepts_only_reproduced_bytes_and_quality():
    script = _retime_script()
    committed = jpeg_records((10, 40))
    same = [dataclasses.replace(r, enc_s=r.enc_s * 3, jobs=1) for r in committed]  # new times only
    assert script.differences(committed, same) == ([], {})
    trial = [r for r in same if r.image == "coffee"]  # --max-images: those images only
    assert script.differences(committed, trial) == ([], {})
    drifted = [dataclasses.replace(r, ssim=r.ssim + 2e-6) for r in same]  # metric implementation drift
    assert script.differences(committed, drifted) == ([], {})
    more = [dataclasses.replace(r, extra={**r.extra, "vif": 0.5}) for r in same]  # --metrics +jpeg-ai: additions
    assert script.differences(committed, more) == ([], {})
    assert script.differences(more, same)[0]  # ... but a metric the committed file has must be reproduced
    first = same[0]
    longer = dataclasses.replace(first, bytes=first.bytes + 1, bpp=first.bpp * (first.bytes + 1) / first.bytes)
    problems, rebuilt = script.differences(committed, [longer, *same[1:]])
    assert len(problems) == 2
    assert "bytes" in problems[0]
    assert rebuilt == {}  # bytes and bpp, same build
    new_build = dataclasses.replace(longer, versions={"pillow": "99"})
    was = committed[0].versions["pillow"]
    assert script.differences(committed, [new_build, *same[1:]]) == ([], {first.spec: f"pillow {was} → 99"})
    one_thread = dataclasses.replace(longer, threads=first.threads + 1)  # AVIF: bytes depend on the thread count
    assert script.differences(committed, [one_thread, *same[1:]]) == (
        [], {first.spec: f"threads {first.threads} → {first.threads + 1}"})
    worse = dataclasses.replace(first, threads=first.threads + 1, psnr=first.psnr + 0.01)  # same bytes: no excuse
    assert script.differences(committed, [worse, *same[1:]])[0]
    # ... unless another stream of the spec changed with the thread count: same length, other bytes
    sibling = next(r for r in same if r.spec == first.spec and r.image != first.image)
    rethreaded = dataclasses.replace(sibling, threads=first.threads + 1, bytes=sibling.bytes + 1,
                                     bpp=sibling.bpp * (sibling.bytes + 1) / sibling.bytes)
    rest = [r for r in same[1:] if r is not sibling]
    assert script.differences(committed, [worse, rethreaded, *rest]) == (
        [], {first.spec: f"threads {first.threads} → {first.threads + 1}"})
    grown = [*same, *(dataclasses.replace(r, spec=r.spec.replace("quality=", "quality=9"), setting=99)
                      for r in same if r.spec == first.spec)]  # a sweep with another setting
    added = grown[-1].spec
    assert script.differences(committed, grown) == ([], {added: f"{len(grown) - len(same)} records not in the "
                                                                 "committed file"})
    problems, _ = script.differences(committed, same[1:])
    assert problems == [f"{first.spec} {first.image}: missing from the new run"]
