"""ResultsStore: append-only journal while a run goes, compaction at close or resume, one writer per file;
and the one results reader that `report` and `compare` share."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codecbench.engine import store as store_module
from codecbench.analysis.inputs import load_results
from codecbench.core.errors import ResultsError
from codecbench.core.results import Record, journal_path, library_versions, read_results, write_results
from codecbench.engine.store import ResultsStore, lock_path

REPO = Path(__file__).resolve().parents[1]
META = {"schema": 1, "date": "2026-12-02T00:00:00+00:00"}


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """Records of 3 settings × 4 images, one failed, with distinct values (storage does not care what made them)."""
    out = []
    for q in (10, 50, 90):
        for i in range(4):
            failed = q == 50 and i == 2
            size = None if failed else 100 * q + i
            bpp = None if failed else 8 * size / ((64 + i) * 48)  # as a real record's: bpp = 8·bytes/(W·H)
            out.append(Record(codec="jpeg", spec=f"jpeg:quality={q}", setting=q, dataset="photos", image=f"img{i}",
                              width=64 + i, height=48, bytes=size, bpp=bpp,
                              psnr=None if failed else 20 + q / 3 + i / 11, enc_s=0.001 * (i + 1), dec_s=0.0005,
                              error="DecodeError: truncated" if failed else None,
                              versions={"pillow": "13.0.0", "jpeg": str(i % 2)}))
    return out


def test_append_get_close_round_trip(records, tmp_path):
    path = tmp_path / "r.json"
    with ResultsStore(path, meta=META) as store:
        for r in records:
            store.append(r)
            assert store.get(r.key) == r
        assert store.get(("jpeg:quality=1", "photos", "nope", "cpu")) is None
        assert not path.exists() and len(journal_path(path).read_text().splitlines()) == len(records)
    meta, got = read_results(path)
    assert got == records and not journal_path(path).exists()
    assert meta == {**META, "versions": library_versions(records)}
    with ResultsStore(path, meta=META) as again:  # a resumed run finds every record
        assert again.records == records and all(again.get(r.key) == r for r in records)


def test_compaction_is_the_file_a_serial_write_gives(records, tmp_path):
    """Journal then compaction gives byte for byte the file write_results writes from the same records."""
    path, serial = tmp_path / "r.json", tmp_path / "serial.json"
    later = dataclasses.replace(records[0], bytes=records[0].bytes + 1,  # a record measured again replaces it
                                bpp=8 * (records[0].bytes + 1) / (records[0].width * records[0].height))
    with ResultsStore(path, meta=META) as store:
        for r in [*records, later]:
            store.append(r)
    expected = [later, *records[1:]]
    write_results(serial, expected, {**META, "versions": library_versions(expected)})
    assert path.read_bytes() == serial.read_bytes()


def test_appends_never_rewrite_the_json_file_however_long_the_run(records, tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_results(path, records[:1], META)
    before = path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino
    clock = iter(range(0, 10**9, 600))  # ten minutes pass between appends
    monkeypatch.setattr(store_module.time, "monotonic", lambda: float(next(clock)))
    store = ResultsStore(path, meta=META)
    for r in records[1:]:
        store.append(r)
    assert (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) == before
    assert len(read_results(path)[1]) == len(records)  # a reader sees file + journal meanwhile
    store.close()
    assert read_results(path)[1] == records and not journal_path(path).exists()


def test_journal_is_fsynced_in_small_batches(records, tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(store_module.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    monkeypatch.setattr(store_module, "SYNC_S", 1e9)  # only the count triggers here
    store = ResultsStore(tmp_path / "r.json", meta=META)
    n = 3 * store_module.SYNC_EVERY + 5
    for i in range(n):
        store.append(dataclasses.replace(records[0], image=f"img{i}"))
        assert len(synced) == (i + 1) // store_module.SYNC_EVERY  # one fsync per SYNC_EVERY records, never per record
    monkeypatch.setattr(store_module, "SYNC_S", 0.0)  # a record after SYNC_S seconds is synced at once
    store.append(dataclasses.replace(records[0], image="late"))
    assert len(synced) == n // store_module.SYNC_EVERY + 1
    store.close()


KILLED_WRITER = """
import json, os, sys
from codecbench.core.results import Record
from codecbench.engine.store import ResultsStore
store = ResultsStore(sys.argv[1], meta={})
for obj in json.loads(sys.argv[2]):
    store.append(Record.from_json(obj))
