"""The `codecbench compare` regression gate, on real JPEG output."""

from __future__ import annotations

import json
import statistics

import pytest
from rd_helpers import jpeg_records

from codecbench.cli import main
from codecbench.analysis.gate import compare_files, compare_records
from codecbench.analysis.inputs import load_results
from codecbench.analysis.thresholds import Thresholds, parse_percent
from codecbench.core.errors import ResultsError
from codecbench.core.results import Record, write_results
from codecbench.render.gate import comparison_markdown


@pytest.fixture(scope="module")
def base():
    return jpeg_records()


def _write(path, records):
    write_results(path, records, meta={})
    return path


def test_identical_results_pass(base, tmp_path):
    b = _write(tmp_path / "base.jsonl", base)
    n = tmp_path / "new.json"  # the JSON document form of a results file
    n.write_text(json.dumps({"meta": {"date": "x"}, "records": [r.to_json() for r in base]}), encoding="utf-8")
    result = compare_files(b, n)
    assert result.ok and result.violations == []
    markdown = comparison_markdown(result)
    assert "| jpeg | 0.000% | 7 | +0.00% | +0.000 dB | 1.00 | 1.00 | ok |" in markdown
    assert "No regression beyond the thresholds" in markdown
    assert main(["compare", str(b), str(n)]) == 0


def test_a_codec_run_at_a_worse_setting_fails_naming_codec_and_setting(base, tmp_path, capsys):
    # NEW is a real run at quality q-5, labelled as if it were quality q: the settings got worse
    worse = jpeg_records((5, 20, 35, 50, 65, 80, 90), spec_quality=lambda q: {5: 10, 90: 95}.get(q, q + 5))
    result = compare_records(base, worse)
    assert not result.ok
    failing = {(v.codec, v.setting) for v in result.violations}
    assert ("jpeg", "quality=40") in failing and ("jpeg", "quality=95") in failing
    assert all("PSNR" in v.message for v in result.violations if v.setting == "quality=40")
    b = _write(tmp_path / "base.jsonl", base)
    n = _write(tmp_path / "new.jsonl", worse)
    assert main(["compare", str(b), str(n)]) == 1
    err = capsys.readouterr().err
    assert "photos/cpu: jpeg quality=40: PSNR" in err


def test_a_real_bitstream_regression_fails_on_bd_rate_and_bpp(base):
    # Same pixels, but Huffman tables no longer optimised: more bytes for the same quality
    plain = jpeg_records(optimize=False)
    result = compare_records(base, plain)
    messages = [str(v) for v in result.violations]
    assert any("BD-rate (PSNR)" in m and v.setting is None for m, v in zip(messages, result.violations))
    assert any("quality=55: bpp" in m for m in messages)
    assert not any("PSNR " in v.message and v.setting for v in result.violations)  # quality itself is unchanged
    bd = next(v for v in result.violations if "BD-rate" in v.message)
    assert float(bd.message.split("%")[0].split()[-1]) > 2.0
    # the thresholds are what decides
    loose = Thresholds(max_bd_rate=50, max_bpp_rise=50)
    assert compare_records(base, plain, loose).ok


def test_a_small_improvement_passes(base):
    faster = [Record(**{**r.__dict__, "enc_s": r.enc_s * 0.5}) for r in base]
    result = compare_records(base, faster)
    assert result.ok
    assert "| 0.50 | 1.00 | ok |" in comparison_markdown(result)  # speed ratios reported


def test_slowdown_gate_is_opt_in(base):
    slower = [Record(**{**r.__dict__, "dec_s": r.dec_s * 1.5}) for r in base]
    assert compare_records(base, slower).ok
    result = compare_records(base, slower, Thresholds(max_slowdown=1.15))
    assert [v.message for v in result.violations] == ["decode time ×1.50 of BASE > ×1.15"]


def test_missing_codec_fails_and_new_codec_is_information(base):
    webp = [Record(**{**r.__dict__, "codec": "webp", "spec": r.spec.replace("jpeg", "webp")}) for r in base]
    result = compare_records(base + webp, base)
    assert [str(v) for v in result.violations] == ["photos/cpu: webp: missing from NEW"]
    result = compare_records(base, base + webp)
    assert result.ok and any("webp is new in NEW" in n for n in result.notes)


