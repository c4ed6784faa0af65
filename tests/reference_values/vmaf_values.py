"""Writes vmaf_values.json: the VMAF that Netflix's ``vmaf`` tool gives the pairs of iqa_cases.py, for test_vmaf.py.

Run where the tool is on the PATH: ``python tests/reference_values/vmaf_values.py``. The planes are those of
``codecbench.core.iqa.external.vmaf_yuv`` (checked on their own in test_vmaf.py); the tool is run here with its
own command line and its XML log (default model), not through codecbench's wrapper, so that the wrapper, and any
other program computing VMAF from the same planes (FFmpeg's libvmaf filter), can be checked against the values.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from codecbench.core.iqa.external import vmaf_yuv  # noqa: E402
from tests.reference_values.iqa_cases import CASES, pair  # noqa: E402

VALUES_FILE = Path(__file__).parent / "vmaf_values.json"


def by_the_tool(original: np.ndarray, decoded: np.ndarray) -> float:
    """The ``vmaf`` tool's pooled VMAF of the pair, read from its XML log."""
    h, w = original.shape[:2]
    with tempfile.TemporaryDirectory() as folder:
        ref, dist, log = (Path(folder) / name for name in ("ref.yuv", "dist.yuv", "log.xml"))
        vmaf_yuv(original).tofile(ref)
        vmaf_yuv(decoded).tofile(dist)
        subprocess.run(["vmaf", "--reference", str(ref), "--distorted", str(dist), "--width", str(w),
                        "--height", str(h), "--pixel_format", "444", "--bitdepth", "10", "--output", str(log)],
                       check=True, capture_output=True)
        pooled = ET.parse(log).getroot().find("pooled_metrics")
        return float(next(m for m in pooled if m.get("name") == "vmaf").get("mean"))


def main() -> None:
    shown = subprocess.run(["vmaf", "--version"], capture_output=True, text=True, check=True)
    version = (shown.stdout + shown.stderr).strip()  # 3.x prints it on stderr
    rows = []
    for case in CASES:
        for gray in (False, True):
            rows.append({"case": list(case), "gray": gray, "identical": False, "vmaf": by_the_tool(*pair(case, gray))})
    for case in CASES[:1] + CASES[4:5]:
        original = pair(case)[0]
        rows.append({"case": list(case), "gray": False, "identical": True, "vmaf": by_the_tool(original, original)})
    VALUES_FILE.write_text(json.dumps({"libvmaf": version, "model": "vmaf_v0.6.1", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
