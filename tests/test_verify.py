"""``codecbench verify``: determinism checks pass for deterministic codecs and name the first difference for codecs
that break determinism on purpose (tests/nondeterministic_codecs.py), one way each."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.cli import main
from codecbench.core.codec import CODECS
from codecbench.testing.cases import contract_image
from codecbench.tools.verify import (CHECKS, DIFFERS, NOT_APPLICABLE, OK, Image, byte_difference, pixel_difference,
                                     points, verify_codec)

THREADS = 2
LABELS = [check.format(n=THREADS) for check in CHECKS]


@pytest.fixture(scope="module")
def images() -> list[Image]:
    return [Image("crop", contract_image(48)), Image("small", contract_image(64)[:20, :30].copy())]


@pytest.fixture
def faulty():
    with CODECS.restoring():
        from tests import nondeterministic_codecs as module

        for cls in module.FAULTY:
            CODECS.register(cls)
        yield module


def statuses(results: dict) -> dict[str, str]:
    (outcomes,) = results.values()
    return {o.check: o.status for o in outcomes}


def test_a_deterministic_codec_passes_every_check_that_applies(images):
    results = verify_codec("png", images, THREADS)
    assert list(results) == ["png:compress_level=6"]
    got = statuses(results)
    assert list(got) == LABELS
    assert set(got[label] for label in LABELS[:5]) == {OK}
    assert got[LABELS[5]] == got[LABELS[6]] == NOT_APPLICABLE


def test_a_spec_without_its_knob_is_checked_at_the_ends_of_its_sweep():
    assert points("jpeg") == ["jpeg:quality=1", "jpeg:quality=95"]
    assert points("jpeg:quality=30") == ["jpeg:quality=30"]


def test_repeated_encodes_that_differ_are_caught_with_the_first_differing_byte(faulty, images):
    (outcomes,) = verify_codec("nd-counter", images, THREADS).values()
    repeated = outcomes[0]
    assert repeated.status == DIFFERS
    size = 7 + 48 * 48 * 3  # header, pixels; then the count byte
    assert repeated.detail == f"crop: first difference at byte {size} (first encode: {size + 1} bytes, " \
                              f"second encode: {size + 1} bytes)"
    assert {o.status for o in outcomes[1:5]} == {OK}


def test_a_decode_that_depends_on_the_thread_count_is_caught_both_ways(faulty, images):
    got = statuses(verify_codec("nd-threads", images, THREADS))
    assert got[LABELS[3]] == got[LABELS[4]] == DIFFERS
    assert got[LABELS[0]] == got[LABELS[1]] == got[LABELS[2]] == OK


def test_a_decode_that_depends_on_the_encoding_process_is_caught_in_a_fresh_process(faulty, images):
    (outcomes,) = verify_codec("nd-process", images, THREADS).values()
    fresh = outcomes[1]
    assert fresh.status == DIFFERS
    assert fresh.detail.startswith("crop: first difference at row 0, column 0, channel 0")
    assert "(decoded here)" in fresh.detail
    assert "1 of 6912 samples differ, by up to 1" in fresh.detail


def test_pixel_and_byte_differences_name_the_first_one():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[2, 3, 1], b[3, 4, 2] = 7, 1
    assert pixel_difference(a, a) is None
    assert pixel_difference(a, b, ("x", "y")) == ("first difference at row 2, column 3, channel 1: 0 (x) and 7 (y); "
                                                  "2 of 60 samples differ, by up to 7")
    assert "shapes differ" in pixel_difference(a, a[:3])
    assert byte_difference(b"abc", b"abc") is None
    assert byte_difference(b"abc", b"abd", ("x", "y")) == "first difference at byte 2 (x: 3 bytes, y: 3 bytes)"
    assert byte_difference(b"ab", b"abc", ("x", "y")) == "first difference at byte 2 (x: 2 bytes, y: 3 bytes)"


def test_learned_codecs_say_why_the_cuda_checks_do_not_apply(images):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the checks apply")
    got = verify_codec("hyperprior:quality=0", images[:1], THREADS)["hyperprior:quality=0"]
    assert [(o.status, o.detail) for o in got[5:]] == [(NOT_APPLICABLE, "no CUDA on this machine")] * 2


def test_cli_prints_a_table_per_spec_and_exits_1_on_a_difference(faulty, capsys):
    assert main(["verify", "png", "--max-images", "1"]) == 0
    out = capsys.readouterr().out
    assert "### png" in out
    assert "| repeated encodes | ✓ |" in out
    assert "| encode cuda, decode cpu | not applicable: png runs on the CPU only |" in out
    assert main(["verify", "nd-threads", "png", "--max-images", "1", "--threads", "2"]) == 1
    out = capsys.readouterr().out
    assert out.index("### nd-threads") < out.index("### png")
    assert "| encode 1 thread, decode 2 | ✗ astronaut: first difference at row 0, column 0" in out


@pytest.mark.parametrize("argv, message", [
    (["verify"], "no codecs given"),
    (["verify", "nosuch"], "unknown codec 'nosuch'"),
    (["verify", "png", "--max-images", "0"], "--max-images"),
    (["verify", "png", "--threads", "1"], "--threads"),
    (["verify", "png", "-d", "nosuchset"], "nosuchset"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error: ")
    assert message in err
    assert err.count("\n") == 1
