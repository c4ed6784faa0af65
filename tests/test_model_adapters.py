"""The model adapters: ``torch-model`` (any torch module with CompressAI's compress/decompress API) on a tiny real
entropy-coded model (tests/protocol_model.py, constriction's rANS), and ``compressai``'s refusal where CompressAI
cannot be imported. The comparison with real CompressAI models is a benchmark
(bench/harness/test_compressai_models.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from codecbench.cli import main
from codecbench.codecs.learned.adapters.strings import strings_bytes
from codecbench.codecs.learned.container import Container
from codecbench.core.codec import create_codec, split_specs
from codecbench.core.errors import CodecbenchError, DecodeError, EncodeError, SpecError
from codecbench.core.metrics import psnr
from codecbench.core.results import read_records
from codecbench.engine.measure import measure
from codecbench.testing import check_codec
from codecbench.testing.cases import contract_image
from tests import protocol_model

SPEC = "torch-model:factory=tests.protocol_model:make,stride=16"


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return contract_image(96)


def stream_sections(codec, data: bytes) -> list[bytes]:
    return Container.from_bytes(data, codec.name, setting_kinds=codec._setting_kinds()).sections


def test_round_trip_stores_the_models_own_strings_and_a_small_header(image):
    codec = create_codec(SPEC, threads=1)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape
    assert decoded.dtype == np.uint8
    assert psnr(image, decoded) > 20  # 4×4 block means in 16 levels: a crude codec, but a real one
    model = protocol_model.make()
    model.update()
    own = model.compress(codec.to_tensor(image))
    sections = stream_sections(codec, data)
    assert sections[1:] == [s for group in own["strings"] for s in group], "the stream holds other strings"
    assert codec.payload_bytes(data) == strings_bytes(sections) == sum(len(s) for g in own["strings"] for s in g)
    header = len(data) - codec.payload_bytes(data)
    assert 0 < header <= 32, f"{header} header bytes"


def test_decoded_pixels_are_the_models_decompress_rounded_to_8_bits(image):
    codec = create_codec(SPEC, threads=1)
    model = protocol_model.make()
    model.update()
    own = model.compress(codec.to_tensor(image))
    x_hat = model.decompress(own["strings"], own["shape"])["x_hat"]
    assert np.array_equal(codec.decode(codec.encode(image)), codec.to_image(x_hat))


def test_the_codec_contract_holds_for_an_adapted_model():
    outcomes = check_codec(SPEC)
    assert {o for o in outcomes.values() if not o.startswith("skipped")} == {"ok"}, outcomes


@pytest.mark.parametrize("size", [(50, 70), (17, 16), (16, 33)])
def test_images_not_a_multiple_of_the_stride_are_padded_and_cropped_back(size):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    codec = create_codec(SPEC, threads=1)
    assert codec.decode(codec.encode(image)).shape == image.shape


def test_gray_images_are_coded_as_three_equal_channels(image):
    codec = create_codec(SPEC, threads=1)
    gray = np.ascontiguousarray(image[:, :, :1])
    assert codec.decode(codec.encode(gray)).shape == gray.shape


def test_payload_bpp_is_recorded_beside_bpp(image):
    codec = create_codec(SPEC, threads=1)
    fields = measure(codec, image)
    pixels = image.shape[0] * image.shape[1]
    assert fields["payload_bpp"] == pytest.approx(8 * codec.payload_bytes(codec.encode(image)) / pixels)
    assert 0 < fields["payload_bpp"] < fields["bpp"]


def test_classical_codecs_record_no_payload_bpp(image):
    assert "payload_bpp" not in measure(create_codec("png"), image)


def test_update_builds_the_tables_and_a_model_without_them_fails_to_encode_with_one_line(image):
    with pytest.raises(EncodeError, match=r"compress\(\) failed \(ValueError: entropy tables not built"):
        create_codec("torch-model:factory=tests.protocol_model:make,update=false", threads=1).encode(image)
    with pytest.raises(EncodeError, match="call update"):
        create_codec("torch-model:factory=tests.protocol_model:make_without_update", threads=1).encode(image)


def test_the_stream_and_image_do_not_depend_on_the_thread_count(image):
    one = create_codec(SPEC, threads=1)
    two = create_codec(SPEC, threads=2)
    data = one.encode(image)
    assert two.encode(image) == data
    assert np.array_equal(two.decode(data), one.decode(data))


def test_random_weights_are_the_same_under_the_same_seed_and_streams_name_their_model(image):
    spec = "torch-model:factory=tests.protocol_model:make_random,stride=16"
    first, again = create_codec(spec), create_codec(spec)
    other = create_codec(spec + ",seed=1")
    assert first.model_sha256 == again.model_sha256 != other.model_sha256
    assert first.identity["model sha256"] != other.identity["model sha256"]
    data = first.encode(image)
    assert again.decode(data).shape == image.shape
    with pytest.raises(DecodeError, match="written by another model"):
        other.decode(data)


def test_a_checkpoint_replaces_the_factorys_weights(tmp_path, image):
    model = protocol_model.make()
    with torch.no_grad():
        model.log_scale.fill_(1.0)
    plain, wrapped = tmp_path / "plain.pt", tmp_path / "wrapped.pt"
    torch.save(model.state_dict(), plain)
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, wrapped)
    base = create_codec(SPEC)
    loaded = [create_codec(f"{SPEC},checkpoint={path}") for path in (plain, wrapped)]
    assert loaded[0].model_sha256 == loaded[1].model_sha256 != base.model_sha256
    assert "checkpoint plain.pt" in loaded[0].identity
    data = loaded[0].encode(image)
    assert data != base.encode(image)
    assert np.array_equal(loaded[1].decode(data), loaded[0].decode(data))


class _Trap:
    def __reduce__(self):
        return (print, ("unpickled",))


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    unsafe, wrong = tmp_path / "unsafe.pt", tmp_path / "wrong.pt"
    unsafe.write_bytes(pickle.dumps({"state_dict": _Trap()}))
    torch.save({"state_dict": {"nothing": torch.zeros(1)}}, wrong)
    cases = {tmp_path / "missing.pt": "does not exist", unsafe: "weights_only", wrong: "does not fit"}
    for path, message in cases.items():
        with pytest.raises(CodecbenchError, match=message) as info:
            create_codec(f"{SPEC},checkpoint={path}")
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("factory, message", [
    ("tests.protocol_model", "expected MODULE:CALLABLE"),
    ("tests.no_such_module:make", "cannot be imported"),
    ("tests.protocol_model:nothing", "has no 'nothing'"),
    ("tests.protocol_model:STEP", "not a callable"),
    ("tests.protocol_model:not_a_model", "not a torch module with compress"),
])
def test_a_bad_factory_is_a_spec_error(factory, message):
    with pytest.raises(SpecError, match=message):
        create_codec(f"torch-model:factory={factory}")


def test_a_factory_that_fails_is_a_spec_error_naming_it():
    with pytest.raises(SpecError, match=r"factory tests.protocol_model:not_a_model\(quality=3\) failed: TypeError"):
        create_codec("torch-model:factory=tests.protocol_model:not_a_model,quality=3")


def test_quality_is_passed_to_the_factory(image):
    low, high = (create_codec(f"{SPEC},quality={q}") for q in (1, 4))
    assert len(high.encode(image)) > len(low.encode(image))
    assert psnr(image, high.decode(high.encode(image))) > psnr(image, low.decode(low.encode(image)))


def test_torch_model_without_a_factory_says_what_it_needs():
    with pytest.raises(SpecError, match="needs factory=MODULE:CALLABLE"):
        create_codec("torch-model")


def test_compressai_says_why_it_cannot_run_where_compressai_cannot_be_imported():
    try:
        import compressai  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("compressai is importable here")
    with pytest.raises(SpecError, match="compressai cannot be imported here"):
        create_codec("compressai:model=bmshj2018-hyperprior,quality=1,pretrained=false")


def test_spec_lists_keep_values_that_hold_colons():
    assert split_specs(f"{SPEC},checkpoint=C:/runs/q3.pt,jpeg:quality=5,subsampling=4:2:0,png") == [
        f"{SPEC},checkpoint=C:/runs/q3.pt", "jpeg:quality=5,subsampling=4:2:0", "png"]
    with pytest.raises(SpecError, match="comes before any codec name"):
        split_specs("quality=5:1,jpeg")


def test_codecbench_run_records_both_rates_of_an_adapted_model(tmp_path, monkeypatch):
    """The spec (its factory value holds a colon) goes through the CLI, a worker process and the results file."""
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results.json"
    assert main(["run", "--codecs", f"{SPEC},png", "-d", "embedded", "--max-images", "1", "--jobs", "2",
                 "--warmup", "0", "--out", str(out)]) == 0
    records = {r.codec: r for r in read_records(out)}
    assert set(records) == {"torch-model", "png"}
    adapted = records["torch-model"]
    assert adapted.error is None
    assert 0 < adapted.payload_bpp < adapted.bpp
    assert records["png"].payload_bpp is None
