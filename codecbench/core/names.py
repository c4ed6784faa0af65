"""File-name parts made from names that come from results: one rule, with the characters a format keeps."""

from __future__ import annotations

import re


def file_part(text: str, keep: str = "._-", fallback: str = "x") -> str:
    """``text`` with every run of characters other than ASCII letters, digits and ``keep`` replaced by ``_``,
    stripped of ``_`` at both ends; ``fallback`` when nothing is left."""
    return re.sub(rf"[^A-Za-z0-9{re.escape(keep)}]+", "_", text).strip("_") or fallback
