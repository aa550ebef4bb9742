"""Fréchet Inception Distance (Heusel et al. 2017) over any features.

FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). ``(S1 S2)^(1/2)`` is not symmetric, and the usual
``scipy.linalg.sqrtm`` of it can return complex noise or fail on singular covariances (fewer samples than
dimensions). We only need its trace: ``S1 S2`` is similar to the symmetric PSD matrix
``A = S1^(1/2) S2 S1^(1/2)``, so ``Tr (S1 S2)^(1/2) = sum_i sqrt(lambda_i(A))``, computed with two symmetric
eigendecompositions in float64 (negative round-off eigenvalues clipped to 0). This is exact where sqrtm is
defined, and stays real and finite where it is not.

Statistics stream: :class:`RunningStats` accumulates sums in float64 batch by batch, so 50,000 samples
never form one giant matrix.
"""

from __future__ import annotations

import numpy as np
import torch

from . import as_float_array


class RunningStats:
    """Streaming mean and covariance of features ``(n, D)`` added batch by batch (float64 sums)."""

    def __init__(self, dim: int):
        self.n = 0
        self.sum = np.zeros(dim, dtype=np.float64)
        self.outer = np.zeros((dim, dim), dtype=np.float64)
        # shift by the first batch's mean so the sums of squares do not lose precision far from the origin
        self.shift: np.ndarray | None = None

    def add(self, features: np.ndarray | torch.Tensor) -> None:
        f = as_float_array(features)
        if self.shift is None:
            self.shift = f.mean(0)
        f = f - self.shift
        self.n += len(f)
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu (D,), sigma (D, D))``: the sample mean and the unbiased (n - 1) covariance."""
        if self.n < 2:
            raise ValueError("RunningStats needs at least 2 samples for a covariance")
        m = self.sum / self.n
        cov = (self.outer - self.n * np.outer(m, m)) / (self.n - 1)
        return m + self.shift, (cov + cov.T) / 2


def feature_stats(features: np.ndarray | torch.Tensor, batch_size: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """``(mu (D,), sigma (D, D))`` of features ``(N, D)``, as ``np.mean`` and ``np.cov`` give them."""
    f = as_float_array(features)
    stats = RunningStats(f.shape[1])
    for start in range(0, len(f), batch_size):
        stats.add(f[start:start + batch_size])
    return stats.mean_cov()


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr (sigma1 sigma2)^(1/2)`` for PSD ``sigma1, sigma2 (D, D)``, via ``sigma1^(1/2) sigma2 sigma1^(1/2)``."""
    s1_half = _sqrt_psd(np.asarray(sigma1, dtype=np.float64))
    a = s1_half @ np.asarray(sigma2, dtype=np.float64) @ s1_half
    eig = np.linalg.eigvalsh((a + a.T) / 2)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def fid_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): ``mu (D,)``, ``sigma (D, D)``; >= 0."""
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)


def fid_from_features(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """FID between two feature sets ``(N1, D)`` and ``(N2, D)`` (any features: Inception pool3, a domain
    classifier's penultimate layer, or raw toy points)."""
    return fid_from_stats(*feature_stats(real), *feature_stats(fake))
