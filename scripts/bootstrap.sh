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
    .venv/bin/pip install --quiet "torch==${GANFORGE_TORCH_VERSION:-2.13.0}"
fi
.venv/bin/pip install --quiet -e ".[dev]"
.venv/bin/python -c "import ganforge, torch; print(f'ganforge {ganforge.__version__} ready (torch {torch.__version__})')"
