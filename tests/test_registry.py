"""One registry for every kind (codecs, metrics, datasets, trainable models): explicit registration, a named error
with the close names, listings that say where a name came from, built-in modules imported only as far as a lookup
needs, and entry points loaded the same way for every kind (a broken one is one warning)."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.core.codec import CODECS, Codec, Setting, register_codec
from codecbench.core.errors import CodecbenchError, DatasetError, OptionError, SpecError
from codecbench.core.metrics import METRICS
from codecbench.core.registry import Registry, declare_builtins
from codecbench.core.results import read_results
from codecbench.datasets import SOURCES
from codecbench.training import TRAINABLES

REPO = Path(__file__).resolve().parents[1]


class Thing:
    name = ""


def dist_info(site: Path, name: str, entry_points: str) -> None:
    """A ``.dist-info`` folder in ``site`` declaring ``entry_points``, as an installed distribution has."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


# -- registering and looking up ---------------------------------------------------------------------
def test_a_decorated_class_is_found_by_name_and_listed_with_its_module():
    things = Registry("thing", Thing)

    @things.register
    class Box(Thing):
        name = "box"

    assert things.get("box") is Box
    assert things["box"] is Box
    assert "box" in things and "crate" not in things
    (entry,) = things.entries("b*")
    assert (entry.name, entry.obj, entry.module, entry.plugin) == ("box", Box, __name__, None)
    assert things.names("c*") == []


def test_an_instance_is_listed_with_the_module_that_registered_it():
    things = Registry("thing", Thing, instances=True)
    box = Thing()
    box.name = "box"
    things.register(box)
    assert things.entries()[0].module == __name__


@pytest.mark.parametrize("registry, name, error, close", [
    (CODECS, "jpg", SpecError, "'jpeg'"),
    (METRICS, "psnrr", OptionError, "'psnr'"),
    (SOURCES, "kodakk", DatasetError, "'kodak'"),
    (TRAINABLES, "cnn-a", SpecError, "'cnn-ae'"),
], ids=["codec", "metric", "dataset", "trainable"])
def test_an_unknown_name_is_a_named_error_with_the_close_and_the_known_names(registry, name, error, close):
    with pytest.raises(error) as caught:
        registry.get(name)
    message = str(caught.value)
    assert message.startswith(f"unknown {registry.kind} {name!r} (did you mean {close}"), message
    assert f"; known {registry.plural}: " + ", ".join(registry.names()) in message


def test_a_name_is_taken_once_and_a_thing_of_another_kind_is_refused():
    things = Registry("thing", Thing)
    first = things.register(type("First", (Thing,), {"name": "box"}))
    assert things.register(first) is first  # the same class again (a reloaded module) replaces itself
    with pytest.raises(CodecbenchError, match=f"two things are named 'box': {__name__} and {__name__}"):
        things.register(type("Second", (Thing,), {"name": "box"}))
    with pytest.raises(TypeError, match="a thing is a Thing class, not an object of type int"):
        things.register(42)
    with pytest.raises(CodecbenchError, match="has no name"):
        things.register(type("Nameless", (Thing,), {}))
    assert things.get("box") is first


def test_a_codec_whose_rate_knob_is_not_a_setting_is_refused():
    with CODECS.restoring(), pytest.raises(CodecbenchError, match="rate knob 'q' is not a declared setting"):
        @register_codec
        class Knobless(Codec):
            name = "knobless-demo"
            param = "q"
            settings = {"quality": Setting(int, 5)}

            def _encode(self, image):
                return b""

            def _decode(self, data):
                return np.zeros((1, 1, 3), np.uint8)


def test_restoring_undoes_what_a_test_registered_and_keeps_what_loaded_meanwhile(tmp_path, monkeypatch):
    kind = f"restoring-{tmp_path.name}"
    things = Registry(kind, Thing)
    declare_builtins(kind, _things_module(tmp_path, monkeypatch, "builtin", things))
    with things.restoring():
        things.register(type("Scratch", (Thing,), {"name": "scratch"}))
        assert things.names() == ["scratch", "builtin"]  # listing imports the built-in module, inside the block
    assert things.names() == ["builtin"]


