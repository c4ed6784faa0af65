#!/usr/bin/env bash
# Create the CompressAI peer venv used by bench/harness/test_compressai_compare.py and
# bench/harness/test_compressai_models.py (codecbench's model adapters beside CompressAI's own calls).
#
# compressai imports torchvision eagerly and needs numpy<2; the only torchvision
# wheels in the registry are CUDA builds, which fail beside the project's CPU
# torch. So CompressAI lives in a venv of its own (never the project's .venv),
# with the CUDA torch build that matches torchvision (it runs on CPU), and the
# benchmark calls it as a subprocess.
#
# Usage: bench/harness/peers/compressai_venv.sh [VENV_DIR]    (default: $CODECBENCH_COMPRESSAI_VENV or /work/compressai-venv)
# Then:  export CODECBENCH_COMPRESSAI_PYTHON=VENV_DIR/bin/python
#
# Pillow is pinned to the project's version, so both tools code JPEG with the
# same libjpeg-turbo (same bytes, same PSNR). codecbench itself is installed
# editable without its dependencies (they would pull numpy>=2), plus OpenCV
# (a numpy<2 build) for its metrics: enough to run its learned codecs and
# measure() there.
set -euo pipefail

here="$(cd "$(dirname "$0")/../../.." && pwd)"  # the repository root
venv="${1:-${CODECBENCH_COMPRESSAI_VENV:-/work/compressai-venv}}"
project_python="$here/.venv/bin/python"
base_python="${CODECBENCH_PEER_BASE_PYTHON:-$("$project_python" -c 'import sys; print(sys._base_executable)')}"
pillow="$("$project_python" -c 'import PIL; print(PIL.__version__)')"
msssim="$("$project_python" -c 'import importlib.metadata as m; print(m.version("pytorch-msssim"))')"

# torch 2.13 <-> torchvision 0.28 (torchvision's release pairing); compressai's last release.
# "===" (exact string match) picks the registry's CUDA torch 2.13.0 that torchvision 0.28.0 was
# built against; "==" would also match the local 2.13.0+cpu wheel, beside which torchvision's
# operators do not load ("operator torchvision::nms does not exist").
"$base_python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet \
    "torch===2.13.0" "torchvision==0.28.0" "compressai==1.2.8" \
    "pillow==$pillow" "pytorch-msssim==$msssim" "opencv-python-headless>=4.10" "numpy<2"
"$venv/bin/python" -m pip install --quiet --no-deps -e "$here"
"$venv/bin/python" -c 'import compressai, torch, torchvision, PIL; print("compressai", compressai.__version__, "torch", torch.__version__, "torchvision", torchvision.__version__, "pillow", PIL.__version__)'
echo "export CODECBENCH_COMPRESSAI_PYTHON=$venv/bin/python"
