"""ganforge: train, measure and look at generative adversarial networks.

The public names are imported lazily (PEP 562): ``import ganforge`` alone must not import torch, so that the
CLI can choose torch's threads and OpenMP wait policy before torch starts (``ganforge.threads``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["LoadedRun", "TrainConfig", "Trainer", "UserError", "load_run", "__version__"]

_LAZY = {"TrainConfig": ".config", "UserError": ".errors", "LoadedRun": ".run", "load_run": ".run",
         "Trainer": ".train"}

if TYPE_CHECKING:
    from .config import TrainConfig
    from .errors import UserError
    from .run import LoadedRun, load_run
    from .train import Trainer


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'ganforge' has no attribute {name!r}")
