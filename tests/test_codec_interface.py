"""The codec interface: spec strings, settings validation, registry, entry points."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from codecbench import Codec, SpecError, available_codecs, create_codec, expand_spec
from codecbench.core.codec import Setting, Spec, check_image
from codecbench.codecs.learned.base import TorchCodec
from codecbench.core.errors import DecodeError, ImageError


def test_spec_parse_splits_name_and_settings():
    assert Spec.parse("jpeg") == Spec("jpeg")
    parsed = Spec.parse(" webp:quality=80, method=6 ")
    assert (parsed.name, parsed.raw) == ("webp", {"quality": "80", "method": "6"})
    assert str(parsed) == "webp:quality=80,method=6"
    from codecbench.core.codec import create_codec

    assert parsed.canonical() == create_codec(str(parsed)).spec  # defaults filled, sorted: as records carry it
    assert Spec.parse("nosuchcodec:a=1").canonical() == "nosuchcodec:a=1"  # not registered here: as given


@pytest.mark.parametrize("spec", ["", "jpeg:quality", "jpeg:=3", "jpeg:quality=1,quality=2"])
def test_malformed_specs_are_rejected(spec):
    with pytest.raises(SpecError):
        Spec.parse(spec)


def test_canonical_spec_lists_every_setting():
    codec = create_codec("jpeg:quality=75")
    assert codec.spec.startswith("jpeg:") and "quality=75" in codec.spec
    assert codec.setting == 75
    assert create_codec(codec.spec).spec == codec.spec


def test_unknown_codec_names_the_known_ones():
    with pytest.raises(SpecError, match="known codecs: .*jpeg"):
        create_codec("nosuchcodec")


def test_unknown_setting_names_the_allowed_ones():
    with pytest.raises(SpecError, match="quality="):
        create_codec("jpeg:qualty=75")


@pytest.mark.parametrize("spec", ["jpeg:quality=0", "jpeg:quality=101", "jpeg:quality=high", "jpeg:quality=nan"])
def test_out_of_range_or_mistyped_setting(spec):
    with pytest.raises(SpecError, match="quality"):
        create_codec(spec)


def test_expand_spec_uses_default_sweep_and_value_lists():
    sweep = expand_spec("jpeg")
    assert len(sweep) == len(available_codecs()["jpeg"].sweep) >= 8
    assert expand_spec("jpeg:quality=10|90") == ["jpeg:quality=10", "jpeg:quality=90"]
    with pytest.raises(SpecError):
        expand_spec("jpeg:quality=10|900")


def test_spec_with_value_list_cannot_be_created_directly():
    with pytest.raises(SpecError, match="expand"):
        create_codec("jpeg:quality=10|90")


def test_device_must_be_supported():
    with pytest.raises(SpecError, match="runs on"):
        create_codec("jpeg", device="cuda")


def test_check_image_rejects_non_images():
    check_image(np.zeros((2, 3, 3), np.uint8))
    for bad in (np.zeros((2, 3), np.uint8), np.zeros((2, 3, 3), np.float32), np.zeros((0, 3, 3), np.uint8),
                np.zeros((2, 3, 4), np.uint8), [[1]]):
        with pytest.raises(ImageError):
            check_image(bad)


def test_empty_bitstream_is_a_decode_error():
    with pytest.raises(DecodeError, match="empty"):
        create_codec("jpeg").decode(b"")


def test_setting_parse_bool_and_choices():
    flag = Setting(bool, False)
    assert flag.parse("x", "true") is True and flag.parse("x", "0") is False
    with pytest.raises(SpecError):
        flag.parse("x", "maybe")
    with pytest.raises(SpecError, match="allowed values are a, b"):
        Setting(str, "a", choices=("a", "b")).parse("x", "c")


def test_every_registered_codec_declares_a_consistent_interface():
    for name, cls in available_codecs().items():
        assert issubclass(cls, Codec) and cls.name == name
        if cls.param is not None:
            assert cls.param in cls.settings
            for value in cls.sweep:
                cls.parse_settings({cls.param: value})
        if not cls.lossless and not issubclass(cls, TorchCodec):  # learned sweeps list the shipped rate points
            assert len(cls.sweep) >= 8, f"{name}: a lossy codec's default sweep needs at least 8 settings"


def test_third_party_codec_is_discovered_through_its_entry_point(tmp_path):
    """A distribution on sys.path with a ``codecbench.codecs`` entry point adds its codec."""
    (tmp_path / "cb_plugin_demo.py").write_text(textwrap.dedent('''
        import zlib
        import numpy as np
        from codecbench.core.codec import Codec, Setting

        class ZlibRaw(Codec):
            name = "zlib-raw-demo"
            lossless = True
            param = "level"
            settings = {"level": Setting(int, 6, low=0, high=9)}
            sweep = (6,)

            def _encode(self, image):
                h, w, c = image.shape
                return bytes([c]) + h.to_bytes(4, "big") + w.to_bytes(4, "big") + zlib.compress(
                    image.tobytes(), self.config["level"])

            def _decode(self, data):
                c, h, w = data[0], int.from_bytes(data[1:5], "big"), int.from_bytes(data[5:9], "big")
                return np.frombuffer(zlib.decompress(data[9:]), np.uint8).reshape(h, w, c)
    '''))
    dist = tmp_path / "cb_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[codecbench.codecs]\nzlib-raw-demo = cb_plugin_demo:ZlibRaw\n")
    script = textwrap.dedent('''
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        from codecbench import available_codecs, create_codec
        assert "zlib-raw-demo" in available_codecs(), sorted(available_codecs())
        codec = create_codec("zlib-raw-demo:level=9")
        image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
        assert np.array_equal(codec.decode(codec.encode(image)), image)
        print("ok", codec.spec)
    ''')
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ok zlib-raw-demo:level=9" in done.stdout


def test_codecs_are_not_imported_from_the_working_directory(tmp_path):
    """A stray module in the current directory never becomes a codec."""
    (tmp_path / "evil_codec.py").write_text(
        "from codecbench.core.codec import Codec\nclass Evil(Codec):\n    name = 'evil'\n"
    )
    script = "from codecbench import available_codecs; print('evil' in available_codecs())"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
