"""Shipped published reference curves (reports/references/) and ``--anchor vtm`` (anchor lists, aliases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecbench.cli import main as cli_main
from codecbench.core.errors import OptionError
from codecbench.analysis import references
from codecbench.analysis.bdrate import bd_rate
from codecbench.analysis.curves import by_dataset, curves
from codecbench.render.rd import RDOptions, section_renderer
from codecbench.core.results import read_results
from codecbench.render.fmt import bd_value

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "references" / "compressai-kodak"
KODAK = REPO / "reports" / "results" / "kodak-classical.json"
BSD300 = REPO / "reports" / "results" / "bsd300.json"


def rd_report(records, options: RDOptions) -> str:
    """The RD sections of every dataset, as the report command renders them."""
    render = section_renderer(records, options)
    return "\n".join(line for dataset, cs in by_dataset(curves(records)).items() for line in render(dataset, cs))


@pytest.fixture(scope="module")
def kodak_jpeg():
    """The committed, measured Kodak JPEG records (24 images, 9 settings)."""
    _, records = read_results(KODAK)
    return [r for r in records if r.codec == "jpeg"]


def test_every_shipped_curve_loads_for_its_dataset_only() -> None:
    for alias, shipped in references.SHIPPED.items():
        curve = references.shipped_curve(alias, shipped.dataset)
        assert curve.reference and len(curve.points) >= 4, alias
        assert curve.description == shipped.source
        assert references.shipped_curve(alias, "bsd300") is None


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/references is not beside the repository")
def test_shipped_arrays_are_compressais_unchanged() -> None:
    sources = {"vtm": "vtm.json", "hm": "hm.json", "bpg444": "bpg_444_x265_ycbcr.json", "av1": "av1.json",
               "bmshj2018-hyperprior-mse": "compressai-bmshj2018-hyperprior_mse_cpu.json",
               "mbt2018-mean-mse": "compressai-mbt2018-mean_mse_cpu.json",
               "cheng2020-anchor-mse": "compressai-cheng2020-anchor_mse_cpu.json"}
    for alias, name in sources.items():
        shipped = json.loads(references.SHIPPED[alias].path.read_text())["results"]
        original = json.loads((SHARED / name).read_text())["results"]
        for key in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
            assert shipped[key] == original[key], (alias, key)


def test_hm_against_vtm_is_the_published_gap() -> None:
    """HEVC's reference encoder needs roughly 20–30 % more bits than VVC's at equal PSNR (JVET's VTM-vs-HM gap)."""
    vtm = references.shipped_curve("vtm", "kodak")
    hm = bd_rate(vtm, references.shipped_curve("hm", "kodak"), "psnr")
    assert hm.value is not None and 15 < hm.value < 35, hm
    bpg = bd_rate(vtm, references.shipped_curve("bpg444", "kodak"), "psnr")
    assert bpg.value is not None and bpg.value > 0  # BPG is HEVC too
    jpeg = bd_rate(vtm, references.shipped_curve("jpeg-ref", "kodak"), "psnr")
    assert jpeg.value is not None and jpeg.value > 100


def test_anchor_vtm_picks_the_shipped_vtm_curve(kodak_jpeg) -> None:
    text = rd_report(kodak_jpeg, RDOptions(anchor="jpeg,vtm"))
    assert "### BD-rate against jpeg\n" in text
    assert f"### BD-rate against vtm — {references.SHIPPED['vtm'].source}" in text
    assert "against the anchor **VTM (reference, not measured here)** — VTM-12.1-era" in text
    vtm = references.shipped_curve("vtm", "kodak")
    (jpeg,) = curves(kodak_jpeg)
    expected = bd_value(bd_rate(vtm, jpeg, "psnr"))
    table = text.split("### BD-rate against vtm")[1]
    assert f"| jpeg | 9 | {expected} |" in table
    assert f"BD-rate vs VTM: {expected} (PSNR)" in text  # the summary line names both anchors
    assert text.count("VTM (reference, not measured here)") >= 2 and "VTM (ref)" not in text


def test_a_reference_file_of_the_same_curve_is_not_added_twice(kodak_jpeg) -> None:
    ref = f"kodak={references.SHIPPED['vtm'].path}"
    text = rd_report(kodak_jpeg, RDOptions(anchor="vtm", references=(ref,)))
    assert "VTM (ref)" not in text and references.SHIPPED["vtm"].source in text


def test_an_alias_on_another_dataset_says_so() -> None:
    _, records = read_results(BSD300)
    text = rd_report([r for r in records if r.codec == "jpeg"], RDOptions(anchor="jpeg,vtm"))
    assert "No BD-rate table: the shipped `vtm` curve" in text and "measured on `kodak`, not on `bsd300`" in text
    assert "### BD-rate against jpeg" in text


def test_unknown_anchor_is_a_one_line_error(kodak_jpeg, capsys, tmp_path) -> None:
    with pytest.raises(OptionError, match="--anchor vtn: not a codec"):
        rd_report(kodak_jpeg, RDOptions(anchor="jpeg,vtn"))
    assert cli_main(["report", str(KODAK), "--anchor", "vtn", "--no-plots", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--anchor vtn" in err
    assert "vtm" in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_pytest_plugin_report_anchor_takes_the_alias(tmp_path, monkeypatch) -> None:
    """``pytest bench --report-anchor jpeg,vtm``: the session report of Kodak has both BD-rate tables."""
    from tests.conftest import shared_data_root
    from tests.test_bench_plugin import run_bench

    root = shared_data_root()
    if root is None:
        pytest.skip("Kodak is not in CODECBENCH_DATA")
    monkeypatch.setenv("CODECBENCH_DATA", str(root))
    done = run_bench(tmp_path, "--codecs", "jpeg:quality=10|90,webp:quality=10|90", "--datasets", "kodak",
                     "--max-images", "1", "--report-anchor", "jpeg,vtm")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "reports" / "kodak.md").read_text()
    assert "### BD-rate against jpeg" in report
    assert f"### BD-rate against vtm — {references.SHIPPED['vtm'].source}" in report
    assert "| webp | 2 |" in report.split("### BD-rate against vtm")[1]
