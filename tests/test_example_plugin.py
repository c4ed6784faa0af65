"""The example plug-in (``examples/plugin/``) installs, registers its codecs and passes its own tests.

It is installed as a user would install it, with pip, into a fresh virtual
environment of its own (made without pip, seeing this environment's packages
through a ``.pth`` file, so that torch and codecbench are not installed again;
``--system-site-packages`` would not see them when this environment is itself
a virtual environment), from a copy of the folder (a build writes into it).
Its tests use codecbench's author kit (``codecbench.testing``), so the kit,
the public bases, plug-in checkpoints and the entry-point discovery are all
exercised from outside this repository, offline.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, nested_pytest_env, shared_data_root

EXAMPLE = REPO / "examples" / "plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(the virtual environment's python, the copy of the example, the environment to run them in)."""
    root = tmp_path_factory.mktemp("example-plugin")
    source = root / "plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    inner = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(inner) / "outer-environment.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in site.getsitepackages()))
    env = nested_pytest_env()
    data = shared_data_root()
    if data is not None:
        env["CODECBENCH_DATA"] = str(data)
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           str(source)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return python, source, env


def _run(installed, *args: str) -> subprocess.CompletedProcess:
    python, source, env = installed
    return subprocess.run([str(python), *args], cwd=source, capture_output=True, text=True, timeout=900, env=env)


def test_the_installed_plugin_is_listed(installed):
    done = _run(installed, "-m", "codecbench", "list", "codecs")
    assert done.returncode == 0, done.stderr[-3000:]
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"jpeg444", "block-pca", "jpeg"} <= listed, done.stdout
    where = _run(installed, "-c", "import codecbench_example; print(codecbench_example.__file__)")
    assert "site-packages" in where.stdout and str(EXAMPLE) not in where.stdout, where.stdout + where.stderr


def test_the_plugins_own_tests_pass_with_the_kit(installed):
    done = _run(installed, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = set(re.findall(r"^PASSED (\S+)", done.stdout, re.MULTILINE))
    for codec in ("jpeg444:quality=5", "jpeg444:quality=95", "block-pca:step=64", "block-pca:step=4"):
        assert f"tests/test_contract.py::test_round_trip_keeps_shape_and_dtype_lossless_is_exact[{codec}]" in passed
        assert f"tests/test_contract.py::test_fresh_process_decodes_the_bytes_alike[{codec}]" in passed
    assert "tests/test_contract.py::test_learned_payload_too_small_for_a_declared_tile_is_refused[block-pca:step=4]" \
        in passed
    if shared_data_root() is not None:  # the floor read the card that ships in the plug-in's package
        assert "tests/test_contract.py::test_floor_is_met_and_bites[block-pca]" in passed, done.stdout[-4000:]


def test_the_kit_runs_from_the_plugins_directory_on_its_codec(installed):
    """The documented command: the installed kit's tests, on the installed plug-in's codec, from its folder."""
    done = _run(installed, "-m", "pytest", "--pyargs", "codecbench.testing", "--codecs", "jpeg444",
                "-p", "no:cacheprovider", "-q", "-rA")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.findall(r"^PASSED \S+\[(jpeg444:quality=\d+)\]", done.stdout, re.MULTILINE)
    assert {"jpeg444:quality=5", "jpeg444:quality=95"} == set(passed), done.stdout[-4000:]
