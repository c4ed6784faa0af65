"""Adapters of models written for other tools: ``torch-model`` (any torch module with CompressAI's API,
:mod:`.protocol`) and ``compressai`` (CompressAI's zoo, :mod:`.compressai_zoo`); importing this package registers
both. The stream layout is in :mod:`.strings`; the manual is ``docs/compressai.md``."""

from codecbench.codecs.learned.adapters import compressai_zoo, protocol  # noqa: F401 - registers the codecs
