"""Writes pyiqa_values.json: pyiqa 0.1.16's NLPD (``pyiqa/archs/nlpd_arch.py``) of the pairs of iqa_cases.py, for
test_iqa.py.

pyiqa's package import pulls in every architecture and torchvision (whose wheels here are CUDA builds), so this
loads only the modules NLPD runs: ``archs/nlpd_arch.py``, ``utils/color_util.py`` (``to_y_channel``) and
``matlab_utils/padding.py`` (``ExactPadding2d``), from the installed package's files, under stub parent
packages. The one torchvision call, ``rotate(filter, 180)``, is stood in for by ``torch.flip`` of both axes
(what a 180° rotation of a 3×3 filter is). Inputs: float64 tensors on 0–1 (the module cast to float64),
gray images repeated to three channels (their luma is the gray value). Run in a venv with torch (CPU) and
``pip install --no-deps pyiqa==0.1.16``: ``python tests/reference_values/pyiqa_values.py [KODAK_DIR]``.
"""

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from iqa_cases import CASES, KODAK_KINDS, kodak_pair, pair  # noqa: E402

PYIQA = Path(importlib.util.find_spec("pyiqa").origin).parent


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__path__ = []
    sys.modules[name] = module
    return module


def _load(name: str, relative: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, PYIQA / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Registry:
    def register(self):
        return lambda cls: cls


for package in ("pyiqa", "pyiqa.archs", "pyiqa.utils", "torchvision", "torchvision.transforms"):
    _module(package)
_module("torchvision.transforms.functional", rotate=lambda x, angle: torch.flip(x, dims=(-2, -1)))
_module("pyiqa.utils.registry", ARCH_REGISTRY=_Registry())
_module("pyiqa.archs.ssim_arch", to_y_channel=_load("pyiqa.utils.color_util", "utils/color_util.py").to_y_channel)
_module("pyiqa.matlab_utils", ExactPadding2d=_load("pyiqa.matlab_utils.padding", "matlab_utils/padding.py")
        .ExactPadding2d)
NLPD = _load("pyiqa.archs.nlpd_arch", "archs/nlpd_arch.py").NLPD().double()


def tensor(image):
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return torch.from_numpy(rgb.astype("float64") / 255.0).permute(2, 0, 1)[None]


def nlpd(original, decoded) -> float:
    with torch.no_grad():
        return float(NLPD(tensor(decoded), tensor(original)))


rows = [{"case": list(case), "gray": gray, "nlpd": nlpd(*pair(case, gray))} for case in CASES for gray in (False, True)]
if len(sys.argv) > 1:
    rows += [{"kodak": "kodim01", "kind": kind, "nlpd": nlpd(*kodak_pair(Path(sys.argv[1]), kind))}
             for kind in KODAK_KINDS]
(Path(__file__).parent / "pyiqa_values.json").write_text(json.dumps(rows, indent=1))
