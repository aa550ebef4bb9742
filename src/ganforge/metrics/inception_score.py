"""Inception-style score (Salimans et al. 2016) from any classifier's class probabilities:
``IS = exp(E_x KL(p(y|x) || p(y)))``, computed on ``splits`` equal parts, reported as mean and std.

High when each sample is classified confidently (low-entropy ``p(y|x)``) and the classes are used evenly
(high-entropy ``p(y)``). Its maximum is the number of classes. With the domain classifier instead of
Inception the numbers are not comparable with papers' Inception Scores, only with each other.
"""

from __future__ import annotations

import numpy as np
import torch

from . import as_float_array


def inception_score_from_probs(probs: np.ndarray | torch.Tensor, splits: int = 10,
                               eps: float = 1e-12) -> tuple[float, float]:
    """``(mean, std)`` of the score over ``splits`` consecutive parts of ``probs (N, K)`` (rows sum to 1); part
    i is rows ``i N // splits`` to ``(i + 1) N // splits``, as in Salimans et al.'s code (``np.array_split``
    puts the remainder elsewhere: the same for N divisible by ``splits``, up to ~10% apart for N = 25)."""
    p = as_float_array(probs)
    scores = []
    for i in range(splits):
        part = p[i * len(p) // splits:(i + 1) * len(p) // splits]
        p_y = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(p_y + eps))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
