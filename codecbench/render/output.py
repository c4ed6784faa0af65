"""The full report of a set of records, the same from every entry point, and writing it.

``codecbench report``, ``codecbench run --report-dir`` and the pytest
plugin's end-of-session report all build one
:class:`~codecbench.render.report_data.DatasetReport` per dataset and render
it in each format asked for (:mod:`codecbench.render.formats`; markdown by
default: the tables plus, unless ``rd`` is None, the rate–distortion analysis
of :mod:`codecbench.render.rd`). :func:`build_reports` is the markdown alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from codecbench.core.errors import OptionError
from codecbench.core.results import Record, output_errors
from codecbench.render.formats import DEFAULT_FORMAT, Renderer, renderers
from codecbench.render.markdown import report_filename
from codecbench.render.rd import RDOptions
from codecbench.render.report_data import DatasetReport, dataset_reports
from codecbench.render.timing import Origin


def build_reports(records: Sequence[Record], meta: Mapping[str, Any] | None, *, rd: RDOptions | None = RDOptions(),
                  file_size: bool = False, origins: Mapping[tuple, Origin] | None = None) -> dict[str, str]:
    """Each dataset's report text (dataset → markdown), with the RD analysis of ``rd`` (None: without it);
    ``origins``: each record's results file, for a report merged from several (see :func:`dataset_reports`)."""
    (markdown,) = renderers([DEFAULT_FORMAT])
    return {report.dataset: markdown.render(report)
            for report in dataset_reports(records, meta, rd=rd, file_size=file_size, origins=origins)}


def write_reports(reports: dict[str, str], out: Path | None) -> list[Path]:
    """Write each dataset's report to ``out/<dataset>.md`` (print them when ``out`` is None).

    Each report replaces its file whole or not at all; a write error is an
    :class:`~codecbench.core.errors.OutputError` naming the file.
    """
    if out is None:
        print("\n".join(reports.values()), end="")
        return []
    return _write_files({out / report_filename(dataset): text for dataset, text in reports.items()}, out)


def write_formats(reports: Sequence[DatasetReport], out: Path | None, formats: Sequence[str] = ()) -> list[Path]:
    """Render each report in each of ``formats`` (none: markdown) and write ``out/<dataset><suffix>`` (and a
    format's extra files, ``out/<dataset><extra suffix>``).

    Every file is rendered before any is written; each replaces its file whole or not at all. ``out`` None
    prints markdown, and is an OptionError for any other format (it writes files). Unknown formats are an
    OptionError naming the known ones.
    """
    chosen = check_formats(formats, out)
    if out is None:
        return write_reports({report.dataset: chosen[0].render(report) for report in reports}, None)
    files = {out / report_filename(report.dataset, suffix): data for report in reports for renderer in chosen
             for suffix, data in {renderer.suffix: renderer.render(report), **renderer.extra_files(report)}.items()}
    return _write_files(files, out)


def check_formats(formats: Sequence[str], out: Path | None) -> list[Renderer]:
    """The renderers of ``formats`` (none: markdown); OptionError for an unknown one, or for any but markdown
    without a folder to write in (``out`` None prints)."""
    chosen = renderers(formats)
    others = [r.name for r in chosen if r.name != DEFAULT_FORMAT]
    if out is None and others:
        raise OptionError(f"--format {others[0]} writes files: give the folder to write them in (--out DIR)")
    return chosen


def _write_files(files: Mapping[Path, str | bytes], out: Path) -> list[Path]:
    """Write each file atomically (text as UTF-8, undecodable file names escaped); OutputError naming the file."""
    with output_errors(out, "report folder"):
        out.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        tmp = path.with_name(path.name + ".tmp")
        with output_errors(path, "report"):
            try:
                if isinstance(data, bytes):
                    tmp.write_bytes(data)
                else:
                    tmp.write_text(data, encoding="utf-8", errors="backslashreplace")
                tmp.replace(path)
            finally:
                tmp.unlink(missing_ok=True)
    return list(files)
