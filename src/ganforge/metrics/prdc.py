"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020) from
k-nearest-neighbour manifolds in feature space.

Each real feature ``r_i`` gets a ball of radius ``rad_k(r_i)``: the distance to its k-th nearest *other*
real feature (likewise for fakes). Then, with M fakes and N reals:

- precision = share of fakes inside at least one real ball (fidelity);
- recall    = share of reals inside at least one fake ball (diversity);
- density   = sum over fakes of the number of real balls containing them, / (k M) (1 on average when fake = real);
- coverage  = share of reals whose ball contains at least one fake.

A point on a ball's boundary counts as inside for precision and recall (``<=``, as Kynkäänniemi et al.'s code)
and as outside for density and coverage (``<``, as Naeem et al.'s ``prdc`` package); the two differ only on
exact ties, e.g. fakes that copy real points (density of ``fake = real`` exactly: 1, not (k+1)/k).

Distances are Euclidean, computed exactly in float64, in row blocks so no N x M matrix is kept.
"""

from __future__ import annotations

import numpy as np
import torch

from . import as_float_tensor


def pairwise_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``(n, m)`` between ``x (n, D)`` and ``y (m, D)``:
    ``sqrt(|x|^2 + |y|^2 - 2 x.y)``, clamped at 0 against round-off."""
    d2 = (x * x).sum(1, keepdim=True) + (y * y).sum(1) - 2.0 * x @ y.T
    return d2.clamp_(min=0.0).sqrt_()


def knn_radii(x: torch.Tensor, k: int, block: int = 2048) -> torch.Tensor:
    """Distance from each row of ``x (n, D)`` to its k-th nearest other row -> ``(n,)``."""
    if len(x) <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {len(x)}")
    out = []
    for start in range(0, len(x), block):
        d = pairwise_distances(x[start:start + block], x)
        # the smallest distance is the point itself (0), so the k-th neighbour is the (k+1)-th smallest
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def _ball_counts(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, closed: bool = True,
                 block: int = 2048) -> torch.Tensor:
    """For each query, how many balls ``(centres, radii)`` contain it -> int64 ``(n_queries,)``; ``closed``:
    a query at exactly the radius counts."""
    out = []
    for start in range(0, len(queries), block):
        d = pairwise_distances(queries[start:start + block], centres)  # (b, n_centres)
        out.append((d <= radii[None, :] if closed else d < radii[None, :]).sum(1))
    return torch.cat(out)


def precision_recall(real_features: np.ndarray | torch.Tensor, fake_features: np.ndarray | torch.Tensor,
                     k: int = 3) -> tuple[float, float]:
    """``(precision, recall)`` in [0, 1] of fake ``(M, D)`` against real ``(N, D)`` features, k-NN balls."""
    real, fake = as_float_tensor(real_features), as_float_tensor(fake_features)
    precision = (_ball_counts(fake, real, knn_radii(real, k)) > 0).double().mean()
    recall = (_ball_counts(real, fake, knn_radii(fake, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real_features: np.ndarray | torch.Tensor, fake_features: np.ndarray | torch.Tensor,
                     k: int = 5) -> tuple[float, float]:
    """``(density, coverage)`` of fake ``(M, D)`` against real ``(N, D)`` features; density in [0, N/k],
    about 1 when the two sets come from one distribution; coverage in [0, 1]."""
    real, fake = as_float_tensor(real_features), as_float_tensor(fake_features)
    radii = knn_radii(real, k)
    density = _ball_counts(fake, real, radii, closed=False).double().sum() / (k * len(fake))
    covered = []
    for start in range(0, len(real), 2048):
        d_min = pairwise_distances(real[start:start + 2048], fake).min(1).values
        covered.append(d_min < radii[start:start + 2048])
    coverage = torch.cat(covered).double().mean()
    return float(density), float(coverage)
