"""The package's layers import only downward, and analysis/render never import torch (DESIGN: layout)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "codecbench"

#: layer → rank: a module may import codecbench modules of its own rank or lower, never higher
RANKS = {
    "core": 0, "datasets": 1, "analysis": 1, "codecs": 2, "render": 2, "engine": 3, "training": 4,
    "models": 5, "tools": 6, "integrations": 7, "cli": 8,
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:4] == ["codecbench", "codecs", "learned", "models"]:
        return "models"  # the model zoo: network, codec and trainable of each model, on top of training
    return parts[1] if len(parts) > 1 and parts[0] == "codecbench" and parts[1] in RANKS else None


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
            other = layer_of(node.module)
            if other is not None and RANKS[other] > RANKS[mine]:
                upward.append(f"line {node.lineno}: {node.module} ({other})")
    assert not upward, f"{module} ({mine}) imports a higher layer: " + "; ".join(upward)


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
