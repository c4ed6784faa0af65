"""One measurement path and one metric table: every caller measures alike, metrics are table entries,
plug-in metrics arrive through entry points, and the defaults never overwrite the committed reports."""

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.core import metrics
from codecbench.core.codec import create_codec
from codecbench.engine.measure import mean_measures, measure
from codecbench.core.errors import DecodeError, OptionError
from codecbench.core.records import METRIC_FIELDS, record_keys
from codecbench.core.results import Record, read_records
from codecbench.engine.runner import Runner
from tests.conftest import REPO, smooth_image


def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "codecbench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env=env)


@pytest.fixture
def photo_folder(tmp_path, data_root) -> Path:
    """Two 192×192 crops of Kodak photographs (real content, small enough to be quick)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in (3, 19):
        image = np.array(Image.open(data_root / "kodak" / f"kodim{i:02d}.png").convert("RGB"))
        Image.fromarray(image[100:292, 200:392]).save(folder / f"kodim{i:02d}.png")
    return folder


# -- the metric table -----------------------------------------------------------------
def test_every_metric_is_a_record_json_key_in_table_order():
    names = list(record_keys())
    metric_names = list(metrics.METRICS)
    start = names.index("bpp") + 1
    assert names[start : start + len(metric_names)] == metric_names


def test_the_record_metric_fields_are_built_in_metrics_and_the_others_extra():
    builtin = [e.name for e in metrics.METRICS.entries() if e.module == "codecbench.core.metrics"]
    assert list(METRIC_FIELDS) == builtin[: len(METRIC_FIELDS)], "the fields in table order, before any other"
    assert set(METRIC_FIELDS) <= set(Record.__dataclass_fields__)
    others = [name for name in metrics.METRICS if name not in METRIC_FIELDS]
    assert others, "the opt-in metrics of codecbench.core.iqa are registered"
    assert not set(others) & set(Record.__dataclass_fields__)


def test_score_computes_exactly_the_selected_metrics():
    a = smooth_image(200, 200, 1)
    b = np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)
    assert set(metrics.score(a, b, ("psnr",))) == {"psnr"}
    full = metrics.score(a, b)
    assert set(full) == set(metrics.default_metrics()) and "ssimulacra2" not in full
    assert full["psnr"] == pytest.approx(metrics.psnr(a, b)) and full["ssim"] == pytest.approx(metrics.ssim(a, b))


@pytest.mark.parametrize("text, expected", [
    ("", None), ("psnr,ssim", ("psnr", "ssim")), ("+ssimulacra2", (*metrics.default_metrics(), "ssimulacra2")),
    ("-ms_ssim", tuple(m for m in metrics.default_metrics() if m != "ms_ssim")),
])
def test_select_metrics(text, expected):
    assert metrics.select_metrics(text) == (expected or metrics.default_metrics())


@pytest.mark.parametrize("text", ["psnr,nosuch", "+psnr,ssim"])
def test_bad_metric_selection_is_an_option_error(text):
    with pytest.raises(OptionError):
        metrics.select_metrics(text)


def test_unknown_metric_on_the_cli_is_one_line_exit_2(tmp_path):
    done = run_cli("run", "--codecs", "png", "--metrics", "+lpips", "-o", str(tmp_path / "r.json"))
    assert done.returncode == 2
    assert "lpips" in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_importing_the_metric_table_does_not_import_torch():
    code = "import sys, codecbench.core.metrics, codecbench.core.results; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


# -- SSIMULACRA 2 -------------------------------------------------------------------
def _jpeg(image: np.ndarray, quality: int, subsampling: int = 0) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def test_an_opt_in_metric_gets_a_report_column_only_where_computed(image_folder, tmp_path):
    from codecbench.render.output import build_reports

    with Runner(["jpeg:quality=40|80"], metrics=(*metrics.default_metrics(), "ssimulacra2")) as runner:
        with_s2 = list(runner.run_dataset(f"folder:{image_folder}"))
    with Runner(["jpeg:quality=40|80"]) as runner:
        without = list(runner.run_dataset(f"folder:{image_folder}"))
    (text,) = build_reports(with_s2, None, rd=None).values()
    assert "SSIMULACRA2" in text and all(r.ssimulacra2 is not None for r in with_s2 if r.ok)
    (plain,) = build_reports(without, None, rd=None).values()
    assert "SSIMULACRA2" not in plain and "MS-SSIM" in plain


def test_ssimulacra2_is_100_for_identical_images_gray_ones_included():
    a = smooth_image(64, 64, 2)
    assert metrics.ssimulacra2(a, a) == pytest.approx(100.0)
    assert metrics.ssimulacra2(a[..., :1], a[..., :1]) == pytest.approx(100.0)


def test_ssimulacra2_follows_libjxl_calibration_on_kodak(data_root):
    """libjxl's tool documents its scale on libjpeg-turbo 4:4:4: quality 35 ≈ 50 and quality 70 ≈ 70 (a corpus
    mean); on 384×384 crops of six Kodak images the port must rank them so and land near those anchors (±12;
    measured here: 58.5 and 74.8)."""
    crops = [np.array(Image.open(data_root / "kodak" / f"kodim{i:02d}.png").convert("RGB"))[128:512, 128:512]
             for i in (1, 5, 9, 13, 17, 21)]
    q35 = np.mean([metrics.ssimulacra2(c, _jpeg(c, 35)) for c in crops])
    q70 = np.mean([metrics.ssimulacra2(c, _jpeg(c, 70)) for c in crops])
    q95 = np.mean([metrics.ssimulacra2(c, _jpeg(c, 95)) for c in crops])
    assert q35 < q70 < q95 < 100
    assert abs(q35 - 50) <= 12 and abs(q70 - 70) <= 12


# -- one measure() ------------------------------------------------------------------------
def test_measure_scores_against_a_reference_when_given():
    clean = smooth_image(96, 96, 3)
    noisy = np.clip(clean.astype(int) + np.random.default_rng(0).normal(0, 8, clean.shape), 0, 255).astype(np.uint8)
    codec = create_codec("png")
    against_input = measure(codec, noisy)
    against_clean = measure(codec, noisy, reference=clean)
    assert against_input["lossless_ok"] is True and against_input["psnr"] is None
    assert against_clean["psnr"] == pytest.approx(metrics.psnr(clean, noisy))
    assert against_input["bpp"] == pytest.approx(8 * against_input["bytes"] / (96 * 96))


def test_mean_measures_is_the_mean_of_measure():
    images = [smooth_image(64, 80, s) for s in range(3)]
    codec = create_codec("jpeg:quality=50")
    rows = [measure(codec, im) for im in images]
    means = mean_measures(codec, images)
    assert means["images"] == 3 and means["ms_ssim"] is None  # below 161 px
    assert means["bpp"] == pytest.approx(np.mean([r["bpp"] for r in rows]))
    assert means["psnr"] == pytest.approx(np.mean([r["psnr"] for r in rows]))


def test_a_wrong_decoded_shape_is_a_decode_error():
    codec = create_codec("png")
    image = smooth_image(32, 32)
    with pytest.raises(DecodeError):
        from codecbench.engine.measure import score

        score(codec, image, b"x", image[:16])


def test_runner_computes_only_the_selected_metrics(image_folder):
    with Runner(["jpeg:quality=50"], metrics=("psnr",)) as runner:
        records = [r for r in runner.run_dataset(f"folder:{image_folder}") if r.ok]
    assert records and all(r.psnr is not None and r.ssim is None and r.psnr_y is None for r in records)


def test_the_cache_measures_again_when_a_metric_is_added(image_folder, tmp_path):
    from codecbench.engine.cache import ResultsCache, RunCache

    cache = RunCache(ResultsCache(tmp_path / "cache.sqlite"))
    with Runner(["jpeg:quality=50"], metrics=("psnr",), cache=cache) as runner:
        first = [r for r in runner.run_dataset(f"folder:{image_folder}") if r.ok]
    with Runner(["jpeg:quality=50"], metrics=("psnr", "ssim"), cache=cache) as runner:
        second = [r for r in runner.run_dataset(f"folder:{image_folder}") if r.ok]
    assert all(r.ssim is None for r in first) and all(r.ssim is not None for r in second)
    assert [r.psnr for r in first] == [r.psnr for r in second]


# -- plug-in metrics --------------------------------------------------------------------
PLUGIN = textwrap.dedent('''
    import numpy as np
    from codecbench.core.metrics import Metric

    def _mae(original, decoded):
        return {"mae": float(np.mean(np.abs(original.astype(float) - decoded)))}

    METRIC = Metric("mae", "MAE", "", _mae, higher_is_better=False, default=False)
''')


def test_a_metric_plugin_reaches_records_and_the_list(tmp_path, image_folder):
    site = tmp_path / "site"
    (site / "tinymetric-0.1.dist-info").mkdir(parents=True)
    (site / "tinymetric.py").write_text(PLUGIN)
    (site / "tinymetric-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: tinymetric\nVersion: 0.1\n")
    (site / "tinymetric-0.1.dist-info" / "entry_points.txt").write_text("[codecbench.metrics]\nmae = tinymetric:METRIC\n")
    env = {**os.environ, "PYTHONPATH": f"{site}:{REPO}"}
    listed = run_cli("list", "metrics", env=env)
    assert listed.returncode == 0 and "mae" in listed.stdout
    out = tmp_path / "r.json"
    done = run_cli("run", "--codecs", "jpeg:quality=30", "--datasets", f"folder:{image_folder}", "--metrics", "+mae",
                   "-o", str(out), "--no-cache", "--report-dir", str(tmp_path / "reports"), env=env)
    assert done.returncode == 0, done.stderr
    (report,) = (tmp_path / "reports").glob("*.md")
    assert "| MAE |" in report.read_text()  # the plug-in's column, from its table entry alone
    records = [r for r in json.loads(out.read_text())["records"] if r["error"] is None]
    codec = create_codec("jpeg:quality=30")
    for record in records:
        image = np.array(Image.open(image_folder / f"{record['image']}.png").convert("RGB"))
        expected = np.mean(np.abs(image.astype(float) - codec.decode(codec.encode(image))))
        assert record["mae"] == pytest.approx(expected)


# -- defaults that don't clobber, and one report ---------------------------------------------
def test_run_writes_into_a_git_ignored_results_folder_by_default(tmp_path, image_folder):
    done = run_cli("run", "--codecs", "png", "--datasets", f"folder:{image_folder}", "--no-cache", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "results.json").is_file() and not (tmp_path / "reports").exists()
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/results.json"], cwd=REPO)
    assert ignored.returncode == 0  # inside the repository the default output is never committed by accident


def test_the_bench_plugin_reports_into_results_by_default_apart_from_run():
    """`pytest bench` writes results/bench/<dataset>.md and .json: never codecbench run's results/<dataset>.md."""
    from codecbench.cli.run import DEFAULT_OUT
    from codecbench.integrations.pytest_plugin import DEFAULT_REPORT_DIR

    assert DEFAULT_REPORT_DIR == Path("results") / "bench" and DEFAULT_REPORT_DIR != DEFAULT_OUT.parent
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/bench/kodak.md"], cwd=REPO)
    assert ignored.returncode == 0


