"""Memorisation check: are generated samples closer to the training set than new real data is?

For every generated sample we find its nearest training example (Euclidean distance in the data's space,
pixels in [0, 1]); we do the same for held-out real examples, which the model never saw. A generator that
copies training images puts many samples much closer to the training set than held-out data ever gets:
``nn_distance_ratio`` (median fake distance / median held-out distance) falls well below 1 and
``share_closer_than_heldout_p1`` (share of fakes nearer than the 1st percentile of held-out distances)
rises well above 0.01. A ratio above 1 means samples are farther from the data than real images are
(poor quality or novel), not memorised. Look at :func:`nearest_neighbour_grid` before concluding.
"""

from __future__ import annotations

import numpy as np
import torch

from . import as_float_tensor
from .prdc import pairwise_distances


def nearest_neighbours(queries: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor,
                       block: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distance (M,), index (M,))`` of the nearest row of ``reference (N, ...)`` to each of ``queries (M, ...)``
    (trailing axes flattened). Matmul distances ``|q|^2 + |r|^2 - 2 q.r`` in float32 for images (distances of
    pixels in [0, 1] are large next to the round-off), float64 for low-dimensional points, whose near neighbours
    (e.g. 1e-3 apart on a ring of radius 2) would cancel to 0 in float32."""
    dim = int(np.prod(np.shape(queries)[1:]))
    dtype = torch.float32 if dim >= 100 else torch.float64
    q, r = as_float_tensor(queries, dtype), as_float_tensor(reference, dtype)
    dists, idx = [], []
    for start in range(0, len(q), block):
        d_min, i_min = pairwise_distances(q[start:start + block], r).min(1)
        dists.append(d_min)
        idx.append(i_min)
    return torch.cat(dists).double(), torch.cat(idx)


def memorisation_report(fake: np.ndarray | torch.Tensor, train: np.ndarray | torch.Tensor,
                        heldout: np.ndarray | torch.Tensor) -> dict:
    """Nearest-training-example distances of ``fake (M, ...)`` and ``heldout (M', ...)`` real examples.

    Returns ``fake_nn_median``, ``heldout_nn_median``, ``nn_distance_ratio`` (their quotient) and
    ``share_closer_than_heldout_p1`` (share of fakes nearer the training set than 99% of held-out data).
    """
    d_fake, _ = nearest_neighbours(fake, train)
    d_held, _ = nearest_neighbours(heldout, train)
    p1 = torch.quantile(d_held, 0.01)
    fake_median, held_median = float(d_fake.median()), float(d_held.median())
    return {
        "fake_nn_median": fake_median,
        "heldout_nn_median": held_median,
        "nn_distance_ratio": fake_median / held_median if held_median > 0 else float("inf"),
        "share_closer_than_heldout_p1": float((d_fake < p1).double().mean()),
    }


def nearest_neighbour_grid(fake: torch.Tensor, train: np.ndarray | torch.Tensor, num_neighbours: int = 3,
                           num_rows: int = 8) -> np.ndarray:
    """A uint8 grid image: each row is one generated image ``fake (N, C, H, W)`` in [0, 1], then its
    ``num_neighbours`` nearest training images (``train`` uint8 in [0, 255] or float in [0, 1]), nearest first.
    Rows are the generated images closest to the training set (the likeliest copies)."""
    from ..images import make_grid

    train_t = torch.as_tensor(train)
    train_f = train_t.float() / 255.0 if train_t.dtype == torch.uint8 else train_t.float()
    fake = torch.as_tensor(fake).float()
    d_first, _ = nearest_neighbours(fake, train_f)
    rows = d_first.argsort()[:num_rows]
    tiles = []
    for i in rows.tolist():
        d = pairwise_distances(fake[i:i + 1].reshape(1, -1), train_f.reshape(len(train_f), -1))[0]
        nn_idx = d.topk(num_neighbours, largest=False).indices
        tiles += [fake[i]] + [train_f[j] for j in nn_idx.tolist()]
    return make_grid(torch.stack(tiles), nrow=1 + num_neighbours)
