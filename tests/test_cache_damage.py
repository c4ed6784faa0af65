"""A damaged results cache never serves a wrong number, never stops a run, and can always be inspected and removed.

Issue 21 item 2: a cache file with a few flipped bytes failed every record (and `cache info`/`cache clear` crashed),
an entry with bpp NaN crashed every rerun at the journal write, a deeply nested entry failed every record.
"""

from __future__ import annotations

import random
import sqlite3

import pytest

from codecbench.cli import main
from codecbench.core.results import read_records
from codecbench.engine.cache import ResultsCache, RunCache
from codecbench.engine.runner import Runner
from codecbench.engine.store import ResultsStore

SPECS = ["jpeg:quality=30", "jpeg:quality=80", "webp:quality=50"]


def _run(cache: RunCache | None, out=None) -> dict:
    """(spec, image) -> (bytes, psnr, ssim) of SPECS on two embedded images, through a results store if ``out``."""
    store = ResultsStore(out, fresh=True) if out is not None else None
    runner = Runner(SPECS, cache=cache, store=store, threads=1)
    try:
        records = list(runner.run_dataset("embedded", max_images=2))
    finally:
        runner.close()
        if store is not None:
            store.close()
        if cache is not None:
            cache.cache.close()
    assert all(r.ok for r in records)
    if out is not None:
        assert [r.to_json() for r in read_records(out)] == [r.to_json() for r in records]  # the journal took them
    return {(r.spec, r.image): (r.bytes, r.psnr, r.ssim) for r in records}


@pytest.fixture(scope="module")
def reference() -> dict:
    """What the codecs measure without any cache."""
    return _run(None)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, reference) -> bytes:
    """The bytes of a cache file holding the entries of ``reference``'s run (closed: nothing left in a WAL file)."""
    path = tmp_path_factory.mktemp("pristine") / "c.sqlite"
    assert _run(RunCache(ResultsCache(path))) == reference
    assert not path.with_name("c.sqlite-wal").exists() or path.with_name("c.sqlite-wal").stat().st_size == 0
    return path.read_bytes()


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("codecbench: warning")]


def _cache_commands_work(path, capsys) -> None:
    """`cache info` answers (2: damaged, in one line); `cache clear` empties or removes the file; it is usable after."""
    assert main(["cache", "info", "--cache", str(path)]) in (0, 2)
    assert main(["cache", "clear", "--cache", str(path)]) == 0
    assert main(["cache", "info", "--cache", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] in (f"{path}: 0 entries, 0.0 MB",
                                                        f"{path}: empty (no cache file yet)")


@pytest.mark.parametrize("seed", range(12))
def test_flipped_bytes_never_serve_a_wrong_number_nor_stop_the_run(seed, pristine, reference, tmp_path, capsys):
    rng = random.Random(seed)
    data = bytearray(pristine)
    header = seed % 4 == 0  # the database header, else anywhere (page headers, cells, the text of entries)
    for _ in range(rng.choice([1, 4, 16, 64])):
        data[rng.randrange(100 if header else len(data))] ^= 1 << rng.randrange(8)
    path = tmp_path / "c.sqlite"
    path.write_bytes(bytes(data))
    capsys.readouterr()
    cache = RunCache(ResultsCache(path))
    assert _run(cache, tmp_path / "r.json") == reference  # every number measured, or reused intact
    warned = _warnings(capsys.readouterr().err)  # at most: one bad entry, then the file found unreadable
    assert sum("ignoring a bad entry" in w for w in warned) <= 1 and sum("without the cache" in w for w in warned) <= 1
    assert len(warned) == sum("ignoring a bad entry" in w or "without the cache" in w for w in warned)
    _cache_commands_work(path, capsys)


def _set_measurements(path, sql_value: str, *args) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE entries SET measurements = {sql_value}", args)
    conn.close()


DAMAGED = {
    "not-utf-8": ("CAST(? AS TEXT)", b'{"bpp":\xff\xfe1.2}'),
    "flipped-digit": ("replace(measurements, '\"bytes\":', '\"bytes\":1')",),
    "bpp-nan": ("replace(measurements, '\"bpp\":', '\"bpp\":NaN,\"x\":')",),
    "deeply-nested": ("?", "[" * 100_000 + "]" * 100_000),
    "huge-integer": ("?", '{"bytes": ' + "9" * 5000 + "}"),
    "not-an-object": ("?", "[1, 2]"),
    "not-json": ("?", "{'bytes': 1"),
}


@pytest.mark.parametrize("damage", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_entry_is_a_miss_with_one_warning(damage, pristine, reference, tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    path.write_bytes(pristine)
    _set_measurements(path, *damage)
    capsys.readouterr()
    cache = RunCache(ResultsCache(path))
    assert _run(cache, tmp_path / "r.json") == reference
    assert (cache.hits, cache.misses) == (0, 6) and cache.bad == 6
    err = capsys.readouterr().err
    assert len(_warnings(err)) == 1
    assert "ignoring a bad entry" in err
    assert "Traceback" not in err
    again = RunCache(ResultsCache(path))  # the entries measured again replaced the damaged ones
    assert _run(again) == reference and again.hits == 6


@pytest.mark.parametrize("damage", ["junk", "malformed", "schema-not-utf-8"])
def test_a_damaged_cache_file_disables_the_cache_and_the_commands_still_work(damage, pristine, reference,
                                                                              tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    if damage == "junk":
        path.write_bytes(b"not a database, only junk " * 500)
    elif damage == "malformed":  # every page after the first zeroed: the schema is there, the tables are not
        page = int.from_bytes(pristine[16:18], "big")
        path.write_bytes(pristine[:page] + bytes(len(pristine) - page))
    else:  # SQLite's error quotes the damaged schema text, which is not UTF-8 (Python raised UnicodeDecodeError)
        path.write_bytes(pristine.replace(b"CREATE TABLE entries", b"CREATE TAB\xceE entries", 1))
    capsys.readouterr()
    cache = RunCache(ResultsCache(path))
    assert _run(cache, tmp_path / "r.json") == reference
    err = capsys.readouterr().err
    assert cache.disabled
    assert len(_warnings(err)) == 1
    assert "cache clear" in err

    for command in (["info"], ["clear", "--codec", "jpeg"]):
        assert main(["cache", *command, "--cache", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"codecbench: error: results cache {path}") and err.count("\n") == 1
        assert "`codecbench cache clear` removes a damaged cache" in err
    _cache_commands_work(path, capsys)
