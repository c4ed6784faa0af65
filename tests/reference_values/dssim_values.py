"""Writes dssim_values.json: dssim-core 3.4.0's DSSIM of the pairs of iqa_cases.py, for test_iqa.py.

dssim-core is the library of Kornel Lesiński's ``dssim`` tool; ``dssim_core_cli/`` wraps it in a command that
reads two binary PPMs and prints the value (``Dssim::create_image_rgb`` and ``compare``, what the tool runs
for an 8-bit sRGB PNG without a colour profile). Gray images are written as RGB with three equal channels, as
the tool reads a gray PNG. Build it (``cargo build --release`` in dssim_core_cli/), then
``python tests/reference_values/dssim_values.py dssim_core_cli/target/release/dssim-core-cli [KODAK_DIR]``.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from iqa_cases import CASES, KODAK_KINDS, kodak_pair, pair  # noqa: E402

COMMAND = sys.argv[1]


def dssim(original, decoded) -> float:
    with tempfile.TemporaryDirectory() as folder:
        paths = [f"{folder}/{name}.ppm" for name in ("original", "decoded")]
        for path, image in zip(paths, (original, decoded)):
            Image.fromarray(np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image).save(path)
        return float(subprocess.run([COMMAND, *paths], capture_output=True, text=True, check=True).stdout)


rows = [{"case": list(case), "gray": gray, "dssim": dssim(*pair(case, gray))}
        for case in CASES for gray in (False, True)]
if len(sys.argv) > 2:
    rows += [{"kodak": "kodim01", "kind": kind, "dssim": dssim(*kodak_pair(Path(sys.argv[2]), kind))}
             for kind in KODAK_KINDS]
(Path(__file__).parent / "dssim_values.json").write_text(json.dumps(rows, indent=1))
