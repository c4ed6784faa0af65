"""The shell recipes of README.md and docs/install.md run as written, so a broken recipe fails CI.

Every command of every ``sh`` block runs once, in order, in one scratch folder
per page that looks like a clone (``bench/``, ``conftest.py``, ``pyproject.toml``
and the committed CI baseline linked in; ``results/`` and ``reports/ci/``
written there, never into the repository). Three changes keep it small, each
one visible in :data:`SKIPPED` and :func:`runnable`:

- a sweep with no ``--max-images`` runs on one image (``--max-images 1``);
- the placeholder codec ``mycodec`` is ``jpeg``;
- lines that install, download or run this suite are skipped, with the reason.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, nested_pytest_env

pytestmark = pytest.mark.slow

PAGES = ("README.md", "docs/install.md")

#: command prefix -> why it does not run here
SKIPPED = {
    "pip install": "the install line: .ci/run runs it before the suite",
    "python -m pytest": "the test suite: this test is part of it",
    "codecbench datasets fetch": "a download: CODECBENCH_DATA already holds the datasets here",
}

#: commands that sweep codecs over images: capped at one image unless the recipe gives its own --max-images
_SWEEPS = ("pytest bench", "pytest --pyargs codecbench.bench", "codecbench bench", "codecbench run")

_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def recipe_lines(text: str) -> list[str]:
    """The commands of the ``sh`` blocks of ``text``: comments dropped, ``\\``-continued lines joined."""
    commands = []
    for block in _BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def runnable(command: str) -> str | None:
    """``command`` as this test runs it, or None where :data:`SKIPPED` names it."""
    if command.startswith(tuple(SKIPPED)):
        return None
    words = ["jpeg" if w == "mycodec" else w for w in shlex.split(command)]
    if command.startswith(_SWEEPS) and "--max-images" not in words:
        words += ["--max-images", "1"]
    return shlex.join(words)


def _clone_like(folder: Path) -> Path:
    folder.mkdir()
    for name in ("bench", "conftest.py", "pyproject.toml"):
        (folder / name).symlink_to(REPO / name)
    (folder / "reports").mkdir()
    (folder / "reports" / "baseline").symlink_to(REPO / "reports" / "baseline")
    return folder


def test_the_recipe_reader_joins_continuations_and_drops_comments():
    text = "x\n```sh\n# a comment\ncodecbench run --codecs jpeg   # sweep\ncodecbench compare a b \\\n    --x 1\n```\n"
    assert recipe_lines(text) == ["codecbench run --codecs jpeg", "codecbench compare a b --x 1"]
    assert runnable("codecbench run --codecs jpeg") == "codecbench run --codecs jpeg --max-images 1"
    assert runnable("codecbench bench --codecs mycodec --max-images 4") == "codecbench bench --codecs jpeg --max-images 4"
    assert runnable("pip install -e .") is None


def test_every_recipe_runs(tmp_path, data_root):
    """Each page's commands in order, in a scratch clone of its own; a command an earlier page ran is not run again."""
    env = nested_pytest_env(CODECBENCH_DATA=str(data_root), CODECBENCH_CACHE=str(tmp_path / "cache"))
    ran: list[str] = []
    for page in PAGES:
        folder = _clone_like(tmp_path / Path(page).stem)
        for command in recipe_lines((REPO / page).read_text(encoding="utf-8")):
            line = None if command.startswith("export ") else runnable(command)  # the export: env has it
            if line is None or line in ran:
                continue
            done = subprocess.run(line, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
            tail = (done.stdout + done.stderr)[-3000:]
            assert done.returncode == 0, f"{page}: `{line}` exited {done.returncode}:\n{tail}"
            assert "Traceback" not in done.stderr, f"{page}: `{line}` printed a traceback:\n{tail}"
            ran.append(line)
    assert len(ran) >= len(PAGES), ran
