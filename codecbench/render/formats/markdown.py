"""The markdown report (``--format markdown``, the default): :mod:`codecbench.render.markdown` and the RD section."""

from __future__ import annotations

from codecbench.render.formats import RENDERERS, Renderer
from codecbench.render.markdown import render_dataset
from codecbench.render.rd import section_lines
from codecbench.render.report_data import DatasetReport


class MarkdownRenderer(Renderer):
    name = "markdown"
    suffix = ".md"
    description = "tables, BD-rate and fixed-rate analysis, PNG plots linked (the committed reports)"

    def render(self, report: DatasetReport) -> str:
        rd = report.rd
        sections = [] if rd is None else [
            lambda dataset, found: section_lines(report.records, dataset, rd, found, report.analysis)]
        return render_dataset(report.dataset, report.records, report.curves, report.meta, sections,
                              file_size=report.file_size, conditions=report.conditions)


RENDERERS.register(MarkdownRenderer())
