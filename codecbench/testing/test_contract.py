"""The codec contract as pytest tests, for every selected codec at each end of its default sweep.

Run it on installed codecs with ``pytest --pyargs codecbench.testing --codecs mycodec``, or in a
plug-in's own tests with ``from codecbench.testing.test_contract import *`` and
``CONTRACT_CODECS = ["mycodec"]`` (else ``--codecs``, else every registered codec). One test per
contract point (:mod:`codecbench.testing.contract`); all streams are decoded once more in one fresh
process. A learned codec without its shipped checkpoint runs with an untrained stand-in exported by
its trainable model; one without a trainable is skipped, naming the missing file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecbench.core.codec import Spec, get_codec_class
from codecbench.testing import contract
from codecbench.testing.suite import chosen_points, pytest_generate_tests

__all__ = [
    "pytestmark", "pytest_generate_tests", "contract_coded", "contract_cache", "contract_fresh_decodes",
    "test_declaration", "test_round_trip_keeps_shape_and_dtype_lossless_is_exact",
    "test_fresh_process_decodes_the_bytes_alike", "test_bad_streams_raise_decode_error_only",
    "test_bad_images_raise_a_named_error", "test_forged_oversized_header_is_refused_without_allocating",
    "test_learned_payload_too_small_for_a_declared_tile_is_refused", "test_identity_names_library_versions",
    "test_spec_round_trip",
]

pytestmark = pytest.mark.filterwarnings("ignore:Invalid number of tiles")  # glymur, on the forged J2K SIZ


@pytest.fixture(scope="module")
def contract_cache() -> dict[str, contract.Coded | str]:
    """The module's coded points (or why one was skipped), by spec: each codec is built and run once."""
    return {}


def _coded(spec: str, cache: dict[str, contract.Coded | str]) -> contract.Coded | str:
    if spec not in cache:
        try:
            cache[spec] = contract.code(spec)
        except pytest.skip.Exception as exc:
            cache[spec] = str(exc)
    return cache[spec]


def _get(request: pytest.FixtureRequest, cache: dict[str, contract.Coded | str]) -> contract.Coded:
    params = request.node.callspec.params
    entry = _coded(params.get("contract_spec") or params["learned_spec"], cache)
    if isinstance(entry, str):
        pytest.skip(entry)
    return entry


@pytest.fixture
def contract_coded(request: pytest.FixtureRequest, contract_cache) -> contract.Coded:
    """The test's contract point, coded (skipped, with the reason, where the codec cannot be built)."""
    return _get(request, contract_cache)


@pytest.fixture(scope="module")
def contract_fresh_decodes(request: pytest.FixtureRequest, contract_cache, tmp_path_factory) -> dict[str, np.ndarray]:
    """Every point's stream decoded in one fresh Python process, from its bytes and spec only."""
    coded = [e for p in chosen_points(request.config, request.module)
             if isinstance(e := _coded(p, contract_cache), contract.Coded)]
    return contract.fresh_decodes(coded, Path(tmp_path_factory.mktemp("fresh-decode")))


def test_declaration(contract_spec):
    contract.check_declaration(get_codec_class(Spec.parse(contract_spec).name))


def test_round_trip_keeps_shape_and_dtype_lossless_is_exact(contract_spec, contract_coded):
    contract.check_round_trip(contract_coded)


def test_fresh_process_decodes_the_bytes_alike(contract_spec, contract_coded, contract_fresh_decodes):
    contract.check_fresh_decode(contract_coded, contract_fresh_decodes[contract_spec])


def test_bad_streams_raise_decode_error_only(contract_spec, contract_coded):
    contract.check_bad_streams(contract_coded)


def test_bad_images_raise_a_named_error(contract_spec, contract_coded):
    contract.check_bad_images(contract_coded.codec)


def test_forged_oversized_header_is_refused_without_allocating(contract_spec, contract_coded):
    contract.check_forged_header(contract_coded)


def test_learned_payload_too_small_for_a_declared_tile_is_refused(learned_spec, contract_coded):
    contract.check_tile_bomb(contract_coded)


def test_identity_names_library_versions(contract_spec, contract_coded):
    contract.check_identity(contract_coded)


def test_spec_round_trip(contract_spec, contract_coded):
    contract.check_spec_round_trip(contract_coded)
