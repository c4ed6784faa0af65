"""The results cache's key follows the code that makes the bits, and every record says how it was obtained."""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest

from codecbench.cli import main
from codecbench.core.codec import CODECS
from codecbench.core.results import read_records
from codecbench.engine.cache import ResultsCache, RunCache
from codecbench.engine.runner import Runner

#: a plugin package as a contributor writes one: the codec in one module, a constant it uses in another
PLUGIN_CODEC = """
import io

import numpy as np
from PIL import Image

from codecbench.core.codec import Codec, Setting, register_codec
from {package}.choices import SUBSAMPLING


@register_codec
class PluginJpeg(Codec):
    name = "{name}"
    param = "quality"
    sweep = (50,)
    settings = {{"quality": Setting(int, 50, "JPEG quality", low=1, high=95)}}
    channels = (3,)

    def _encode(self, image):
        out = io.BytesIO()
        Image.fromarray(image).save(out, "JPEG", quality=self.config["quality"], subsampling={subsampling})
        return out.getvalue()

    def _decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Write, import and re-import a plugin package in ``tmp_path``; its codec is unregistered afterwards."""
    package = f"cbplugin_{tmp_path.name.replace('-', '_').lower()}"
    folder = tmp_path / "site" / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # every import compiles the source as it is now

    def install(subsampling: str = "SUBSAMPLING", choice: int = 0) -> str:
        (folder / "codec.py").write_text(PLUGIN_CODEC.format(package=package, name=package.replace("_", "-"),
                                                             subsampling=subsampling))
        (folder / "choices.py").write_text(f"SUBSAMPLING = {choice}  # 0: 4:4:4, 2: 4:2:0\n")
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]  # a reinstall: the next run imports the new files
        importlib.invalidate_caches()
        return importlib.import_module(f"{package}.codec").PluginJpeg.name

    with CODECS.restoring():
        yield install
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def _run(spec: str, cache: RunCache | None) -> dict:
    runner = Runner([spec], cache=cache, threads=1)
    try:
        return {r.image: r for r in runner.run_dataset("embedded", max_images=2)}
    finally:
        runner.close()


def _bytes(records: dict) -> dict:
    assert all(r.ok for r in records.values())
    return {image: r.bytes for image, r in records.items()}


def test_editing_a_codecs_source_is_a_miss_without_a_version_bump(plugin, tmp_path):
    """Issue 21 item 1: a plugin's subsampling changed from 4:4:4 to 4:2:0, reinstalled, was served the old bytes."""
    path = tmp_path / "c.sqlite"
    name = plugin()
    first = _run(f"{name}:quality=50", RunCache(ResultsCache(path)))

    name = plugin()  # reinstalled unchanged: the same code hits
    cache = RunCache(ResultsCache(path))
    assert _bytes(_run(f"{name}:quality=50", cache)) == _bytes(first) and (cache.hits, cache.misses) == (2, 0)

    name = plugin(subsampling="2")  # the codec's own module edited, `version` left alone
    cache = RunCache(ResultsCache(path))
    edited = _run(f"{name}:quality=50", cache)
    assert (cache.hits, cache.misses) == (0, 2)
    assert _bytes(edited) == _bytes(_run(f"{name}:quality=50", None)) != _bytes(first)

    name = plugin(choice=2)  # a module the codec imports edited: the same bits as the edit above, another code
    cache = RunCache(ResultsCache(path))
    assert _bytes(_run(f"{name}:quality=50", cache)) == _bytes(edited) and (cache.hits, cache.misses) == (0, 2)


