"""Writes piq_values.json: piq 0.8.0's VIF-p, FSIM(c) and IW-SSIM of the pairs of iqa_cases.py, for test_iqa.py.

Run where piq imports (it imports torchvision at package import, though these metrics never use it):
``python tests/reference_values/piq_values.py``; inputs are float64 tensors on the 0–255 scale.
"""

import json
import sys
from pathlib import Path

import piq
import torch

sys.path.insert(0, str(Path(__file__).parent))
from iqa_cases import CASES, pair  # noqa: E402


def tensor(image):
    return torch.from_numpy(image.astype("float64")).permute(2, 0, 1)[None]


rows = []
for case in CASES:
    for gray in (False, True):
        ref, dist = map(tensor, pair(case, gray))
        rows.append({
            "case": list(case), "gray": gray,
            "vif": float(piq.vif_p(dist, ref, data_range=255.0)),
            "fsim": float(piq.fsim(dist, ref, data_range=255.0, chromatic=False)),
            "fsimc": None if gray else float(piq.fsim(dist, ref, data_range=255.0, chromatic=True)),
            "iw_ssim": float(piq.information_weighted_ssim(dist, ref, data_range=255.0)) if min(case[:2]) > 160
            else None,
        })
(Path(__file__).parent / "piq_values.json").write_text(json.dumps(rows, indent=1))
