"""The text formatting of numbers in reports: one rule for a missing value (``—``) everywhere."""

from __future__ import annotations

from typing import Any

#: what a report shows for a value that is missing (not measured, not defined for the image)
MISSING = "—"


def formatted(value: float | None, spec: str, none: str = MISSING) -> str:
    """``value`` formatted with the format ``spec`` (``".2f"``, ``"+.1%"``); ``none`` when it is None."""
    return none if value is None else format(value, spec)


def bd_value(bd: Any, unit: str = "%", digits: int = 2) -> str:
    """A BD-rate (``unit`` "%") or BD-PSNR ("dB") result: ``+1.23%``, ``-0.40 dB``, or ``n/a (its reason)``."""
    if bd.value is None:
        return f"n/a ({bd.reason})"
    sign = "+" if bd.value > 0 else ""
    return f"{sign}{bd.value:.{digits}f}{'' if unit == '%' else ' '}{unit}"


def number(value: float | None, digits: int, scale: float = 1.0) -> str:
    """``value`` × ``scale`` with ``digits`` decimals (``number(0.5, 1, 100)`` is ``"50.0"``); ``—`` for None."""
    return MISSING if value is None else f"{value * scale:.{digits}f}"