def test_the_code_digest_covers_a_codecs_modules_and_nothing_above_the_codec_layers(monkeypatch):
    from codecbench.codecs.classical.pillow import JpegCodec, WebpCodec
    from codecbench.engine import cache_entry
    from codecbench.engine.cache_entry import code_digest

    seen: list[str] = []
    real = cache_entry._file_info
    monkeypatch.setattr(cache_entry, "_CLASSES", type(cache_entry._CLASSES)())
    monkeypatch.setattr(cache_entry, "_file_info", lambda name, path: seen.append(name) or real(name, path))
    digest = code_digest(JpegCodec)
    assert {"codecbench.codecs.classical.pillow", "codecbench.core.codec", "codecbench.codecs._common"} <= set(seen)
    assert all(name.startswith(("codecbench.core.", "codecbench.codecs.")) for name in seen)
    assert digest == code_digest(JpegCodec) == code_digest(WebpCodec)  # one module, the same code
    assert len(seen) == len(set(seen)) * 2  # computed once per class


def test_a_codec_without_source_is_never_cached(tmp_path, monkeypatch):
    namespace: dict = {"__name__": "sourceless_codec_module"}
    exec(textwrap.dedent("""
        import numpy as np
        from codecbench.core.codec import Codec

        class Raw(Codec):
            name = "raw-sourceless"
            lossless = True
            def _encode(self, image):
                return np.ascontiguousarray(image).tobytes()
            def _decode(self, data):
                return np.frombuffer(data, np.uint8).reshape(4, 4, 3).copy()
    """), namespace)
    monkeypatch.setitem(sys.modules, "sourceless_codec_module", type(sys)("sourceless_codec_module"))
    codec = namespace["Raw"](threads=1)
    cache = ResultsCache(tmp_path / "c.sqlite")
    image = np.zeros((4, 4, 3), np.uint8)
    cache.put(codec, image, None, {"bytes": 48, "bpp": 24.0, "enc_s": 0.0, "dec_s": 0.0})
    assert cache.key(codec, image) is None
    assert cache.get(codec, image) is None
    assert len(cache) == 0


def test_every_record_says_whether_it_was_measured_or_reused(tmp_path):
    """Issue 21 item 1: reused records were indistinguishable from measured ones."""
    path = tmp_path / "c.sqlite"
    spec = "jpeg:quality=40"
    cold = _run(spec, RunCache(ResultsCache(path)))
    warm = _run(spec, RunCache(ResultsCache(path)))
    retimed = _run(spec, RunCache(ResultsCache(path), retime=True))
    other_threads = Runner([spec], cache=RunCache(ResultsCache(path)), threads=2)
    assert [(r.cached, r.retimed) for r in cold.values()] == [(False, None)] * 2
    assert [(r.cached, r.retimed) for r in warm.values()] == [(True, False)] * 2
    assert [(r.cached, r.retimed) for r in retimed.values()] == [(True, True)] * 2
    assert [(r.cached, r.retimed) for r in other_threads.run_dataset("embedded", max_images=2)] == [(True, True)] * 2
    assert all(r.jobs == 1 for r in [*cold.values(), *warm.values(), *retimed.values()])


def test_run_summary_and_report_count_measured_and_reused_records(tmp_path, capsys, monkeypatch):
    """Issue 21 item 1: the report said "measured with 2 codec processes" of records reused from the cache."""
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    out, reports = tmp_path / "r.json", tmp_path / "reports"
    command = ["run", "jpeg:quality=50|90", "--max-images", "2", "--jobs", "1", "-o", str(out), "--fresh",
               "--report-dir", str(reports)]
    assert main(command) == 0
    assert "4 measured, 0 reused from the cache (0 of them re-timed)" in capsys.readouterr().err
    assert "Reused from the results cache" not in (reports / "embedded.md").read_text()

    assert main(command) == 0
    assert "0 measured, 4 reused from the cache (0 of them re-timed)" in capsys.readouterr().err
    assert all(r.cached and r.retimed is False for r in read_records(out))
    report = (reports / "embedded.md").read_text()
    assert "**Reused from the results cache**: 4 of 4 records" in report and "measured again for 0 of them" in report

    assert main([*command, "--retime"]) == 0
    assert "0 measured, 4 reused from the cache (4 of them re-timed)" in capsys.readouterr().err
    assert "measured again for 4 of them" in (reports / "embedded.md").read_text()
