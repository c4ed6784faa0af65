"""The opt-in IQA metrics against their references: piq's values (VIF, FSIM, FSIMc, IW-SSIM), Sharma et al.'s
CIEDE2000 data, a block-by-block PSNR-HVS-M, a scipy MS-SSIM, pyiqa's NLPD, dssim-core's DSSIM; libjxl's tool
where installed (VMAF: test_vmaf.py); the presets and the listing."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.cli.catalog import metrics_listing
from codecbench.core import metrics, refcache
from codecbench.core.errors import OptionError
from codecbench.core.records import Record
from codecbench.core.iqa import colour, dssim, external, fsim, iw_ssim, nlpd, psnr_hvs, table, vif
from tests.reference_values.iqa_cases import CASES, kodak_pair, pair
from tests.test_metrics import _reference_ms_ssim

#: piq 0.8.0's values on float64 tensors, written by tests/reference_values/piq_values.py; key: (*case, gray)
_PIQ_FILE = Path(__file__).parent / "reference_values" / "piq_values.json"
PIQ_VALUES: dict[tuple, dict] = {(*row["case"], row["gray"]): row for row in json.loads(_PIQ_FILE.read_text())}


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.fixture(params=list(PIQ_VALUES), ids=lambda key: "-".join(map(str, key)))
def piq_case(request):
    refcache.clear()
    original, decoded = pair(request.param[:4], gray=request.param[4])
    return original, decoded, PIQ_VALUES[request.param]


def test_vif_matches_piq(piq_case):
    original, decoded, expected = piq_case
    assert vif.vif(original, decoded) == pytest.approx(expected["vif"], abs=1e-9)


def test_fsim_and_fsimc_match_piq(piq_case):
    original, decoded, expected = piq_case
    gray, colour_value = fsim.fsim(original, decoded)
    assert gray == pytest.approx(expected["fsim"], abs=1e-9)
    assert colour_value == (None if expected["fsimc"] is None else pytest.approx(expected["fsimc"], abs=1e-9))


def test_iw_ssim_matches_piq(piq_case):
    original, decoded, expected = piq_case
    if expected["iw_ssim"] is None:
        assert iw_ssim.iw_ssim(original, decoded) is None
    else:
        # RGB inputs agree to 1e-15; one-channel ones to 6e-8 (measured; the cause was not isolated)
        assert iw_ssim.iw_ssim(original, decoded) == pytest.approx(expected["iw_ssim"], abs=1e-7)


def test_identical_images_score_perfect():
    a = pair(CASES[-1])[0]
    scores = metrics.score(a, a, ["vif", "fsim", "fsimc", "iw_ssim", "ms_ssim_y", "psnr_hvs_m", "ciede2000"])
    assert scores["vif"] == pytest.approx(1.0, abs=1e-8)  # the noise variance's floor, EPS = 1e-8, as piq
    assert (scores["fsim"], scores["fsimc"]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert scores["iw_ssim"] == pytest.approx(1.0, abs=1e-9)
    assert scores["ms_ssim_y"] == pytest.approx(1.0, abs=1e-6)
    assert (scores["psnr_hvs_m"], scores["ciede2000"]) == (None, None)  # no error: infinite, as PSNR's None


@pytest.mark.parametrize("name", ["vif", "fsim", "fsimc", "iw_ssim", "ms_ssim_y", "psnr_hvs_m", "ciede2000"])
def test_scores_fall_as_jpeg_quality_falls(name):
    a = pair(CASES[-1])[0]
    good, bad = (metrics.score(a, _jpeg(a, q), [name])[name] for q in (90, 15))
    assert bad < good


def test_too_small_images_are_none():
    a = pair(CASES[0])[0][:20, :30]
    assert metrics.score(a, a, ["vif", "iw_ssim", "ms_ssim_y"]) == {"vif": None, "iw_ssim": None, "ms_ssim_y": None}


# -- PSNR-HVS-M --------------------------------------------------------------------------------
def _psnr_hvs_m_blockwise(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR-HVS-M written block by block from Ponomarenko et al. (VPQM-07), with scipy's orthonormal DCT."""
    from scipy.fft import dctn

    def mask(block, dct):
        energy = sum(dct[k, l] ** 2 * psnr_hvs.MASK[k, l] for k in range(8) for l in range(8) if k or l)
        total = block.var(ddof=1) * 64
        if total:
            total = sum(block[r:r + 4, c:c + 4].var(ddof=1) * 16 for r in (0, 4) for c in (0, 4)) / total
        return math.sqrt(energy * total) / 32

    s1, count = 0.0, 0
    for y in range(0, a.shape[0] - 7, 8):
        for x in range(0, a.shape[1] - 7, 8):
            ba, bb = a[y:y + 8, x:x + 8], b[y:y + 8, x:x + 8]
            da, db = dctn(ba, norm="ortho"), dctn(bb, norm="ortho")
            m = max(mask(ba, da), mask(bb, db))
            for k in range(8):
                for l in range(8):
                    u = abs(da[k, l] - db[k, l])
                    if k or l:
                        u = max(u - m / psnr_hvs.MASK[k, l], 0.0)
                    s1 += (u * psnr_hvs.CSF[k, l]) ** 2
                    count += 1
    return 10 * math.log10(255**2 / (s1 / count))