def test_missing_setting_and_failed_image_fail(base):
    fewer = [r for r in base if r.setting != 85]
    result = compare_records(base, fewer)
    assert [str(v) for v in result.violations] == ["photos/cpu: jpeg quality=85: setting missing from NEW"]
    broken = [Record(**{**r.__dict__}) for r in base]
    victim = next(r for r in broken if r.setting == 25 and r.image == "chelsea")
    victim.error, victim.bpp, victim.psnr = "DecodeError: corrupt", None, None
    result = compare_records(base, broken)
    assert [str(v) for v in result.violations] == [
        "photos/cpu: jpeg quality=25: not the same failed images in BASE and NEW, so no mean is compared: "
        "failed images only in NEW: chelsea"]


def test_runs_on_different_image_subsets_fail_naming_the_images(base):
    two = [r for r in base if r.image != "coffee"]
    result = compare_records(base, two)
    assert len(result.violations) == 7 and result.violations[0].message == (
        "not the same images in BASE and NEW, so no mean is compared: images only in BASE: coffee")
    assert "| jpeg | n/a (" in comparison_markdown(result)  # no BD-rate over other images


def _pytest_benchmark_doc(records, shift_psnr=0.0):
    """A pytest-benchmark JSON document as `pytest bench` writes it: dataset means in extra_info."""
    benches = []
    specs = sorted({r.spec for r in records})
    for spec in specs:
        group = [r for r in records if r.spec == spec]
        info = {
            "spec": spec, "dataset": group[0].dataset, "device": "cpu", "codec": "jpeg", "setting": group[0].setting,
            "bpp": statistics.fmean(r.bpp for r in group),
            "psnr": statistics.fmean(r.psnr for r in group) + shift_psnr,
            "psnr_y": statistics.fmean(r.psnr_y for r in group),
            "ssim": statistics.fmean(r.ssim for r in group),
            "ms_ssim": statistics.fmean(r.ms_ssim for r in group),
            "n_images": len(group), "pixels": sum(r.width * r.height for r in group),
        }
        for phase, seconds in (("encode", 0.006), ("decode", 0.003)):
            benches.append({
                "group": f"{phase} {group[0].dataset} cpu", "name": f"test_{phase}[{spec}-photos-cpu]",
                "fullname": f"bench/test_codecs.py::test_{phase}[{spec}-photos-cpu]",
                "params": {"spec": spec, "dataset": "photos", "device": "cpu"}, "param": f"{spec}-photos-cpu",
                "extra_info": {**info, "phase": phase},
                "stats": {"median": seconds, "min": seconds, "max": seconds, "mean": seconds, "rounds": 1},
            })
    return {"machine_info": {}, "commit_info": {}, "benchmarks": benches, "datetime": "", "version": "5.1.0"}


