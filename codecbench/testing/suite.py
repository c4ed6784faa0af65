"""What the kit's pytest modules share: which codecs a test module checks, and its parametrization.

:mod:`codecbench.testing.test_contract` and
:mod:`codecbench.testing.test_quality_floor` both export
:func:`pytest_generate_tests`, the same function, so a plug-in's test file
may star-import both.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from codecbench.core.codec import Spec, get_codec_class
from codecbench.core.errors import CodecbenchError
from codecbench.testing.cases import is_learned, selected_points
from codecbench.testing.quality import lossy_learned

#: the module attribute that names a test module's codecs (a list of specs), over ``--codecs``
MODULE_CODECS = "CONTRACT_CODECS"


def chosen_points(config: pytest.Config, module: ModuleType | None) -> list[str]:
    """The contract points of the module's ``CONTRACT_CODECS``, else of ``--codecs`` (the codecbench pytest
    plugin's option, which that plugin checks at session start), else of every registered codec. A bad spec
    fails the module's collection with one line."""
    codecs = getattr(module, MODULE_CODECS, None) or config.getoption("codecbench_codecs", None)
    try:
        return selected_points(codecs)
    except CodecbenchError as exc:
        problem = f"{MODULE_CODECS if getattr(module, MODULE_CODECS, None) else '--codecs'}: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the handler: no chained traceback


def _parameters(name: str, points: list[str]) -> list:
    """The values of the kit's parameter ``name`` for the chosen ``points``; a skipped one saying so if none."""
    if name == "contract_spec":
        values, kind = points, "codec"
    elif name == "learned_spec":
        values, kind = [p for p in points if is_learned(get_codec_class(Spec.parse(p).name))], "learned codec"
    else:
        values, kind = lossy_learned(list(dict.fromkeys(Spec.parse(p).name for p in points))), "lossy learned codec"
    return values or [pytest.param("", id="none", marks=pytest.mark.skip(f"no {kind} selected"))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``contract_spec``: every contract point of the chosen codecs; ``learned_spec``: those of learned codecs;
    ``floor_codec``: each chosen codec (by name) that has a quality floor."""
    for name in ("contract_spec", "learned_spec", "floor_codec"):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, _parameters(name, chosen_points(metafunc.config, metafunc.module)))
