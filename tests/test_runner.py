"""The runner: records, failures recorded not raised, resume after a kill."""

import json
import pickle

import numpy as np
import pytest
from PIL import Image


from codecbench.engine.cache import ResultsCache, RunCache
from codecbench.core.images import SourceFile, source_file
from codecbench.core.results import journal_path, read_records, read_results
from codecbench.engine.store import ResultsStore
from codecbench.engine.measure import measure
from codecbench.engine.runner import Runner, Timing
from codecbench import create_codec
from tests.conftest import smooth_image


def test_measure_reports_real_rate_and_quality():
    image = smooth_image(64, 80)
    codec = create_codec("jpeg:quality=50")
    fields = measure(codec, image)
    assert fields["bytes"] == len(codec.encode(image))
    assert fields["bpp"] == pytest.approx(8 * fields["bytes"] / (64 * 80))
    assert 25 < fields["psnr"] < 50 and 0 < fields["ssim"] <= 1
    assert fields["ms_ssim"] is None  # shorter side below 161 px
    assert fields["enc_s"] > 0 and fields["dec_s"] > 0


def test_lossless_codec_is_exact():
    fields = measure(create_codec("png"), smooth_image(40, 40))
    assert fields["lossless_ok"] is True and fields["psnr"] is None


def test_run_over_folder_records_bad_files_and_goes_on(image_folder, tmp_path):
    store = ResultsStore(tmp_path / "r.json")
    runner = Runner(["jpeg:quality=30|80", "png"], timing=Timing(warmup=0), store=store)
    records = list(runner.run_dataset(f"folder:{image_folder}"))
    assert len(records) == 4 * 3
    bad = [r for r in records if not r.ok]
    assert {r.image for r in bad} == {"broken"} and all("ImageError" in r.error for r in bad)
    good = {(r.spec, r.image): r for r in records if r.ok}
    low, high = (good[(create_codec(f"jpeg:quality={q}").spec, "img0")] for q in (30, 80))
    assert low.bpp < high.bpp and low.psnr < high.psnr
    store.close()
    assert len(read_records(store.path)) == 12


def test_resume_after_a_kill_keeps_journaled_records_and_skips_a_torn_line(image_folder, tmp_path):
    killed = tmp_path / "killed.json"
    store = ResultsStore(killed)  # nothing but the journal is written until close()
    list(Runner(["jpeg:quality=50"], store=store).run_dataset(f"folder:{image_folder}"))
    lines = journal_path(killed).read_text().splitlines()
    assert not killed.exists() and len(lines) == 4
    # what a run killed mid-write leaves (its lock died with it): a journal with a torn last line, no JSON file
    path = tmp_path / "r.json"
    journal = journal_path(path)
    journal.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])
    store = ResultsStore(path)
    assert len(store.records) == 2
    assert path.exists()
    assert not journal.exists()
    kept = {r.key for r in store.records if r.ok}
    again = list(Runner(["jpeg:quality=50"], store=store).run_dataset(f"folder:{image_folder}"))
    store.close()
    assert len(again) == 4 - len(kept)  # the torn record and the failed image are redone; complete ones kept
    assert not kept & {r.key for r in again}
    meta, final = read_results(path)
    assert len(final) == 4
    assert len({r.key for r in final}) == 4
    assert meta["averaging"]
    assert json.loads(path.read_text())["records"]


def test_codec_exception_on_one_image_is_recorded():
    runner = Runner(["jpeg:quality=50"], timing=Timing(warmup=0))
    codec = runner.codec(runner.specs[0])
    record = runner.evaluate(codec, "synthetic", "rgba", np.zeros((8, 8, 4), np.uint8))
    assert record.error.startswith("ImageError") and record.bpp is None


def test_resume_measures_again_what_other_versions_made(image_folder, tmp_path):
    """A resumed run keeps only records made by the same codec versions (e.g. not those of an old checkpoint)."""
    path = tmp_path / "r.json"
    with ResultsStore(path) as store:
        first = [r for r in Runner(["jpeg:quality=50"], store=store).run_dataset(f"folder:{image_folder}") if r.ok]
    doc = json.loads(path.read_text())
    stale = next(r for r in doc["records"] if r["error"] is None)
    stale["versions"]["pillow"] = "0.0-old"
    path.write_text(json.dumps(doc))
    with ResultsStore(path) as store, pytest.warns(UserWarning, match=r"pillow 0\.0-old → "):
        again = list(Runner(["jpeg:quality=50"], store=store).run_dataset(f"folder:{image_folder}"))
    assert [r.image for r in again if r.ok] == [stale["image"]]
    assert len([r for r in read_records(path) if r.ok]) == len(first)
    assert all(r.versions.get("pillow") != "0.0-old" for r in read_records(path))


def test_records_name_the_source_file_also_on_a_cache_hit(image_folder, tmp_path):
    """source_bytes/source_format describe the file the pixels came from, whether or not the codec ran."""
    cache_path = tmp_path / "c.sqlite"
    for run, hits in (("cold", 0), ("warm", 6)):
        cache = RunCache(ResultsCache(cache_path))
        with ResultsStore(tmp_path / f"{run}.json") as store:
            records = list(Runner(["jpeg:quality=50", "png"], timing=Timing(warmup=0), store=store, cache=cache)
                           .run_dataset(f"folder:{image_folder}"))
        assert cache.hits == hits
        for r in [*records, *read_records(store.path)]:
            if r.image == "broken":  # not an image file: no source, and the image's error is recorded
                assert (r.source_bytes, r.source_format) == (None, None) and not r.ok
            else:
                file = image_folder / f"{r.image}.png"
                assert (r.source_bytes, r.source_format) == (file.stat().st_size, "PNG") and r.ok


def test_source_file_reads_the_header_only_and_never_raises(tmp_path):
    Image.fromarray(smooth_image(16, 24)).save(tmp_path / "photo.jpg", quality=80)
    assert source_file(tmp_path / "photo.jpg") == SourceFile((tmp_path / "photo.jpg").stat().st_size, "JPEG")
    batch = tmp_path / "test_batch"  # a CIFAR-10 pickle holds many images: no file of this one image
    batch.write_bytes(pickle.dumps({"labels": [1, 2], "data": np.zeros((2, 3072), np.uint8)}, protocol=4))
    (tmp_path / "truncated.png").write_bytes((tmp_path / "photo.jpg").read_bytes()[:2])
    for path in (batch, tmp_path / "truncated.png", tmp_path / "missing.png", tmp_path, None):
        assert source_file(path) is None


def test_time_spent_splits_codec_calls_from_scoring_and_a_warm_rerun_spends_no_codec_time(image_folder, tmp_path):
    cache_path = tmp_path / "c.sqlite"
    spent = []
    for _ in range(2):
        cache = RunCache(ResultsCache(cache_path))
        runner = Runner(["jpeg:quality=50", "png"], timing=Timing(warmup=1, repeats=2), cache=cache)
        records = [r for r in runner.run_dataset(f"folder:{image_folder}") if r.ok]
        cache.cache.close()
        spent.append(runner.time_spent)
    cold, warm = spent
    # cold: at least the timed calls (repeats × (enc + dec) per record), plus metrics beside them
    assert cold.codec >= 2 * sum(r.enc_s + r.dec_s for r in records) > 0
    assert cold.scoring > 0 and cold.loading > 0
    assert warm.codec == 0.0 and warm.scoring < cold.scoring  # every record a cache hit
    line = cold.summary(cold.codec + cold.scoring + cold.loading + 1.0)
    assert line.startswith("time: ")
    assert "codec calls" in line
    assert "metrics and cache" in line