def test_run_report_dir_writes_the_same_full_report_as_codecbench_report(tmp_path, photo_folder):
    out, from_run, from_report = tmp_path / "r.json", tmp_path / "run-reports", tmp_path / "report-reports"
    specs = "jpeg:quality=20|40|60|80,webp:quality=20|40|60|80"
    done = run_cli("run", "--codecs", specs, "--datasets", f"folder:{photo_folder}", "-o", str(out), "--no-cache",
                   "--report-dir", str(from_run))
    assert done.returncode == 0, done.stderr
    assert run_cli("report", str(out), "--out", str(from_report)).returncode == 0
    (run_md,) = from_run.glob("*.md")
    (report_md,) = from_report.glob("*.md")
    assert "BD-rate" in run_md.read_text()
    assert run_md.read_text() == report_md.read_text()
    assert sorted(p.name for p in (from_run / "plots").iterdir()) == sorted(p.name for p in (from_report / "plots").iterdir())
    assert len(read_records(out)) == 16


def test_report_on_the_committed_kodak_results_does_not_import_torch_or_codecs(tmp_path):
    """Rendering reads records only: the curves take the rate knob from the records, never from the codecs."""
    code = textwrap.dedent(f'''
        import sys
        from codecbench.cli import main
        status = main(["report", "{REPO}/reports/results/kodak-classical.json",
                       "{REPO}/reports/results/kodak-learned.json", "--out", "{tmp_path}", "--no-plots"])
        print(status, "torch" in sys.modules, any(m.startswith("codecbench.codecs") for m in sys.modules))
    ''')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines()[-1].split() == ["0", "False", "False"], done.stderr[-2000:]
    assert "BD-rate" in (tmp_path / "kodak.md").read_text()


