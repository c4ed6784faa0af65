"""``check_codec``: the whole contract for one codec spec, as one call (no pytest session needed)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import pytest

from codecbench.core.codec import Spec, get_codec_class
from codecbench.core.errors import DatasetError
from codecbench.testing import contract, quality
from codecbench.testing.cases import contract_points

#: the checks of one coded point, in the order they run
POINT_CHECKS: dict[str, Callable[[contract.Coded], None]] = {
    "round trip": contract.check_round_trip,
    "bad streams": contract.check_bad_streams,
    "bad images": lambda coded: contract.check_bad_images(coded.codec),
    "forged header": contract.check_forged_header,
    "tile bomb": contract.check_tile_bomb,
    "identity": contract.check_identity,
    "spec round trip": contract.check_spec_round_trip,
}


def check_codec(spec: str, *, floor: bool = True) -> dict[str, str]:
    """Run the codec contract on ``spec`` (a codec name or spec string) at its contract points.

    Checks the class's declaration, then at each point (the default sweep's
    ends, :func:`~codecbench.testing.cases.contract_points`) every check of
    :data:`POINT_CHECKS` and a decode of the streams in a fresh process, and,
    with ``floor``, the quality floor of a lossy learned codec that has a model
    card (skipped where Kodak is not in the data folder).

    Returns ``{check: outcome}`` ("ok", or "skipped: why"). Raises
    :class:`~codecbench.testing.contract.ContractFailure` naming every check
    that failed; SpecError for an unknown codec or a bad setting.
    """
    name = Spec.parse(spec).name
    outcomes: dict[str, str] = {}
    failures: list[str] = []

    def run(label: str, check: Callable[[], object]) -> None:
        try:
            result = check()
        except pytest.skip.Exception as exc:
            outcomes[label] = f"skipped: {exc}"
        except Exception as exc:  # a ContractFailure, or the codec's own error: the check failed either way
            what = str(exc) if isinstance(exc, contract.ContractFailure) else f"{type(exc).__name__}: {exc}"
            failures.append(f"{label}: {what}")
            outcomes[label] = "failed"
        else:
            outcomes[label] = result if isinstance(result, str) else "ok"

    run("declaration", lambda: contract.check_declaration(get_codec_class(name)))
    coded: list[contract.Coded] = []
    for point in contract_points(spec):
        run(f"{point}: coding", lambda: coded.append(contract.code(point)))
        if coded and coded[-1].spec == point:
            for label, check in POINT_CHECKS.items():
                run(f"{point}: {label}", lambda: check(coded[-1]))
    with tempfile.TemporaryDirectory(prefix="codecbench-contract-") as folder:
        if coded:
            fresh: dict = {}
            run("fresh-process decode", lambda: fresh.update(contract.fresh_decodes(coded, Path(folder))))
            for entry in coded if fresh else ():
                run(f"{entry.spec}: fresh-process decode",
                    lambda: contract.check_fresh_decode(entry, fresh[entry.spec]))
    if floor and quality.has_floor(get_codec_class(name)):
        run("quality floor", lambda: _floor(spec))  # the spec: a codec may need its settings to build
    if failures:
        raise contract.ContractFailure(f"{spec}: {len(failures)} contract check(s) failed:\n" + "\n".join(failures))
    return outcomes


def _floor(spec: str) -> str:
    try:
        images = quality.floor_images()
    except DatasetError as exc:
        pytest.skip(f"Kodak is not available for the quality floor ({exc})")
    return quality.check_quality_floor(spec, images)
