"""Where a reference curve comes from: the provenance block of the shipped curves, read, checked and printed."""

from __future__ import annotations

import json

import pytest
from rd_helpers import jpeg_records

from codecbench.analysis import references
from codecbench.analysis.compressai_json import (
    PROVENANCE_KEYS, REQUIRED_PROVENANCE, curve_to_compressai, load_reference,
)
from codecbench.core.errors import ResultsError
from codecbench.render.rd import RDOptions, rd_section


@pytest.mark.parametrize("alias", list(references.SHIPPED))
def test_every_shipped_curve_states_source_tool_version_configuration_and_conversion(alias):
    shipped = references.SHIPPED[alias]
    curve = references.shipped_curve(alias, shipped.dataset)
    assert set(REQUIRED_PROVENANCE) <= set(curve.provenance)
    assert all(curve.provenance[key].strip() for key in REQUIRED_PROVENANCE)
    assert "CompressAI" in curve.provenance["source"]
    # what is not known is said to be unknown, not left out
    text = json.dumps(curve.provenance)
    assert "unknown" in text or "not stated" in text or "not recorded" in text


def test_the_report_prints_the_provenance_beside_the_curve():
    records = jpeg_records(dataset="kodak")
    text = rd_section(records, "kodak", RDOptions(anchor="jpeg,vtm", bootstrap=0))
    block = text[text.index("Reference curves (not measured here)"):]
    vtm = block[block.index("- **VTM**"):]
    for key in REQUIRED_PROVENANCE:
        assert f"  - {key}: " in vtm
    assert "version: unknown: CompressAI does not state it" in vtm
    assert "BT.709" in vtm  # the conversion pipeline


def test_a_file_without_provenance_says_so(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "Mine", "results": {"bpp": [0.2, 0.5, 1.0], "psnr-rgb": [28, 31, 34]}}))
    records = jpeg_records(dataset="kodak")
    text = rd_section(records, "kodak", RDOptions(references=[f"kodak={path}"], bootstrap=0))
    assert "- **Mine**:" in text and "provenance: not recorded in the file" in text


@pytest.mark.parametrize("provenance, message", [
    ("VTM 12.1", "must be an object"),
    ({"version": 12.1}, "provenance.version must be one line"),
    ({"version": "12.1\n# injected heading"}, "provenance.version must be one line"),
    ({"vendor": "x"}, "is not one of"),
])
def test_a_malformed_provenance_is_refused_naming_the_part(tmp_path, provenance, message):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"name": "R", "provenance": provenance, "results": {"bpp": [0.5], "psnr": [30]}}))
    with pytest.raises(ResultsError, match=message):
        load_reference(path)


def test_the_provenance_survives_export_and_import(tmp_path):
    curve = references.shipped_curve("bpg444", "kodak")
    path = tmp_path / "bpg.json"
    path.write_text(json.dumps(curve_to_compressai(curve)))
    again = load_reference(path, "kodak")
    assert again.provenance == curve.provenance and list(again.provenance) == [
        k for k in PROVENANCE_KEYS if k in curve.provenance]
