"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased estimate of MMD^2 between feature sets
with the cubic polynomial kernel ``k(x, y) = (x . y / D + 1)^3``, averaged over random subsets.

Per subset of ``m`` real features X and ``m`` fake features Y (drawn without replacement)::

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

It is unbiased, so it can be slightly negative when the two sets come from one distribution.
"""

from __future__ import annotations

import numpy as np
import torch

from . import as_float_tensor


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef0: float = 1.0) -> torch.Tensor:
    """``(x_i . y_j / D + coef0)^degree`` for ``x (n, D)``, ``y (m, D)`` -> ``(n, m)``."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int = 3) -> float:
    """Unbiased MMD^2 between ``x (m, D)`` and ``y (m', D)`` with the polynomial kernel."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x, degree), polynomial_kernel(y, y, degree), polynomial_kernel(x, y, degree)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kid_subset_indices(n_real: int, n_fake: int, num_subsets: int, subset_size: int,
                       seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(real_idx, fake_idx)`` pairs of each subset: ``subset_size`` each, without replacement."""
    rng = np.random.default_rng(seed)
    return [(rng.choice(n_real, subset_size, replace=False), rng.choice(n_fake, subset_size, replace=False))
            for _ in range(num_subsets)]


def kid_from_features(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, num_subsets: int = 100,
                      subset_size: int = 1000, degree: int = 3, seed: int = 0) -> tuple[float, float]:
    """``(mean, std)`` of unbiased MMD^2 over ``num_subsets`` random subsets of real ``(N1, D)`` and fake
    ``(N2, D)`` features; ``subset_size`` is capped at the smaller set (at least 2 needed). When both sets are
    no larger than that, every subset is the whole of both: the estimate is computed once and its std is 0,
    which says nothing about its noise (use more than ``subset_size`` samples for a spread)."""
    x, y = as_float_tensor(real), as_float_tensor(fake)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("kid_from_features needs at least 2 real and 2 fake features")
    if m == len(x) == len(y):
        return mmd2_unbiased(x, y, degree), 0.0
    values = np.array([mmd2_unbiased(x[torch.from_numpy(i)], y[torch.from_numpy(j)], degree)
                       for i, j in kid_subset_indices(len(x), len(y), num_subsets, m, seed)])
    return float(values.mean()), float(values.std())
