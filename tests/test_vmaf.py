"""VMAF by Netflix's ``vmaf`` tool or FFmpeg's libvmaf filter: the planes they are given (full-range BT.709, 4:4:4,
10 bits), the wrapper against the tool's own log, the values the tool gave fixed pairs
(reference_values/vmaf_values.json, written by vmaf_values.py), a real image, the errors. Tests that need a program
skip where it is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codecbench.core.errors import CodecbenchError, OptionError
from codecbench.core.images import load_image
from codecbench.core.iqa import external
from tests.reference_values.iqa_cases import CASES, pair
from tests.reference_values.vmaf_values import VALUES_FILE, by_the_tool
from tests.test_iqa import _jpeg

RECORDED = json.loads(VALUES_FILE.read_text())


def _needs(program: str):
    reason = {"vmaf": "Netflix's vmaf tool is not on the PATH",
              "ffmpeg": "ffmpeg with libvmaf is not installed (its agreement with the vmaf tool is unchecked)"}[program]
    return pytest.mark.skipif(program not in external.vmaf_programs(), reason=reason)


needs_any = pytest.mark.skipif(not external.vmaf_programs(), reason="neither the vmaf tool nor ffmpeg with libvmaf "
                               "is installed")


def test_planes_are_full_range_bt709_at_10_bits():
    # by hand from Y = 0.2126 R + 0.7152 G + 0.0722 B, Cb = (B − Y)/1.8556 + ½, Cr = (R − Y)/1.5748 + ½, × 1023
    colours = np.array([[[0, 0, 0], [255, 0, 0], [0, 0, 255], [0, 255, 0]]], dtype=np.uint8)
    expected = [[0, 512, 512], [217, 394, 1023], [74, 1023, 465], [732, 117, 47]]
    planes = external.vmaf_yuv(colours)
    assert planes.dtype == np.dtype("<u2") and planes.shape == (3, 1, 4)
    np.testing.assert_array_equal(planes[:, 0, :].T, expected)
    gray = np.array([[[0], [128], [255]]], dtype=np.uint8)
    np.testing.assert_array_equal(external.vmaf_yuv(gray)[0, 0], [0, 514, 1023])  # round(v · 1023/255)


@_needs("vmaf")
def test_the_wrapper_gives_what_the_tool_logs():
    original, decoded = pair(CASES[4])
    assert external.vmaf(original, decoded, "vmaf") == pytest.approx(by_the_tool(original, decoded), abs=1e-6)
    assert external.vmaf(decoded, original, "vmaf") != pytest.approx(external.vmaf(original, decoded, "vmaf"))


@pytest.mark.parametrize("program", [pytest.param(p, marks=_needs(p)) for p in external.VMAF_PROGRAMS])
def test_each_program_gives_the_values_the_tool_gave_fixed_pairs(program):
    for row in RECORDED["rows"]:
        original, decoded = pair(tuple(row["case"]), gray=row["gray"])
        value = external.vmaf(original, original if row["identical"] else decoded, program)
        assert value == pytest.approx(row["vmaf"], abs=1e-4), row


@needs_any
def test_identical_images_get_the_models_top_score_for_a_still():
    image = pair(CASES[2])[0]
    assert external.vmaf(image, image) == pytest.approx(97.428, abs=0.005)  # vmaf_v0.6.1 without motion


@needs_any
def test_vmaf_falls_as_jpeg_quality_falls_on_a_kodak_image(data_root):
    image = load_image(data_root / "kodak" / "kodim01.png")
    scores = [external.vmaf(image, _jpeg(image, q)) for q in (95, 75, 50, 25, 10)]
    assert 97.43 > scores[0] and all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] > 0


def test_a_side_below_the_minimum_gives_no_value_without_running_a_program():
    small = pair((40, 200, 0, "noise"))
    assert external.vmaf(*small, "vmaf") is None and external.vmaf(*small, "ffmpeg") is None


@_needs("vmaf")
def test_the_tools_failure_is_a_one_line_error():
    original = pair((64, 64, 0, "noise"))[0]
    with pytest.raises(CodecbenchError, match="^vmaf failed") as caught:
        external.vmaf(original, original[:48], "vmaf")  # the distorted file ends early: the tool stops
    assert "\n" not in str(caught.value)


def test_an_unknown_program_is_refused():
    image = pair(CASES[0])[0]
    with pytest.raises(OptionError, match="unknown VMAF program 'libvmaf'.*vmaf, ffmpeg"):
        external.vmaf(image, image, "libvmaf")


def test_without_a_program_the_reason_names_both_ways_to_get_one(monkeypatch):
    monkeypatch.setattr(external, "vmaf_programs", lambda: ())
    reason = external.vmaf_missing()
    assert "vmaf tool" in reason and "static binary" in reason and "ffmpeg built with libvmaf" in reason
