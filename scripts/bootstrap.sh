#!/usr/bin/env bash
# Set up ganforge for development in ./.venv (idempotent): CPU PyTorch first, then the package with its
# dev extras. On a machine with a GPU, install the torch build you want before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # torch first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build on CPU machines
    # GANFORGE_TORCH_INDEX=https://download.pytorch.org/whl/cpu picks PyTorch's CPU wheels on machines
    # whose pip would otherwise fetch the CUDA build from PyPI.
    .venv/bin/pip install --quiet ${GANFORGE_TORCH_INDEX:+--index-url "$GANFORGE_TORCH_INDEX"} \
        "torch==${GANFORGE_TORCH_VERSION:-2.13.0}"
fi
.venv/bin/pip install --quiet -e ".[dev]"
.venv/bin/python -c "import ganforge, torch; print(f'ganforge {ganforge.__version__} ready (torch {torch.__version__})')"
