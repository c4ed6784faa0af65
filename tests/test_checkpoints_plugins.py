"""Checkpoints load only with weights_only=True; codecs come only from the package and installed entry points.

The base loader's refusal of a crafted pickle is tested in
tests/test_learned_foundation.py (``test_weights_only_refuses_malicious_pickle``);
here: every registered learned codec refuses it too, no code path in the package
loads a checkpoint any other way, and nothing found in the working directory
(stray modules, a ``*.dist-info`` folder declaring an entry point) becomes a codec
or gets imported.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from codecbench.core.codec import available_codecs, get_codec_class
from codecbench.codecs.learned.base import CheckpointError, TorchCodec
from codecbench.core.results import read_results
from tests import faulty_plugin

PACKAGE = Path(__file__).resolve().parents[1] / "codecbench"


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


LEARNED = sorted(name for name, cls in available_codecs().items() if issubclass(cls, TorchCodec))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("name", LEARNED or [pytest.param("none", marks=pytest.mark.skip("no learned codec"))])
def test_every_learned_codec_refuses_a_code_running_checkpoint(tmp_path, name):
    marker = tmp_path / "pwned"
    evil = tmp_path / f"{name}.pt"
    torch.save({"format": "codecbench-checkpoint", "model": name, "arch": {}, "state_dict": {},
                "meta": {"x": _Exploit(str(marker))}}, evil)
    with pytest.raises(CheckpointError, match="weights_only") as exc:
        get_codec_class(name)(checkpoint=evil)
    assert str(evil) in str(exc.value)
    assert not marker.exists()


def _calls(tree: ast.AST, attr: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == attr]


def test_no_code_path_unpickles_files():
    """Every torch.load passes weights_only=True; pickle.load(s) only on codecbench's own worker pipe."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree, "load"):
            if isinstance(call.func.value, ast.Name) and call.func.value.id == "torch":
                kw = {k.arg: k.value for k in call.keywords}
                assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, (
                    f"{path}:{call.lineno}: torch.load without weights_only=True")
            if isinstance(call.func.value, ast.Name) and call.func.value.id == "pickle":
                raise AssertionError(f"{path}:{call.lineno}: pickle.load")
        for call in _calls(tree, "loads"):
            if isinstance(call.func.value, ast.Name) and call.func.value.id == "pickle":
                assert path.name == "isolation.py", f"{path}:{call.lineno}: pickle.loads outside the worker protocol"


# -- the working directory ------------------------------------------------------------------------
EVIL = textwrap.dedent('''
    from pathlib import Path
    Path(__file__).with_name("PWNED-" + __name__).touch()
    from codecbench.core.codec import Codec

    class Evil(Codec):
        name = "evil-" + __name__.replace("_", "-").replace(".", "-")

        def _encode(self, image):
            return b"x"

        def _decode(self, data):
            raise ValueError
''')


@pytest.fixture
def booby_trapped_dir(tmp_path) -> Path:
    """A working directory full of things a careless plugin loader would import."""
    for rel in ("evil_codec.py", "codecbench_plugin.py", "codec_plugins.py", "plugins/evil.py", "codecs_extra/evil.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(EVIL)
    (tmp_path / "plugins" / "__init__.py").write_text(EVIL)
    dist = tmp_path / "evil_dist-0.1.dist-info"  # an entry point "installed" in the working directory
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-dist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[codecbench.codecs]\nevil = evil_codec:Evil\n")
    return tmp_path


LIST = "from codecbench import available_codecs; print(sorted(available_codecs()))"


@pytest.mark.parametrize("how", ["python -c", "python -m codecbench"])
def test_nothing_in_the_working_directory_becomes_a_codec(booby_trapped_dir, how):
    if how == "python -c":
        cmd = [sys.executable, "-c", LIST]
    else:
        cmd = [sys.executable, "-m", "codecbench", "list", "codecs"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(cmd, cwd=booby_trapped_dir, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "evil" not in done.stdout
    assert not list(booby_trapped_dir.rglob("PWNED-*")), "a module from the working directory was imported"


def test_a_directory_put_on_the_path_on_purpose_is_searched(booby_trapped_dir, tmp_path_factory):
    """The entry-point mechanism itself still works: the same folder, on PYTHONPATH, from elsewhere."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {**os.environ, "PYTHONPATH": str(booby_trapped_dir)}
    done = subprocess.run([sys.executable, "-c", LIST], cwd=elsewhere, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "'evil-evil-codec'" in done.stdout
    assert [p.name for p in booby_trapped_dir.rglob("PWNED-*")] == ["PWNED-evil_codec"]  # only the declared one


# -- broken plug-ins --------------------------------------------------------------------------------
#: entry point → what its one warning must say
BROKEN_ENTRY_POINTS = {
    "broken = nosuchmodule.x:Y": "ModuleNotFoundError: No module named 'nosuchmodule'",
    "broken-attr = cb_broken_demo:Missing": "AttributeError",
    "broken-import = cb_broken_raises:Codec": "RuntimeError: this plug-in fails on import",
    "broken-object = cb_broken_demo:NOT_A_CODEC": "it names an object of type int, not a Codec class or a module",
    "broken-twin = cb_broken_twin:Jpeg": "two codecs are named 'jpeg'",
}


@pytest.fixture(scope="module")
def broken_plugins(tmp_path_factory) -> Path:
    """An importable folder: the working faulty-demo plug-in, and a distribution whose entry points are all broken."""
    folder = faulty_plugin.install(tmp_path_factory.mktemp("plugins"))
    (folder / "cb_broken_demo.py").write_text("NOT_A_CODEC = 42\n")
    (folder / "cb_broken_raises.py").write_text("raise RuntimeError('this plug-in fails on import')\n")
    (folder / "cb_broken_twin.py").write_text(
        "from codecbench.codecs.classical.pillow import JpegCodec\n\nclass Jpeg(JpegCodec):\n    name = 'jpeg'\n")
    dist = folder / "cb_broken_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-broken-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[codecbench.codecs]\n" + "\n".join(BROKEN_ENTRY_POINTS) + "\n")
    return folder


def _cli(args: list[str], plugins: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "codecbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def _one_warning_each(stderr: str) -> None:
    for entry, error in BROKEN_ENTRY_POINTS.items():
        name, _, target = (part.strip() for part in entry.partition("="))
        lines = [line for line in stderr.splitlines() if f"'{name}'" in line]
        assert len(lines) == 1, f"{entry}: expected one warning line, got {lines}\n{stderr[-3000:]}"
        assert target in lines[0] and "cb-broken-demo" in lines[0] and error in lines[0], lines[0]
    assert "Traceback" not in stderr, stderr[-3000:]


def test_broken_codec_plugins_are_one_warning_each_and_list_works(broken_plugins, tmp_path):
    done = _cli(["list", "codecs"], broken_plugins, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _one_warning_each(done.stderr)
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"faulty-demo", "jpeg", "png", "cnn-ae"} <= listed, done.stdout


def test_broken_codec_plugins_leave_run_working(broken_plugins, tmp_path):
    """A run of the working plug-in codec loads every entry point (it is not built in) and measures."""
    out = tmp_path / "out.json"
    done = _cli(["run", "faulty-demo", "-d", "embedded", "--max-images", "1", "-o", str(out), "--no-cache"],
                broken_plugins, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _one_warning_each(done.stderr)
    records = read_results(out)[1]
    assert [(r.codec, r.ok) for r in records] == [("faulty-demo", True)]
