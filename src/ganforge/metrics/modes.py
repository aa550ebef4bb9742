"""Mode coverage: does the generator produce every mode of the data, and how many samples are good?

Toy mixtures (``ring8``, ``grid25``) follow the convention of the Unrolled-GAN (Metz et al. 2017) and
VEEGAN (Srivastava et al. 2017) tables and PacGAN's (Lin et al. 2018) released code: each sample is assigned to
its nearest mode (Euclidean); it is *high quality* when it lies within ``threshold`` (3) standard deviations of
that mode; a mode is *covered* when at least ``min_count`` (1) high-quality samples are assigned to it. PacGAN's
paper counts stricter, a mode with fewer than 20 of 2,500 samples as lost: ``min_count=20``
(``bench/remedies_modes.py``'s second count).

Image data with classes uses a classifier instead of distances: a class is covered when at least
``min_count`` samples are predicted to be in it, and the KL divergence ``KL(p_fake(y) || p_real(y))``
between the predicted-class histograms of generated and held-out real images measures imbalance (0 when
the generator uses the classes as the data does; ``log K`` when it makes one class only and the data's
classes are balanced).
"""

from __future__ import annotations

import numpy as np
import torch

from . import as_float_tensor


def mode_coverage(samples: np.ndarray | torch.Tensor, means: np.ndarray | torch.Tensor, std: float,
                  threshold: float = 3.0, min_count: int = 1) -> dict:
    """Modes covered by ``samples (N, D)`` of an isotropic mixture with ``means (K, D)`` and ``std``.

    Returns ``modes_covered`` (int: modes with >= ``min_count`` high-quality samples), ``high_quality_fraction``
    (share of samples within ``threshold * std`` of their nearest mode), ``num_modes`` (K) and ``mode_counts``
    (list of K ints: high-quality samples per mode).
    """
    x, mu = as_float_tensor(samples), as_float_tensor(means)
    counts = torch.zeros(len(mu), dtype=torch.int64)
    high_quality = 0
    for start in range(0, len(x), 65536):
        d = torch.cdist(x[start:start + 65536], mu)  # (b, K)
        d_min, nearest = d.min(1)
        good = d_min <= threshold * std
        high_quality += int(good.sum())
        counts += torch.bincount(nearest[good], minlength=len(mu))
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "high_quality_fraction": high_quality / max(len(x), 1),
        "num_modes": len(mu),
        "mode_counts": counts.tolist(),
    }


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-12) -> float:
    """``KL(p || q) = sum_i p_i log(p_i / q_i)`` of two histograms (normalised here), terms with p_i = 0 are 0."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    nz = p > 0
    return float((p[nz] * (np.log(p[nz]) - np.log(q[nz] + eps))).sum())


def class_coverage(fake_probs: np.ndarray | torch.Tensor, real_probs: np.ndarray | torch.Tensor,
                   min_count: int = 1) -> dict:
    """Classes covered by generated images, from a classifier's probabilities ``fake_probs (N, K)``, against
    the predicted-class histogram of held-out real images ``real_probs (M, K)`` (classifier errors then bias
    both histograms alike).

    Returns ``classes_covered`` (classes predicted for >= ``min_count`` fakes), ``num_classes`` (K),
    ``class_kl`` (``KL(p_fake || p_real)`` of the predicted-class histograms, nats) and ``class_counts``.
    """
    fake_probs, real_probs = as_float_tensor(fake_probs), as_float_tensor(real_probs)
    k = fake_probs.shape[1]
    fake_counts = torch.bincount(fake_probs.argmax(1), minlength=k).numpy()
    real_counts = torch.bincount(real_probs.argmax(1), minlength=k).numpy()
    return {
        "classes_covered": int((fake_counts >= min_count).sum()),
        "num_classes": k,
        "class_kl": kl_divergence(fake_counts, real_counts),
        "class_counts": fake_counts.tolist(),
    }
