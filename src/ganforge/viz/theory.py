"""The 2014 paper's theory in one dimension, computed numerically on a grid of x.

Goodfellow et al. (2014), Proposition 1: for a fixed G the discriminator that maximises
    V(D, G) = ∫ p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx
is D*(x) = p_data(x) / (p_data(x) + p_g(x)). Theorem 1: the virtual training criterion C(G) = V(D*, G)
equals -log 4 + 2 JSD(p_data || p_g), so its minimum -log 4 is reached exactly when p_g = p_data
(where D* = 1/2 everywhere).

Everything here is a pure numpy function of densities sampled on an increasing grid ``x (M,)``;
integrals use the trapezoid rule, logarithms are natural (nats).
"""

from __future__ import annotations

import math

import numpy as np

LOG4 = math.log(4.0)
trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz


def gaussian_mixture_density(x: np.ndarray, means, stds, weights=None) -> np.ndarray:
    """Density of a 1-D Gaussian mixture at ``x (M,)``; ``means``, ``stds`` and ``weights`` are ``(K,)``
    (weights default to equal and are normalised to sum to 1). Returns ``(M,)`` float64, >= 0."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    means = np.atleast_1d(np.asarray(means, dtype=np.float64))[None, :]
    stds = np.broadcast_to(np.atleast_1d(np.asarray(stds, dtype=np.float64)), means.shape[1:])[None, :]
    w = np.ones(means.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    z = (x - means) / stds
    return (w * np.exp(-0.5 * z**2) / (stds * math.sqrt(2 * math.pi))).sum(1)


def gaussian_kde_density(samples: np.ndarray, x: np.ndarray, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density estimate of 1-D ``samples (N,)`` evaluated at ``x (M,)``.

    ``bandwidth`` is the kernel's standard deviation; by default Scott's rule ``std * N^(-1/5)``
    (what ``scipy.stats.gaussian_kde`` uses in 1-D). Returns ``(M,)`` float64.
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if bandwidth is None:
        bandwidth = max(float(samples.std(ddof=1)), 1e-6) * len(samples) ** (-1 / 5)
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(len(x))
    chunk = max(1, 4_000_000 // max(len(samples), 1))  # keep the (chunk, N) kernel matrix small
    for start in range(0, len(x), chunk):
        z = (x[start:start + chunk, None] - samples[None, :]) / bandwidth
        out[start:start + chunk] = np.exp(-0.5 * z**2).mean(1) / (bandwidth * math.sqrt(2 * math.pi))
    return out


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_g) (Proposition 1), elementwise, in [0, 1].

    Where both densities are 0 D* is not determined by V; we return 1/2 there."""
    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def _xlogy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * log(b) with the convention 0 * log(anything) = 0."""
    out = np.zeros_like(a, dtype=np.float64)
    mask = a > 0
    out[mask] = a[mask] * np.log(b[mask])
    return out


def value_function(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """V(D, G) = ∫ p_data log D + p_g log(1 - D) dx for a discriminator given by its values ``d (M,)``
    in (0, 1) on the grid ``x (M,)`` (trapezoid rule)."""
    d = np.asarray(d, dtype=np.float64)
    integrand = _xlogy(np.asarray(p_data, np.float64), d) + _xlogy(np.asarray(p_g, np.float64), 1.0 - d)
    return float(trapezoid(integrand, x))


def virtual_training_criterion(p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """C(G) = max_D V(D, G) = V(D*, G) (Theorem 1's criterion), in nats; -log 4 iff p_g = p_data.

    Computed as ∫ p_data log(p_data / (p_data + p_g)) + p_g log(p_g / (p_data + p_g)) dx, which is V(D*, G)
    written so that no 1 - D* is formed (it rounds to 0 where p_g << p_data)."""
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    total = p_data + p_g
    integrand = _xlogy(p_data, p_data) + _xlogy(p_g, p_g) - _xlogy(p_data, total) - _xlogy(p_g, total)
    return float(trapezoid(integrand, x))


def kl_divergence(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """KL(p || q) = ∫ p log(p / q) dx on the grid (nats); infinite where p > 0 = q."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if np.any((p > 0) & (q <= 0)):
        return math.inf
    return float(trapezoid(_xlogy(p, p) - _xlogy(p, q), x))


def jensen_shannon_divergence(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """JSD(p || q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2 (nats), in [0, log 2].

    Integrated as ∫ p log(2p / (p + q))/2 + q log(2q / (p + q))/2 dx, so no m is formed (half of a denormal
    density underflows to 0 and would make KL(p || m) look infinite)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    total = p + q
    integrand = 0.5 * (_xlogy(p, 2 * p) - _xlogy(p, total) + _xlogy(q, 2 * q) - _xlogy(q, total))
    return float(trapezoid(integrand, x))