def test_pytest_benchmark_json_is_compared_on_dataset_means(base, tmp_path):
    b = tmp_path / "0001_base.json"
    b.write_text(json.dumps(_pytest_benchmark_doc(base)))
    records, kind, duplicates = load_results(b)[:3]
    assert kind == "pytest-benchmark"
    assert len(records) == 7
    assert duplicates == []
    assert records[0].enc_s == pytest.approx(0.002) and records[0].dec_s == pytest.approx(0.001)
    n = tmp_path / "0002_new.json"
    n.write_text(json.dumps(_pytest_benchmark_doc(base, shift_psnr=-0.2)))
    assert compare_files(b, b).ok
    result = compare_files(b, n)
    assert len([v for v in result.violations if v.setting]) == 7
    # a codecbench results file against a pytest-benchmark file of the same run: same means, passes
    jl = _write(tmp_path / "run.jsonl", base)
    mixed = compare_files(jl, b)
    assert mixed.ok and "compared on dataset means" in comparison_markdown(mixed)
    assert "| jpeg | 0.000% | 7 | +0.00% | +0.000 dB |" in comparison_markdown(mixed)  # really compared
    # means over other images are not comparable: a failure, never a vacuous pass
    fewer = compare_files(_write(tmp_path / "two.jsonl", [r for r in base if r.image != "coffee"]), b)
    assert len(fewer.violations) == 7 and fewer.violations[0].message == (
        "not the same images in BASE and NEW, so no mean is compared: "
        "images only in NEW: (3 images); images only in BASE: (2 images)")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty results file"),
        ("{broken", "not JSON or JSON Lines"),
        ('{"codec": "jpeg", "spec": "jpeg:quality=5"}\n{"codec": "jpeg"}\n',
         r"bad\.json:1: not a codecbench record: missing field\(s\) setting, dataset, image, width, height$"),
        ('[1, 2]', "not a codecbench results file"),
        ('{"hello": "world"}', "not a codecbench results file"),
        ('{"benchmarks": [{"name": "test_x", "params": {}, "extra_info": {}}]}', "without codecbench benchmarks"),
        ('{"name": "JPEG", "results": {"bpp": [0.1], "psnr-rgb": [30]}}', "CompressAI results file"),
    ],
)
def test_bad_input_gives_one_clear_error_and_exit_2(tmp_path, capsys, content, message, base):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ResultsError, match=message):
        load_results(bad)
    good = _write(tmp_path / "good.jsonl", base[:3])
    assert main(["compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_and_threshold_syntax(tmp_path, capsys, base):
    good = _write(tmp_path / "good.jsonl", base[:3])
    assert main(["compare", str(good), str(tmp_path / "nope.jsonl")]) == 2
    assert "no such results file" in capsys.readouterr().err
    assert parse_percent("0.5%") == parse_percent("0.5") == 0.5
    assert main(["compare", str(good), str(good), "--max-bpp-rise", "1%", "--max-psnr-drop", "0.1dB"]) == 0
    with pytest.raises(SystemExit):
        main(["compare", str(good), str(good), "--max-bpp-rise", "lots"])


# -- the pytest-benchmark workflow (latency) and compare on its JSON -----------------------
import subprocess  # noqa: E402
import sys  # noqa: E402
from tests.conftest import REPO, nested_pytest_env  # noqa: E402
TINY = ["--codecs", "jpeg:quality=50", "--datasets", "embedded", "--max-images", "1", "--rounds", "1"]


def _bench(tmp_path, *extra):
    """`pytest bench --benchmark-only` on a tiny config, storage and reports in tmp_path."""
    # only the codec benchmarks: other benchmark modules in bench/ are not what this test is about
    cmd = [sys.executable, "-m", "pytest", "bench/test_codecs.py", "--benchmark-only", "-p", "no:cacheprovider", "-q", *TINY,
           f"--benchmark-storage=file://{tmp_path / 'storage'}", "--report-dir", str(tmp_path / "reports"), *extra]
    env = nested_pytest_env(CODECBENCH_CACHE=str(tmp_path / "cache"))
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _saved(tmp_path):
    return sorted((tmp_path / "storage").rglob("*.json"))


def test_benchmark_autosave_then_compare_fail_lines_up_by_spec_dataset_device(tmp_path):
    first = _bench(tmp_path, "--benchmark-autosave")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    (saved,) = _saved(tmp_path)
    doc = json.loads(saved.read_text())
    names = sorted(b["fullname"] for b in doc["benchmarks"])
    assert names == ["bench/test_codecs.py::test_decode[jpeg:quality=50-embedded-cpu]",
                     "bench/test_codecs.py::test_encode[jpeg:quality=50-embedded-cpu]"]
    assert {b["group"] for b in doc["benchmarks"]} == {"jpeg embedded cpu"}
    info = doc["benchmarks"][0]["extra_info"]
    assert info["spec"] == "jpeg:quality=50"
    assert info["dataset"] == "embedded"
    assert info["device"] == "cpu"
    assert info["bpp"] > 0 and info["psnr"] > 20

    # the saved run made impossibly fast: NOW is a >15% median regression, and the gate fails
    fast = json.loads(saved.read_text())
    for b in fast["benchmarks"]:
        b["stats"] = {k: (v * 1e-6 if isinstance(v, float) else v) for k, v in b["stats"].items()}
    saved.write_text(json.dumps(fast))
    slow = _bench(tmp_path, "--benchmark-compare", "--benchmark-compare-fail=median:15%")
    assert slow.returncode != 0
    assert "Performance has regressed" in slow.stdout + slow.stderr
    assert "test_encode[jpeg:quality=50-embedded-cpu]" in slow.stdout + slow.stderr

    # the saved run made very slow: NOW is faster, the gate passes
    for b in fast["benchmarks"]:
        b["stats"] = {k: (v * 1e12 if isinstance(v, float) else v) for k, v in b["stats"].items()}
    saved.write_text(json.dumps(fast))
    ok = _bench(tmp_path, "--benchmark-compare", "--benchmark-compare-fail=median:15%", "--benchmark-autosave")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "Performance has regressed" not in ok.stdout + ok.stderr

    # quality/rate gate on the two pytest-benchmark JSON files: same codec, same bits -> passes
    base, new = _saved(tmp_path)
    assert main(["compare", str(base), str(new)]) == 0
    # the session's codecbench results against pytest-benchmark's JSON of the same run (short vs canonical specs)
    result = compare_files(tmp_path / "reports" / "embedded.json", new)
    assert result.ok and "| jpeg | quality=50 |" in comparison_markdown(result)
    # and the session report carries the RD analysis
    report = (tmp_path / "reports" / "embedded.md").read_text()
    assert "Rate–distortion analysis — embedded" in report
