"""Report formats as peers: one :class:`Renderer` per format, each in its own module, chosen by ``--format``.

A renderer turns one dataset's :class:`~codecbench.render.report_data.DatasetReport` into the text or bytes of
one file, ``<dataset><suffix>`` (and, where a format needs more, further files by their suffixes). Adding a
format is one module that registers a renderer instance with :data:`RENDERERS` (or a plug-in's entry point in
the ``codecbench.renderers`` group naming one).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Sequence

from codecbench.core.errors import OptionError
from codecbench.core.registry import Registry, declare_builtins

if TYPE_CHECKING:
    from codecbench.render.report_data import DatasetReport

ENTRY_POINT_GROUP = "codecbench.renderers"
DEFAULT_FORMAT = "markdown"


class Renderer(ABC):
    """One output format: its ``--format`` ``name``, the ``suffix`` of its files, a one-line ``description``."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def render(self, report: DatasetReport) -> str | bytes:
        """The whole file of ``report`` (text is written as UTF-8)."""

    def extra_files(self, report: DatasetReport) -> dict[str, str | bytes]:
        """Further files of ``report`` beside the main one, by suffix (``.equal-rate.csv``); none by default."""
        return {}


#: every output format, by name (built-ins: the modules declared below, imported on first lookup)
RENDERERS: Registry[Renderer] = Registry("report format", Renderer, instances=True, group=ENTRY_POINT_GROUP,
                                         error=OptionError)
# declared here, not in the package root: the built-ins live in this layer, beside their registry
declare_builtins("report format", *(f"{__name__}.{m}" for m in ("markdown", "html", "csv", "json")))


def renderers(names: Sequence[str]) -> list[Renderer]:
    """The renderers of ``names``, each one name or several comma-separated (``html,csv``; repeats dropped, order
    kept; none given: markdown); OptionError for an unknown format, naming the known ones."""
    split = [part.strip() for name in names for part in name.split(",") if part.strip()]
    return [RENDERERS.get(name) for name in dict.fromkeys(split or [DEFAULT_FORMAT])]