def test_records_name_their_rate_knob(image_folder):
    with Runner(["jpeg:quality=50", "png"], metrics=("psnr",)) as runner:
        records = list(runner.run_dataset(f"folder:{image_folder}", max_images=1))
    assert {(r.codec, r.knob) for r in records} == {("jpeg", "quality"), ("png", "compress_level")}


def test_a_classical_sweep_imports_no_torch_in_process_or_in_its_workers(tmp_path):
    """Codecs are looked up module by module and workers import only what they run: a JPEG run, in-process
    and with two worker processes, never imports torch (seconds of start-up per process)."""
    code = textwrap.dedent(f'''
        import sys
        from codecbench.engine.runner import Runner
        with Runner(["jpeg:quality=50"], jobs=1) as serial:
            assert all(r.ok for r in serial.run_dataset("embedded", max_images=2))
        with Runner(["jpeg:quality=50"], jobs=2) as parallel:
            assert all(r.ok for r in parallel.run_dataset("embedded", max_images=2))
            seen = [w.call("modules_probe:imported", "torch") for w in parallel.executor.workers]
        print("torch" in sys.modules, *seen)
    ''')
    (tmp_path / "modules_probe.py").write_text("import sys\n\ndef imported(name):\n    return name in sys.modules\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=env)
    assert done.stdout.split() == ["False", "False", "False"], done.stderr[-2000:]
