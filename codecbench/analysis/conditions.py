"""Whether two results files were timed under the same conditions: the same machine, the same timed region.

The regression gate's speed ratios (NEW time / BASE time) mean something
about the code only when both files were timed on the same machine (``meta``
``machine``, ``cpu``, ``cores``) and in the same way (``timed_region``,
``threads``, ``jobs``, ``timing``). :func:`timing_warning` says in one line
what differs. A key is compared only when both files record it (a JSON
Lines file has no ``meta``); pytest-benchmark JSON records its machine in
``machine_info`` (:func:`pytest_benchmark_meta`).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

#: the ``meta`` keys that name the machine
MACHINE_KEYS = ("machine", "cpu", "cores")
#: the ``meta`` keys that say how codec calls were timed
TIMING_KEYS = ("timed_region", "threads", "jobs", "timing")
#: a value longer than this (a timed-region sentence) is said to differ, not quoted
_QUOTED = 40


def pytest_benchmark_meta(machine_info: Any) -> dict[str, Any]:
    """The machine keys of a pytest-benchmark file's ``machine_info`` (empty when it holds none)."""
    if not isinstance(machine_info, dict):
        return {}
    cpu = machine_info.get("cpu") if isinstance(machine_info.get("cpu"), dict) else {}
    found = {"machine": machine_info.get("machine"), "cpu": cpu.get("brand_raw"), "cores": cpu.get("count")}
    return {key: value for key, value in found.items() if value not in (None, "")}


def differences(base: Mapping[str, Any], new: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """``key BASE → NEW`` for each of ``keys`` that both metas hold with different values."""
    out = []
    for key in keys:
        if key in base and key in new and base[key] != new[key]:
            b, n = (json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)
                    for v in (base[key], new[key]))
            out.append(f"{key} {b} → {n}" if max(len(b), len(n)) <= _QUOTED else f"{key} differs")
    return out


def timing_warning(base: Mapping[str, Any], new: Mapping[str, Any], *, speed_gated: bool) -> str | None:
    """One line saying that BASE and NEW come from different machines or timed regions (None when neither),
    and what that means for the speed ratios: compared anyway when ``speed_gated`` (``--max-slowdown``),
    else left out of the verdict."""
    machine, timing = differences(base, new, MACHINE_KEYS), differences(base, new, TIMING_KEYS)
    if not machine and not timing:
        return None
    what = " and ".join(part for part in (
        f"different machines ({'; '.join(machine)})" if machine else "",
        f"different timed regions ({'; '.join(timing)})" if timing else "") if part)
    verdict = ("--max-slowdown gates on them all the same" if speed_gated
               else "latency is left out of the verdict (--max-slowdown would gate it)")
    return (f"BASE and NEW come from {what}: their encode/decode time ratios compare those as well as the code; "
            f"{verdict}")
