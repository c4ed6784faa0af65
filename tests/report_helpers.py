"""A real run for the report-format tests: two codecs on two embedded images, viewer pictures, an HTML report."""

from __future__ import annotations

from pathlib import Path

from codecbench.cli import main

SPECS = "jpeg:quality=15|60,webp:quality=40"


def measured_run(folder: Path) -> Path:
    """Run :data:`SPECS` into ``folder/r.json`` with 64 px viewer pictures and reports (html and markdown) in
    ``folder/reports``; return the results file."""
    out = folder / "r.json"
    assert main(["run", "--codecs", SPECS, "--max-images", "2", "-o", str(out), "--no-cache", "-j", "1",
                 "--report-dir", str(folder / "reports"), "--format", "html", "--format", "markdown",
                 "--viewer-crop", "64"]) == 0
    return out