# -- built-ins: imported only as far as a lookup needs ------------------------------------------------
def _things_module(tmp_path: Path, monkeypatch, name: str, registry: Registry) -> str:
    """The name of a module (in ``tmp_path``, not imported yet) that registers a Thing called ``name`` in
    ``registry``."""
    tag = re.sub(r"\W", "_", tmp_path.name)
    holder = type(sys)(f"cbreg_registry_{tag}")
    holder.things, holder.Thing = registry, Thing
    monkeypatch.setitem(sys.modules, holder.__name__, holder)
    module = f"cbreg_{tag}_{name}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(f'''
        from {holder.__name__} import Thing, things

        @things.register
        class T(Thing):
            name = {name!r}
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    return module


def test_built_in_modules_are_imported_in_order_only_as_far_as_a_lookup_needs(tmp_path, monkeypatch):
    kind = f"lazy-{tmp_path.name}"
    things = Registry(kind, Thing)
    cheap, heavy = (_things_module(tmp_path, monkeypatch, n, things) for n in ("cheap", "heavy"))
    declare_builtins(kind, cheap, heavy)
    assert cheap not in sys.modules
    assert things.get("cheap").name == "cheap"
    assert cheap in sys.modules and heavy not in sys.modules  # the heavy module was not needed
    assert things.names() == ["cheap", "heavy"]
    assert heavy in sys.modules
    assert {e.name: e.module for e in things.entries()} == {"cheap": cheap, "heavy": heavy}


def test_a_classical_codec_lookup_imports_neither_torch_nor_another_codec_module():
    script = ("import json, sys; from codecbench import get_codec_class; get_codec_class('jpeg')\n"
              "print(json.dumps(['torch' in sys.modules, sorted(m for m in sys.modules if 'codecs.' in m)]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    torch_imported, modules = json.loads(done.stdout)
    assert not torch_imported
    assert modules == ["codecbench.codecs._common", "codecbench.codecs.classical", "codecbench.codecs.classical.pillow"]


# -- entry points: the same for every kind ----------------------------------------------------------
PLUG_THINGS = textwrap.dedent('''
    class Thing:
        name = ""

    class Good(Thing):
        name = "good"

    class Twin(Thing):
        name = "good"

    NOT_A_THING = 42
''')

#: entry point → what its one warning says (None: it works)
THING_ENTRY_POINTS = {
    "good = cbreg_plug:Good": None,
    "twin = cbreg_plug:Twin": "two things are named 'good'",
    "missing = cbreg_nosuch:Good": "ModuleNotFoundError: No module named 'cbreg_nosuch'",
    "wrong = cbreg_plug:NOT_A_THING": "it names an object of type int, not a Thing class or a module",
    "base = cbreg_plug:Thing": "has no name",
    "empty = cbreg_empty": "its module registers no thing",
}


def test_a_broken_entry_point_is_one_warning_naming_it_and_the_rest_load(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "cbreg_plug.py").write_text(PLUG_THINGS)
    (site / "cbreg_empty.py").write_text("")
    group = f"cbreg.things.{tmp_path.name}"
    dist_info(site, "cbreg-plug", f"[{group}]\n" + "\n".join(THING_ENTRY_POINTS) + "\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "cbreg_plug", raising=False)
    monkeypatch.delitem(sys.modules, "cbreg_empty", raising=False)
    plug = importlib.import_module("cbreg_plug")
    things = Registry("thing", plug.Thing, group=group)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert things.names() == ["good"]
    (entry,) = things.entries()
    assert (entry.module, entry.plugin) == ("cbreg_plug", "cbreg-plug")
    lines = [str(w.message) for w in caught]
    for ep, problem in THING_ENTRY_POINTS.items():
        name = ep.partition(" =")[0]
        mine = [line for line in lines if line.startswith(f"thing plug-in {name!r} ")]
        assert len(mine) == (problem is not None), (ep, lines)
        assert problem is None or problem in mine[0], (ep, mine)


PLUGIN = textwrap.dedent('''
    """A plug-in package with a metric and a dataset, and broken entry points for both."""
    from pathlib import Path

    import numpy as np

    from codecbench.core.metrics import Metric
    from codecbench.datasets.sources import Source, folder_refs, load_file


    def _mae(original, decoded):
        return {"mae_demo": float(np.mean(np.abs(original.astype(float) - decoded)))}


    class Tiny(Source):
        key = "tiny-demo"
        description = "three 24×16 noise images (a plug-in dataset)"

        def refs(self, root):
            refs = folder_refs(Path(__file__).with_name("tiny_images"))
            return refs, load_file, f"{len(refs)} files of the plug-in"


    MAE = Metric("mae_demo", "MAE", "", _mae, higher_is_better=False, default=False)
    TINY = Tiny()
''')

ENTRY_POINTS = ("[codecbench.metrics]\nmae_demo = cbreg_data:MAE\nmetric-broken = cbreg_data:TINY\n"
                "[codecbench.datasets]\ntiny-demo = cbreg_data:TINY\ndataset-broken = cbreg_nosuch:X\n"
                "[codecbench.codecs]\ncodec-broken = cbreg_data:MAE\n")


@pytest.fixture
def plugin_site(tmp_path) -> Path:
    site = tmp_path / "site"
    (site / "tiny_images").mkdir(parents=True)
    rng = np.random.default_rng(23)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)).save(site / "tiny_images" / f"{i}.png")
    (site / "cbreg_data.py").write_text(PLUGIN)
    dist_info(site, "cbreg-data", ENTRY_POINTS)
    return site


