"""Metrics: pure functions over samples or feature arrays, plus the registry ``ganforge eval`` runs.

Each metric module takes numpy arrays or torch tensors and returns plain numbers (or a tensor of per-example
values); none of them loads data, models or feature networks. :mod:`ganforge.metrics.evaluate` is the driver
that does that once and feeds every metric.
"""

from __future__ import annotations

import numpy as np
import torch


def as_float_tensor(x: np.ndarray | torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Samples or features ``(N, ...)`` -> a CPU tensor ``(N, D)`` of ``dtype`` (trailing axes flattened)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu().to(dtype)
    return t.reshape(len(t), -1)


def as_float_array(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Samples or features ``(N, ...)`` -> a float64 numpy array ``(N, D)``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)
