"""The codec author's kit: ``codecbench.testing`` (contract points, ``check_codec``, the pytest suite), the public
bases and plug-in checkpoint folders. The installed example plug-in runs it end to end
(tests/test_example_plugin.py); here, its parts, and proof that it fails a codec that breaks the contract."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codecbench.codecs
from codecbench.codecs.classical.pillow import PillowCodec
from codecbench.codecs.learned.base import CHECKPOINT_DIR, CheckpointError, TorchCodec
from codecbench.core.errors import SpecError
from codecbench.testing import check_codec
from codecbench.testing.cases import contract_points
from tests.conftest import nested_pytest_env


def test_contract_points_are_the_sweep_ends_unless_a_spec_says_otherwise():
    assert contract_points("jpeg") == ["jpeg:quality=1", "jpeg:quality=95"]
    assert contract_points("png") == ["png:compress_level=6"]
    assert contract_points("jpeg:subsampling=4:4:4") == ["jpeg:subsampling=4:4:4,quality=1",
                                                         "jpeg:subsampling=4:4:4,quality=95"]
    assert contract_points("webp:quality=10|60") == ["webp:quality=10", "webp:quality=60"]
    with pytest.raises(SpecError, match="unknown codec 'nosuch'"):
        contract_points("nosuch")


def test_check_codec_reports_every_check():
    outcomes = check_codec("png")
    point = "png:compress_level=6"
    assert {f"{point}: round trip", f"{point}: bad streams", f"{point}: forged header", f"{point}: bad images",
            f"{point}: fresh-process decode", "declaration"} <= set(outcomes)
    assert outcomes.pop(f"{point}: tile bomb").startswith("skipped: ")  # a learned codec's check only
    assert set(outcomes.values()) == {"ok"}, outcomes


def test_check_codec_applies_the_floor_of_a_learned_codec(data_root):
    outcomes = check_codec("cnn-ae")
    assert outcomes["quality floor"].startswith("cnn-ae:quality=4: "), outcomes["quality floor"]
    assert "floor" in outcomes["quality floor"] and "failed" not in outcomes.values()


def test_the_public_bases_import_nothing_heavy_until_used():
    assert codecbench.codecs.PillowCodec is PillowCodec and codecbench.codecs.TorchCodec is TorchCodec
    code = "import sys, codecbench.codecs; print('torch' in sys.modules, 'pillow_heif' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]


# -- plug-in checkpoint folders -------------------------------------------------------------------
def _learned(package: str | None) -> type[TorchCodec]:
    """A TorchCodec subclass without a name (so never registered) whose checkpoints live in ``package``."""
    return type("PluginCodec", (TorchCodec,), {"checkpoint": "w.pt", "checkpoint_package": package})


def test_checkpoint_folder_is_codecbench_s_or_the_plugin_package_s(tmp_path, monkeypatch):
    folder = tmp_path / "kit_ckpt_pkg" / "weights"
    folder.mkdir(parents=True)
    (folder.parent / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _learned(None).checkpoint_dir() == CHECKPOINT_DIR
    assert _learned("kit_ckpt_pkg.weights").checkpoint_dir() == folder


@pytest.mark.parametrize("package, why", [("kit_no_such_pkg.weights", "cannot be imported"),
                                          ("kit_ns_pkg.weights", "is not a folder on disk"),
                                          ("json.decoder", "cannot be imported")])
def test_a_checkpoint_package_that_cannot_serve_is_a_checkpoint_error(tmp_path, monkeypatch, package, why):
    (tmp_path / "kit_ns_pkg" / "weights").mkdir(parents=True)  # a namespace package: no folder of its own
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CheckpointError, match=why) as exc:
        _learned(package).checkpoint_dir()
    assert repr(package) in str(exc.value) and "\n" not in str(exc.value)


# -- the kit fails a codec that breaks the contract -------------------------------------------------
BROKEN = textwrap.dedent('''
    """A codec that says it is lossless but drops each sample's low bit, in a format no header rewriter knows."""
    import struct

    import numpy as np

    from codecbench.core.codec import Codec, register_codec


    @register_codec
    class KitLossyDemo(Codec):
        name = "kit-lossy-demo"
        lossless = True

        def _encode(self, image):
            return b"KL" + struct.pack(">HHB", *image.shape) + (image & 0xFE).tobytes()

        def _decode(self, data):
            if data[:2] != b"KL":
                raise ValueError("not a kit-lossy-demo stream")
            h, w, c = struct.unpack(">HHB", data[2:7])
            return np.frombuffer(data[7:], np.uint8).reshape(h, w, c).copy()

        def library_versions(self):
            return {"numpy": np.__version__}
''')


@pytest.fixture
def broken_codec_dir(tmp_path) -> Path:
    (tmp_path / "kit_lossy_demo.py").write_text(BROKEN)
    return tmp_path


def test_check_codec_names_every_broken_promise(broken_codec_dir):
    script = textwrap.dedent('''
        import sys
        sys.path.insert(0, sys.argv[1])
        import kit_lossy_demo
        from codecbench.testing import ContractFailure, check_codec
        try:
            check_codec("kit-lossy-demo")
        except ContractFailure as exc:
            print(exc)
    ''')
    done = subprocess.run([sys.executable, "-c", script, str(broken_codec_dir)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("kit-lossy-demo: 2 contract check(s) failed:"), done.stdout
    assert "kit-lossy-demo: round trip: kit-lossy-demo: lossless codec changed" in done.stdout
    assert "kit-lossy-demo: forged header: kit-lossy-demo: forge_oversized left the stream unchanged" in done.stdout


def test_the_pytest_suite_fails_exactly_the_broken_promises(broken_codec_dir):
    (broken_codec_dir / "test_kit_on_broken.py").write_text(
        "import kit_lossy_demo  # noqa: F401  registers the codec\n"
        "from codecbench.testing.test_contract import *  # noqa: F401,F403\n"
        "CONTRACT_CODECS = ['kit-lossy-demo']\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "test_kit_on_broken.py", "-p", "no:cacheprovider", "-q",
                           "-rA"], cwd=broken_codec_dir, capture_output=True, text=True, timeout=300,
                          env=nested_pytest_env())
    failed = {line.split("::")[1].split("[")[0] for line in done.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {"test_round_trip_keeps_shape_and_dtype_lossless_is_exact",
                      "test_forged_oversized_header_is_refused_without_allocating"}, done.stdout[-4000:]
    assert "6 passed" in done.stdout and "1 skipped" in done.stdout, done.stdout[-2000:]


def test_an_unknown_codec_is_one_usage_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "codecbench.testing", "--codecs", "nosuch",
                           "-p", "no:cacheprovider", "-q"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=nested_pytest_env())
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "nosuch" in line]
    assert len(lines) == 1 and "unknown codec 'nosuch'" in lines[0], lines
    assert "Traceback" not in done.stdout + done.stderr


def test_a_bad_contract_codecs_entry_fails_collection_in_one_line(tmp_path):
    (tmp_path / "test_kit_typo.py").write_text(
        "from codecbench.testing.test_contract import *  # noqa: F401,F403\nCONTRACT_CODECS = ['jpeg', 'nosuch']\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "test_kit_typo.py", "-p", "no:cacheprovider", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=nested_pytest_env())
    assert done.returncode == 2, done.stdout[-2000:]
    assert "CONTRACT_CODECS: unknown codec 'nosuch'" in done.stdout
    assert "Traceback" not in done.stdout and "During handling" not in done.stdout, done.stdout[-3000:]
