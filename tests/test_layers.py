"""The package's layers import only downward, and analysis/render never import torch (DESIGN: layout)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "codecbench"

#: layer → rank: a module may import codecbench modules of its own rank or lower, never higher
RANKS = {
    "core": 0, "datasets": 1, "analysis": 1, "codecs": 2, "render": 2, "engine": 3, "training": 4,
    "models": 5, "tools": 6, "testing": 7, "integrations": 7, "bench": 7, "cli": 8,
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:4] == ["codecbench", "codecs", "learned", "models"]:
        return "models"  # the model zoo: network, codec and trainable of each model, on top of training
    return parts[1] if len(parts) > 1 and parts[0] == "codecbench" and parts[1] in RANKS else None


#: a string that names a codecbench module (``"codecbench.codecs.learned.models"``, ``"codecbench.engine.measure:f"``)
MODULE_NAME = re.compile(r"codecbench(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts), path


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_point_downward(module, path):
    mine = layer_of(module)
    if mine is None:
        return  # codecbench/__init__.py, __main__.py
    upward = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("codecbench"):
            names = [node.module]
        else:
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            other = layer_of(name)
            if other is not None and RANKS[other] > RANKS[mine]:
                upward.append(f"line {node.lineno}: {name} ({other})")
    assert not upward, f"{module} ({mine}) imports a higher layer: " + "; ".join(upward)


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_string_names_a_module_of_a_higher_layer(module, path):
    """A module name in a string (for importlib.import_module, a worker call, a list of modules to import later)
    is an import the test above cannot see: it points downward too. Entry-point group names (assigned to a
    ``*GROUP`` constant), which look like module names, are not imports. Only the package root may name every
    layer (it declares each registry's built-in modules)."""
    mine = layer_of(module)
    if mine is None:
        return
    tree = ast.parse(path.read_text())
    groups = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and all(isinstance(t, ast.Name) and t.id.endswith("GROUP") for t in node.targets)}
    upward = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in groups:
            if MODULE_NAME.fullmatch(node.value):
                other = layer_of(node.value.partition(":")[0])
                if other is not None and RANKS[other] > RANKS[mine]:
                    upward.append(f"line {node.lineno}: {node.value!r} ({other})")
    assert not upward, f"{module} ({mine}) names a module of a higher layer: " + "; ".join(upward)


def test_every_package_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(RANKS), folders - set(RANKS)


def test_analysis_and_render_never_import_torch_or_a_codec():
    code = ("import sys, importlib, pkgutil, codecbench.analysis, codecbench.render\n"
            "for pkg in (codecbench.analysis, codecbench.render):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__): importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
            "print('torch' in sys.modules, any(m.startswith('codecbench.codecs') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_only_the_cli_parses_the_command_line(module, path):
    """Command-line code (argparse, sys.argv) lives in codecbench/cli/, never in the layers below it."""
    if layer_of(module) in (None, "cli"):
        return
    tree = ast.parse(path.read_text())
    found = [f"line {node.lineno}: {ast.unparse(node)}" for node in ast.walk(tree)
             if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                 (alias.name if isinstance(node, ast.Import) else node.module or "") == "argparse" for alias in node.names)]
    found += [f"line {node.lineno}: sys.argv" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and node.attr == "argv" and isinstance(node.value, ast.Name)
              and node.value.id == "sys"]
    assert not found, f"{module} parses the command line outside codecbench/cli/: " + "; ".join(found)
