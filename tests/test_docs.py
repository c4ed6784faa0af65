"""The documentation: the mkdocs site builds strictly, and README and docs point at things that exist.

- ``python -m mkdocs build --strict`` (plain mkdocs, its built-in theme; in the
  ``dev`` extra) must pass with no warning: every page in the nav, no link to a
  missing page or anchor. Skipped, with the reason, only where mkdocs is not
  installed.
- Every relative link of ``README.md`` names an existing file, and its
  ``#anchor`` an existing heading (GitHub's anchors, as the README is read there).
- Every repository path that the docs pages name in code (``codecbench/…``,
  ``tests/…::test_name``, ``bench/…``, ``reports/…``) exists, so the pages
  follow the code when modules move; an output the repository makes but does
  not commit (named exactly, rooted, in ``.gitignore``) is excused.
- The README keeps the install and test lines that ``.ci/run`` runs.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"

_FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.S | re.M)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE = re.compile(r"`([^`\n]+)`")
_ROOTS = ("codecbench/", "tests/", "bench/", "reports/", ".github/", ".ci/")


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks."""
    return _FENCE.sub("", text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip()).lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def headings(path: Path) -> set[str]:
    return {github_anchor(line.lstrip("#")) for line in _prose(path.read_text(encoding="utf-8")).splitlines()
            if re.match(r"#{1,6} ", line)}


def broken_links(path: Path) -> list[str]:
    """The relative links of a markdown file whose file or heading does not exist."""
    broken = []
    for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in headings(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    return broken


def named_paths(text: str) -> list[str]:
    """Repository paths named in inline code: concrete ones only (no placeholders, globs or options)."""
    found = []
    for span in _CODE.findall(_prose(text)):
        span = span.strip()
        if not span.startswith(_ROOTS) or re.search(r"[<>*{}…\s|]", span) or "NNNN" in span:
            continue
        found.append(span)
    return found


def generated_paths() -> set[str]:
    """Outputs the repository makes but does not commit: the literal, rooted entries of ``.gitignore``."""
    lines = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    return {line[1:].rstrip("/") for line in lines if line.startswith("/") and not re.search(r"[*?\[!]", line)}


def missing_paths(paths: list[str]) -> list[str]:
    """Named paths that neither exist nor are generated outputs (a clean clone lacks those: CI checks one)."""
    missing = []
    generated = generated_paths()
    for name in paths:
        file_part, _, test = name.partition("::")
        path = REPO / file_part.rstrip("/")
        if file_part.rstrip("/") in generated:
            continue
        if not path.exists():
            missing.append(f"{name}: no such file or folder")
        # a test defined in the file, or imported into it (bench/test_codecs.py re-exports codecbench.bench's)
        elif test and not re.search(rf"^\s*(async )?def {re.escape(test.split('[')[0])}\(|^from .* import .*\b"
                                    rf"{re.escape(test.split('[')[0])}\b", path.read_text(encoding="utf-8"), re.M):
            missing.append(f"{name}: no test {test} in {file_part}")
    return missing


# -- the checkers themselves -------------------------------------------------------------
def test_github_anchors_follow_githubs_rule():
    assert github_anchor("CI regression tracking") == "ci-regression-tracking"
    assert github_anchor("Rate–distortion analysis and CI") == "ratedistortion-analysis-and-ci"
    assert github_anchor("`--isolate` and `--timeout`") == "--isolate-and---timeout"
    assert github_anchor("Adding a codec") == "adding-a-codec"


def test_the_link_checker_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Here\n\n[a](other.md#other-page) [b](nowhere.md) [c](#here) [d](#gone) [e](https://x.org/y)\n"
                    "[g](other.md#no-such) ![img](also-missing.png)\n```\n[f](inside-a-fence.md)\n```\n",
                    encoding="utf-8")
    assert broken_links(page) == ["nowhere.md: no such file", "#gone: no heading #gone in page.md",
                                  "other.md#no-such: no heading #no-such in other.md"]


def test_the_path_checker_finds_moved_modules_and_renamed_tests():
    text = ("`codecbench/core/metrics.py` `codecbench/gone.py` `tests/test_docs.py::test_docs_name_existing_paths` "
            "`tests/test_docs.py::test_never_written` `reports/<dataset>.md` `codecbench/codecs/`")
    assert missing_paths(named_paths(text)) == [
        "codecbench/gone.py: no such file or folder",
        "tests/test_docs.py::test_never_written: no test test_never_written in tests/test_docs.py",
    ]


def test_the_path_checker_excuses_only_the_outputs_gitignore_names_exactly():
    assert "reports/kodak.html" in generated_paths()
    assert missing_paths(["reports/kodak.html", "reports/kodak.htm", "reports/other.html"]) == [
        "reports/kodak.htm: no such file or folder", "reports/other.html: no such file or folder"]


# -- the documentation -------------------------------------------------------------------
def test_mkdocs_build_is_strict_and_clean(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in the dev extra: pip install -e '.[dev]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "WARNING" not in log, log
    assert (tmp_path / "site" / "index.html").is_file()
    built = {p.relative_to(tmp_path / "site").with_suffix(".md") for p in (tmp_path / "site").rglob("*.html")}
    pages = {p.relative_to(DOCS) for p in DOCS.rglob("*.md")}
    assert pages <= built, f"pages not built: {sorted(map(str, pages - built))}"


def test_readme_links_point_at_existing_files_and_headings():
    assert broken_links(README) == []


def test_docs_links_point_at_existing_files_and_headings():
    broken = [f"{page.relative_to(REPO)}: {b}" for page in sorted(DOCS.rglob("*.md")) for b in broken_links(page)]
    assert broken == []


def test_docs_name_existing_paths():
    pages = sorted(DOCS.rglob("*.md")) + [README]
    missing = [f"{page.relative_to(REPO)}: {m}" for page in pages
               for m in missing_paths(named_paths(page.read_text(encoding="utf-8")))]
    assert missing == []


def test_readme_keeps_the_install_and_test_lines_that_ci_runs():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    install = next(line.strip() for line in ci.splitlines() if line.strip().startswith("pip install"))
    test = next(line.strip() for line in ci.splitlines() if "pytest" in line and not line.lstrip().startswith("#"))
    readme = README.read_text(encoding="utf-8")
    assert install in readme and test in readme
