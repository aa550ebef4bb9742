"""Gaussian Parzen window log-likelihood, the protocol of Goodfellow et al. (2014), Table 1.

A Parzen window fitted to N generated samples ``mu_j`` (pixels in [0, 1]) is the mixture
``p(x) = (1/N) sum_j N(x; mu_j, sigma^2 I)``, so for D-dimensional ``x``::

    log p(x) = logsumexp_j(-|x - mu_j|^2 / (2 sigma^2)) - log N - D log(sigma sqrt(2 pi))

The 2014 code (``parzen_ll.py`` in goodfeli/adversarial) picks sigma from 10 values log-spaced in
[0.1, 1] by the mean log-likelihood of the first 1,000 validation images, then reports the mean
log-likelihood of the test set with its standard error ``std / sqrt(M)``. Distances come from one matmul
per block (``|x|^2 + |mu|^2 - 2 x.mu``), and every sigma is scored from the same distance block.

Known weakness (Theis, van den Oord & Bethge 2016, "A note on the evaluation of generative models"): in 784
dimensions a Parzen window needs astronomically many samples to approach the true density, so the number
mostly reflects sample quality and spread near test points, can rank models opposite to their true
likelihood, and is beaten by simply using (k-means of) the training set itself. Read it as a comparison
with the 2014 table, not as a log-likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import as_float_tensor

#: The 2014 grid: numpy.logspace(-1, 0, num=10).
DEFAULT_SIGMAS = tuple(float(s) for s in np.logspace(-1.0, 0.0, 10))


def _squared_distances(x: torch.Tensor, mu: torch.Tensor, mu_sq: torch.Tensor) -> torch.Tensor:
    """``|x_i - mu_j|^2`` for ``x (b, D)``, ``mu (N, D)`` -> ``(b, N)``, clamped at 0 against round-off."""
    d2 = torch.addmm(mu_sq[None, :], x, mu.T, alpha=-2.0)
    d2 += (x * x).sum(1, keepdim=True)
    return d2.clamp_(min=0.0)


@torch.inference_mode()
def parzen_log_likelihoods(samples: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor,
                           sigmas: tuple[float, ...] | list[float], batch_size: int = 1000,
                           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``log p_sigma(x_i)`` for every sigma at once: ``(len(sigmas), M)`` float64, for ``x (M, ...)``
    under Parzen windows on ``samples (N, ...)`` (trailing axes flattened)."""
    mu, xs = as_float_tensor(samples, dtype), as_float_tensor(x, dtype)
    n, dim = mu.shape
    mu_sq = (mu * mu).sum(1)
    sig = torch.tensor(list(sigmas), dtype=torch.float64)
    log_norm = math.log(n) + dim * torch.log(sig * math.sqrt(2.0 * math.pi))  # (S,)
    out = torch.empty(len(sig), len(xs), dtype=torch.float64)
    for start in range(0, len(xs), batch_size):
        d2 = _squared_distances(xs[start:start + batch_size], mu, mu_sq)  # (b, N)
        for s, sigma in enumerate(sigmas):
            lse = torch.logsumexp(d2 * (-0.5 / sigma ** 2), dim=1)
            out[s, start:start + batch_size] = lse.double() - log_norm[s]
    return out


def parzen_log_likelihood(samples: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor, sigma: float,
                          batch_size: int = 1000, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``log p(x_i)`` ``(M,)`` float64 of ``x (M, ...)`` under a Gaussian Parzen window of width ``sigma`` on
    ``samples (N, ...)``; same space and units for both (images: float pixels in [0, 1])."""
    return parzen_log_likelihoods(samples, x, (sigma,), batch_size, dtype)[0]


@dataclass
class ParzenResult:
    """Mean test log-likelihood (nats) with its standard error, the sigma chosen and the validation curve."""

    mean: float
    std_error: float
    sigma: float
    num_samples: int
    num_test: int
    val_mean_by_sigma: dict[float, float] = field(default_factory=dict)


def select_parzen_sigma(samples: np.ndarray | torch.Tensor, val: np.ndarray | torch.Tensor,
                        sigmas: tuple[float, ...] = DEFAULT_SIGMAS, num_val: int = 1000,
                        batch_size: int = 1000, dtype: torch.dtype = torch.float64) -> tuple[float, dict[float, float]]:
    """The sigma of ``sigmas`` with the highest mean log-likelihood on the first ``num_val`` rows of ``val``,
    and that mean for every sigma."""
    ll = parzen_log_likelihoods(samples, val[:num_val], sigmas, batch_size, dtype).mean(1)
    curve = {float(s): float(v) for s, v in zip(sigmas, ll, strict=True)}
    return float(sigmas[int(ll.argmax())]), curve


def parzen_evaluate(samples: np.ndarray | torch.Tensor, val: np.ndarray | torch.Tensor,
                    test: np.ndarray | torch.Tensor, sigmas: tuple[float, ...] = DEFAULT_SIGMAS,
                    num_val: int = 1000, batch_size: int = 1000, log=None) -> ParzenResult:
    """The whole 2014 protocol: choose sigma on ``val[:num_val]``, report mean +- s.e. on all of ``test``.
    ``log(str)``, if given, hears of each of the two passes as it starts."""
    if log:
        log(f"parzen: choosing sigma among {len(sigmas)} on {min(num_val, len(val)):,} validation examples")
    sigma, curve = select_parzen_sigma(samples, val, sigmas, num_val, batch_size)
    if log:
        log(f"parzen: sigma {sigma:.3g}; log-likelihood of {len(test):,} test examples")
    ll = parzen_log_likelihood(samples, test, sigma, batch_size)
    return ParzenResult(float(ll.mean()), float(ll.std(unbiased=False) / math.sqrt(len(ll))), sigma,
                        len(samples), len(ll), curve)