def _cli(*args: str, cwd: Path, pythonpath: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "codecbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_metric_and_dataset_plugins_load_like_codec_plugins_and_a_plugin_dataset_runs(plugin_site, tmp_path):
    listed = _cli("list", cwd=tmp_path, pythonpath=plugin_site)
    assert listed.returncode == 0, listed.stderr[-3000:]
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert {"mae_demo", "tiny-demo", "jpeg", "psnr", "kodak"} <= names
    for kind, name, problem in [("metric", "metric-broken", "it names an object of type Tiny, not a Metric"),
                                ("dataset", "dataset-broken", "No module named 'cbreg_nosuch'"),
                                ("codec", "codec-broken", "it names an object of type Metric, not a Codec class")]:
        lines = [line for line in listed.stderr.splitlines() if f"{kind} plug-in {name!r}" in line]
        assert len(lines) == 1 and problem in lines[0] and "cbreg-data" in lines[0], listed.stderr[-3000:]
    assert "Traceback" not in listed.stderr
    out = tmp_path / "out.json"
    done = _cli("run", "--codecs", "png", "--datasets", "tiny-demo", "--metrics", "+mae_demo", "-o", str(out),
                "--no-cache", cwd=tmp_path, pythonpath=plugin_site)
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_results(out)[1]
    assert [(r.dataset, r.ok) for r in records] == [("tiny-demo", True)] * 3


def test_no_kind_loads_entry_points_from_the_working_directory(plugin_site):
    """The working directory is never searched, for metrics and datasets as for codecs."""
    (plugin_site / "cbreg_data.py").write_text(
        f"from pathlib import Path\nPath({str(plugin_site / 'PWNED')!r}).touch()\n" + PLUGIN)
    listed = _cli("list", cwd=plugin_site, pythonpath=None)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "mae_demo" not in listed.stdout and "tiny-demo" not in listed.stdout
    assert not (plugin_site / "PWNED").exists(), "a module from the working directory was imported"