with open(store.journal, "a") as f:
    f.write('{"codec": "jpeg", "spec": "half a rec')  # the record being written when the kill came
os._exit(9)  # no close, no compaction, no cleanup: as SIGKILL leaves it
"""


def test_resume_after_a_kill_folds_the_journal_in(records, tmp_path):
    path = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path), json.dumps([r.to_json() for r in records])],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert not path.exists() and journal_path(path).exists()
    assert load_results(path)[0] == records  # compare reads a killed run's journal too
    store = ResultsStore(path, meta=META)  # the dead writer's lock went with it
    assert store.records == records
    assert path.exists() and not journal_path(path).exists()  # folded in at once, torn line dropped
    assert read_results(path)[1] == records
    store.close()


def test_a_second_store_on_the_same_path_fails_at_once(records, tmp_path):
    path = tmp_path / "r.json"
    first = ResultsStore(path, meta=META)
    first.append(records[0])
    for fresh in (False, True):  # refused before it reads or discards anything
        with pytest.raises(ResultsError) as error:
            ResultsStore(path, meta=META, fresh=fresh)
        assert str(error.value) == f"{path} is being written by another codecbench run (lock {lock_path(path)} is held)"
    assert len(journal_path(path).read_text().splitlines()) == 1
    first.close()
    with ResultsStore(path, meta=META) as second:  # the lock is released on close
        assert second.records == records[:1]
        second.append(records[1])
    assert read_results(path)[1] == records[:2]
    with ResultsStore(path, meta=META, fresh=True) as fresh_store:
        assert fresh_store.records == []


def test_close_without_appends_leaves_the_file_as_it_was(records, tmp_path):
    path = tmp_path / "r.json"
    with ResultsStore(path, meta=META):
        pass
    assert not path.exists()  # a run that measured nothing writes no file
    write_results(path, records, META)
    before = path.read_bytes(), path.stat().st_mtime_ns
    with ResultsStore(path, meta={"date": "later"}):
        pass
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# -- one reader ------------------------------------------------------------------------------
def _record_lines(records, **changes) -> str:
    return "".join(json.dumps({**r.to_json(), **changes}) + "\n" for r in records)


@pytest.mark.parametrize("name, text, message", [
    ("missing.jsonl", lambda rs: _record_lines(rs[:1]) + json.dumps({"codec": "jpeg", "spec": "x"}) + "\n",
     "missing.jsonl:2: not a codecbench record: missing field(s) setting, dataset, image, width, height"),
    ("typed.json", lambda rs: json.dumps({"records": [rs[0].to_json(), {**rs[1].to_json(), "bpp": "x"}]}),
     "typed.json: record 2: field 'bpp' must be a number or null, not a string (\"x\")"),
    ("list.json", lambda rs: json.dumps([r.to_json() for r in rs]),
     "list.json: not a codecbench results file (expected {'meta': …, 'records': […]} or JSON Lines)"),
    ("garbage.json", lambda rs: "{garbage", "garbage.json: not JSON or JSON Lines"),
    ("empty.json", lambda rs: " \n", "empty.json: empty results file"),
])
def test_report_and_compare_read_with_one_reader(records, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text(records))
    for read in (read_results, load_results):
        with pytest.raises(ResultsError) as error:
            read(path)
        assert str(error.value) == f"{tmp_path}/{message}"


def test_compare_and_report_get_the_same_records(records, tmp_path):
    lines, doc = tmp_path / "r.jsonl", tmp_path / "r.json"
    lines.write_text(_record_lines(records))
    write_results(doc, records, META)
    for path in (lines, doc):
        assert load_results(path)[:2] == (read_results(path)[1], "codecbench") and read_results(path)[1] == records


# -- hostile results files and journals: one line and exit 2 from run (resume) and report, nothing lost -----------
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


#: each takes (the file's JSON document, a record of it) and returns (the file's text, the journal's text or None)
HOSTILE = {
    "nan-in-file": lambda doc, rec: (json.dumps({**doc, "records": [{**rec, "psnr": float("nan")}]}),
                                     None),
    "infinity-in-file": lambda doc, rec: (json.dumps({**doc, "records": [{**rec, "bpp": float("inf")}]}), None),
    "nan-in-journal": lambda doc, rec: (json.dumps(doc), json.dumps({**rec, "image": "b", "ssim": float("nan")}) + "\n"),
    "minus-infinity-in-journal": lambda doc, rec: (json.dumps(doc), json.dumps({**rec, "enc_s": float("-inf")}) + "\n"),
    "bpp-disagrees-with-bytes": lambda doc, rec: (json.dumps({**doc, "records": [{**rec, "bpp": rec["bpp"] / 2}]}),
                                                  None),
    "deeply-nested-file": lambda doc, rec: (_nested(100_000), None),
    "deeply-nested-journal-line": lambda doc, rec: (json.dumps(doc), '{"spec": ' + _nested(100_000) + "}\n"
                                                    + json.dumps(rec) + "\n"),
    "huge-integer-in-journal": lambda doc, rec: (json.dumps(doc), json.dumps(rec)[:-1] + ', "x": ' + "7" * 5000 + "}\n"
                                                 + json.dumps(rec) + "\n"),
    "nan-in-meta": lambda doc, rec: (json.dumps({**doc, "meta": {**doc["meta"], "cores": float("nan")}}), None),
    "number-as-a-version": lambda doc, rec: (json.dumps({**doc, "records": [{**rec, "versions": {"jpeg": 1.5}}]}),
                                             None),
    "zero-width": lambda doc, rec: (json.dumps({**doc, "records": [{**rec, "width": 0}]}), None),
}


@pytest.fixture(scope="module")
def measured_file(tmp_path_factory) -> tuple[Path, dict]:
    """A results file of a real run (jpeg on one embedded image) and its JSON document."""
    from codecbench.cli import main

    path = tmp_path_factory.mktemp("measured") / "r.json"
    assert main(["run", "jpeg:quality=50", "--max-images", "1", "--jobs", "1", "--no-cache", "-o", str(path)]) == 0
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_bad_results_file_or_journal_is_one_line_and_exit_2_never_a_traceback(hostile, measured_file, tmp_path,
                                                                              capsys):
    """Issue 21 item 4: a NaN in a results file or its journal made every resume crash with a traceback."""
    from codecbench.cli import main

    doc = measured_file[1]
    text, journal = hostile(doc, doc["records"][0])
    path = tmp_path / "r.json"
    path.write_text(text)
    if journal is not None:
        journal_path(path).write_text(journal)
    before = path.read_bytes(), journal_path(path).read_bytes() if journal is not None else None
    capsys.readouterr()
    for command in (["run", "jpeg:quality=50", "--max-images", "1", "--jobs", "1", "--no-cache", "-o", str(path)],
                    ["report", str(path), "--out", str(tmp_path / "reports")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert err.startswith(f"codecbench: error: {path}") and len(err.strip().splitlines()) == 1, err
    after = path.read_bytes(), journal_path(path).read_bytes() if journal is not None else None
    assert after == before  # a refused file is left as it was: nothing lost, nothing rewritten


def test_the_journal_writer_refuses_a_value_no_file_may_hold(records, tmp_path):
    path = tmp_path / "r.json"
    with ResultsStore(path, meta=META) as store:
        store.append(records[0])
        with pytest.raises(ResultsError, match="psnr"):
            store.append(dataclasses.replace(records[1], psnr=float("nan")))
    assert read_results(path)[1] == records[:1]


def test_a_measurement_no_file_may_hold_becomes_a_failed_record():
    from codecbench.core.codec import create_codec
    from codecbench.engine.records import record_of

    codec = create_codec("jpeg:quality=50", threads=1)
    image = np.zeros((8, 8, 3), np.uint8)
    measured = {"bytes": 100, "bpp": 12.5, "psnr": float("nan"), "enc_s": 0.001, "dec_s": 0.001}
    record = record_of(codec, "d", "img", image, None, lambda: measured)
    assert record.error.startswith("ResultsError: field 'psnr'") and (record.bytes, record.psnr) == (None, None)
    json.dumps(record.to_json(), allow_nan=False)  # what the journal writer writes