@pytest.mark.parametrize("case", CASES[:4], ids=lambda c: f"{c[0]}x{c[1]}-{c[3]}")
def test_psnr_hvs_m_matches_a_blockwise_transcription(case):
    original, decoded = pair(case)
    expected = _psnr_hvs_m_blockwise(colour.luma(original), colour.luma(decoded))
    assert psnr_hvs.psnr_hvs_m(original, decoded) == pytest.approx(expected, abs=1e-9)


# -- CIEDE2000 ---------------------------------------------------------------------------------
#: pairs 1, 2, 3, 7, 17 and 25 of Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1
SHARMA = [((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
          ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
          ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
          ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
          ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
          ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)]


def test_the_ciede2000_formula_gives_sharmas_values():
    from skimage.color import deltaE_ciede2000

    lab1, lab2, expected = (np.array(column) for column in zip(*SHARMA))
    np.testing.assert_allclose(deltaE_ciede2000(lab1, lab2), expected, atol=1e-4)


def test_ciede2000_is_libvmafs_db_of_the_mean_delta_e():
    from skimage.color import deltaE_ciede2000, rgb2lab

    original, decoded = pair(CASES[0])
    mean = deltaE_ciede2000(rgb2lab(original), rgb2lab(decoded)).mean()
    assert colour.ciede2000(original, decoded) == pytest.approx(45 - 20 * math.log10(mean), abs=1e-9)


def test_ms_ssim_y_is_ms_ssim_of_the_luma():
    original, decoded = pair((256, 320, 5, "noise"))  # the reference pools without padding: sides divisible by 16
    luma = [colour.luma(image)[..., None] for image in (original, decoded)]
    assert metrics.score(original, decoded, ["ms_ssim_y"])["ms_ssim_y"] == pytest.approx(
        _reference_ms_ssim(*luma), abs=1e-4)


# -- NLPD and DSSIM, against the programs they were ported from --------------------------------
def _reference_rows(name: str) -> list[dict]:
    return json.loads((Path(__file__).parent / "reference_values" / f"{name}_values.json").read_text())


#: pyiqa 0.1.16's NLPD (float64), written by tests/reference_values/pyiqa_values.py
PYIQA_ROWS = _reference_rows("pyiqa")
#: dssim-core 3.4.0's DSSIM (the dssim tool's library), written by tests/reference_values/dssim_values.py
DSSIM_ROWS = _reference_rows("dssim")
#: measured: ≤ 2.1e-9; pyiqa keeps its filters, σ and luma weights in float32 (with those rounded the same,
#: this port agrees to 3e-16)
NLPD_TOLERANCE = 5e-9
#: measured: ≤ 3.2e-7 (1.7e-4 relative) on values of 6e-4 to 2e-2; dssim-core computes in float32
DSSIM_TOLERANCE = 5e-7
PORTED = [(nlpd.nlpd, "nlpd", NLPD_TOLERANCE, PYIQA_ROWS), (dssim.dssim, "dssim", DSSIM_TOLERANCE, DSSIM_ROWS)]


@pytest.mark.parametrize("function, name, tolerance, rows", PORTED, ids=["nlpd", "dssim"])
def test_ported_metrics_match_their_reference_programs(function, name, tolerance, rows):
    synthetic = [row for row in rows if "case" in row]
    assert len(synthetic) == 2 * len(CASES)
    for row in synthetic:
        refcache.clear()
        value = function(*pair(tuple(row["case"]), gray=row["gray"]))
        assert value == pytest.approx(row[name], abs=tolerance), row


@pytest.mark.parametrize("function, name, tolerance, rows", PORTED, ids=["nlpd", "dssim"])
def test_ported_metrics_match_their_reference_programs_on_a_kodak_crop(data_root, function, name, tolerance, rows):
    kodak = [row for row in rows if "kodak" in row]
    assert kodak
    for row in kodak:
        refcache.clear()
        value = function(*kodak_pair(data_root / "kodak", row["kind"]))
        assert value == pytest.approx(row[name], abs=tolerance), row


@pytest.mark.parametrize("gray", [False, True])
def test_nlpd_and_dssim_are_zero_for_identical_images_and_rise_as_jpeg_quality_falls(gray):
    channels = slice(1, 2) if gray else slice(None)
    a = pair(CASES[-1])[0]
    assert metrics.score(a[..., channels], a[..., channels], ["nlpd", "dssim"]) == {"nlpd": 0.0, "dssim": 0.0}
    good, bad = (metrics.score(a[..., channels], _jpeg(a, q)[..., channels], ["nlpd", "dssim"]) for q in (90, 15))
    assert 0 < good["nlpd"] < bad["nlpd"]
    assert 0 < good["dssim"] < bad["dssim"]


def test_a_gray_image_is_the_same_as_its_three_channel_copy():
    """NLPD is of the luma, DSSIM reads gray as equal R, G and B: a gray image scores as its RGB copy."""
    original, decoded = pair(CASES[0], gray=True)
    rgb = [np.repeat(image, 3, axis=2) for image in (original, decoded)]
    assert nlpd.nlpd(original, decoded) == pytest.approx(nlpd.nlpd(*rgb), abs=1e-12)
    assert dssim.dssim(original, decoded) == dssim.dssim(*rgb)


def test_the_nlpd_pyramid_has_six_levels_down_to_the_residual():
    levels = nlpd.pyramid(np.zeros((121, 97)))
    assert [level.shape for level in levels] == [(121, 97), (61, 49), (31, 25), (16, 13), (8, 7), (4, 4)]


# -- the external tools ------------------------------------------------------------------------
@pytest.mark.skipif(external.butteraugli_missing() is not None, reason="butteraugli_main is not installed")
def test_butteraugli_by_libjxls_tool():
    a = pair(CASES[0])[0]
    assert external.butteraugli(a, a) == (0.0, 0.0)
    mild, strong = (external.butteraugli(a, _jpeg(a, q)) for q in (90, 20))
    assert 0 < mild[0] < strong[0]
    assert 0 < mild[1] < strong[1]
    assert mild[1] <= mild[0]


@pytest.mark.parametrize("name, missing", [("butteraugli", external.butteraugli_missing),
                                           ("vmaf", external.vmaf_missing)])
def test_a_metric_that_cannot_be_computed_here_is_refused_by_name_and_why(name, missing):
    if missing() is None:
        assert metrics.select_metrics(name) == (name,)
    else:
        with pytest.raises(OptionError, match=f"{name}.*cannot be computed here"):
            metrics.select_metrics(name)


# -- presets and the listing -------------------------------------------------------------------
def test_presets_expand_to_their_computable_members():
    with pytest.warns(UserWarning) if external.vmaf_missing() else _no_warning():
        chosen = metrics.select_metrics("jpeg-ai")
    assert {"vif", "fsimc", "iw_ssim", "psnr_hvs_m", "ciede2000", "ms_ssim_y"} <= set(chosen)
    assert ("vmaf" in chosen) == (external.vmaf_missing() is None)
    added = metrics.select_metrics("+perceptual")
    assert set(metrics.default_metrics()) | {"ssimulacra2"} <= set(added)


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def none():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    return none()


def test_every_metric_lists_its_source_validation_and_availability():
    listing = {entry["metric"]: entry for entry in metrics_listing()}
    for name in table.PRESETS["jpeg-ai"] + table.PRESETS["perceptual"]:
        entry = listing[name]
        assert entry["source"], name
        assert entry["validation"].startswith(("validated", "libjxl's own", "libvmaf's own", "unvalidated")), name
        assert entry["available"] in (True, False), name
    assert listing["vmaf"]["validation"].startswith("libvmaf's own tool (checked with libvmaf 3.2.0")


def test_a_jpeg_ai_run_reports_a_column_per_metric_and_where_each_comes_from(tmp_path):
    from codecbench.engine.runner import Runner
    from codecbench.render.output import build_reports

    for seed in (0, 1):
        Image.fromarray(pair((64, 96, seed, "noise"))[0]).save(tmp_path / f"img{seed}.png")
    chosen = metrics.select_metrics(["psnr", "vif", "fsimc", "psnr_hvs_m", "ciede2000", "ssimulacra2"])
    with Runner(["jpeg:quality=40|80"], metrics=chosen) as runner:
        records = list(runner.run_dataset(f"folder:{tmp_path}"))
    (text,) = build_reports(records, None, rd=None).values()
    assert len(records) == 4
    assert all(r.metric("vif") is not None and r.metric("ciede2000") is not None for r in records if r.ok)
    for label in ("VIF", "FSIMc", "PSNR-HVS-M dB", "CIEDE2000 dB", "SSIMULACRA2"):
        assert f"| {label} " in text or f" {label} |" in text, label
    note = next(line for line in text.splitlines() if line.startswith("- **Opt-in metrics**"))
    assert "VIF (codecbench.core.iqa.vif (OpenCV), validated to 1e-9 against piq" in note


def test_rd_analysis_gives_a_bd_rate_per_opt_in_metric_and_their_mean():
    from codecbench.analysis.bdrate import MEAN_BD_RATE_OVER, bd_rows
    from codecbench.analysis.curves import curves as make_curves
    from codecbench.render.rd_tables import bd_markdown

    image = pair((176, 200, 0, "noise"))[0]
    names = ["psnr", "psnr_y", "ssim", "ms_ssim", "vif", "psnr_hvs_m", "nlpd"]
    records = []
    for codec, qualities in (("jpeg", (30, 50, 70, 90)), ("better", (40, 60, 80, 95))):
        for q in qualities:
            decoded = _jpeg(image, q)
            data_bytes = 2000 + 60 * q if codec == "jpeg" else 1800 + 60 * q  # "better": fewer bytes at each quality
            records.append(Record.build(codec=codec, spec=f"{codec}:quality={q}", setting=q, dataset="t", image="a",
                                        width=200, height=176, bytes=data_bytes, bpp=8 * data_bytes / (200 * 176),
                                        **metrics.score(image, decoded, names)))
    table = bd_rows(make_curves(records), "jpeg")
    assert list(table.metrics)[-3:] == ["vif", "psnr_hvs_m", "nlpd"]
    (row,) = table.rows
    members = [row.bd_rate[m].value for m in table.metrics if m in MEAN_BD_RATE_OVER]
    assert len(members) == 5 and None not in members  # PSNR-Y, MS-SSIM (dB), VIF, PSNR-HVS-M, NLPD
    assert row.mean.value == pytest.approx(np.mean(members))
    # NLPD falls as quality rises: its BD-rate is taken on the negated axis, and "better" saves bits on it too
    assert row.bd_rate["nlpd"].value < 0 and row.bd_rate["psnr"].value < 0
    text = bd_markdown(table)
    assert "BD-rate VIF" in text and "BD-rate NLPD" in text and "Mean BD-rate" in text
    assert "Mean BD-rate: the mean of the BD-rates on PSNR-Y, MS-SSIM (dB), VIF, PSNR-HVS-M, NLPD" in text


def _published(curve):
    """``curve`` as a published reference curve: PSNR and MS-SSIM only (as CompressAI's files give)."""
    points = [dataclasses.replace(p, psnr_y=None, ssim=None, extra={}) for p in curve.points]
    return dataclasses.replace(curve, label="published", reference=True, points=points)


def test_the_mean_bd_rate_never_passes_one_metric_off_as_the_multi_metric_mean():
    from codecbench.analysis.bdrate import bd_rows
    from codecbench.analysis.curves import curves as make_curves
    from codecbench.render.rd_tables import bd_markdown

    image = pair((176, 200, 0, "noise"))[0]
    records = []
    for codec, offset in (("jpeg", 2000), ("better", 1800)):
        for q in (30, 50, 70, 90):
            data_bytes = offset + 60 * q
            records.append(Record.build(codec=codec, spec=f"{codec}:quality={q}", setting=q, dataset="t", image="a",
                                        width=200, height=176, bytes=data_bytes, bpp=8 * data_bytes / (200 * 176),
                                        **metrics.score(image, _jpeg(image, q), ["psnr", "psnr_y", "ssim", "ms_ssim",
                                                                                 "vif"])))
    measured = make_curves(records)
    published = _published(next(c for c in measured if c.label == "jpeg"))
    # a row without data on one averaged metric (the published curve has no PSNR-Y or VIF) has no mean
    table = bd_rows([*measured, published], "jpeg")
    assert table.mean_over == ("psnr_y", "ms_ssim_db", "vif")
    rows = {row.curve.label: row for row in table.rows}
    assert rows["better"].mean.value is not None
    assert rows["published"].mean.value is None and rows["published"].mean.reason == "no data"
    assert rows["published"].bd_rate["ms_ssim_db"].value is not None
    # anchored on the published curve only MS-SSIM (dB) could be averaged: no mean column at all
    table = bd_rows([*measured, published], "published")
    assert table.mean_over == () and all(row.mean is None for row in table.rows)
    assert "Mean BD-rate" not in bd_markdown(table)


def test_a_missing_program_is_a_named_error_not_a_traceback(monkeypatch):
    from codecbench.core.errors import CodecbenchError

    monkeypatch.setenv("PATH", "/nonexistent")
    a = pair(CASES[0])[0]
    with pytest.raises(CodecbenchError, match="butteraugli_main is not installed"):
        external.butteraugli(a, a)
    assert external.butteraugli_missing() is not None


def test_a_preset_is_known_in_a_fresh_process():
    """The presets' members register when the metric modules load: a first lookup by preset must load them."""
    import subprocess
    import sys

    code = "from codecbench.core import metrics; print(','.join(metrics.select_metrics('jpeg-ai')))"
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert "vif" in done.stdout.split(",")
