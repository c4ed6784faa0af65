"""The full report of a set of records, the same from every entry point, and writing it.

``codecbench report``, ``codecbench run --report-dir`` and the pytest
plugin's end-of-session report all call :func:`build_reports`: the markdown
tables plus, unless ``rd`` is None, the rate–distortion analysis
(:mod:`codecbench.render.rd`: BD-rates against the anchor, fixed-rate
table, plots).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from codecbench.render.markdown import render_reports, report_filename
from codecbench.render.rd import RDOptions, section_renderer
from codecbench.core.results import Record, output_errors


def build_reports(records: Sequence[Record], meta: Mapping[str, Any] | None, *, rd: RDOptions | None = RDOptions(),
                  file_size: bool = False) -> dict[str, str]:
    """Each dataset's report text (dataset → markdown), with the RD analysis of ``rd`` (None: without it)."""
    sections = [section_renderer(records, rd)] if rd is not None else []
    return render_reports(records, meta or None, sections=sections, file_size=file_size)


def write_reports(reports: dict[str, str], out: Path | None) -> list[Path]:
    """Write each dataset's report to ``out/<dataset>.md`` (print them when ``out`` is None).

    Each report replaces its file whole or not at all; a write error is an
    :class:`~codecbench.core.errors.OutputError` naming the file.
    """
    if out is None:
        print("\n".join(reports.values()), end="")
        return []
    with output_errors(out, "report folder"):
        out.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset, text in reports.items():
        path = out / report_filename(dataset)
        tmp = path.with_name(path.name + ".tmp")
        with output_errors(path, "report"):
            try:
                tmp.write_text(text, encoding="utf-8", errors="backslashreplace")  # undecodable file names
                tmp.replace(path)
            finally:
                tmp.unlink(missing_ok=True)
        paths.append(path)
    return paths
