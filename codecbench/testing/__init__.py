"""The codec author's kit: codecbench's codec contract, runnable on any registered codec from any repository.

Three ways to run the same checks (:mod:`codecbench.testing.contract`, and
the quality floor of :mod:`codecbench.testing.quality`):

- one call, anywhere: ``check_codec("mycodec")`` returns each check's outcome
  and raises :class:`ContractFailure` naming every check that failed;
- pytest, from any directory: ``pytest --pyargs codecbench.testing --codecs mycodec``;
- a plug-in's own tests: a test file with
  ``from codecbench.testing.test_contract import *`` (and
  ``test_quality_floor``) and ``CONTRACT_CODECS = ["mycodec"]``.
"""

from codecbench.testing.check import check_codec
from codecbench.testing.contract import ContractFailure

__all__ = ["check_codec", "ContractFailure"]
