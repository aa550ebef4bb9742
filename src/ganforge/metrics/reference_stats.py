"""Reference statistics of real data, cached per (dataset content, split, count, preprocessing, extractor).

Extracting features of 10,000 real images is the slow part of an evaluation, and it is the same for every
model. We cache the features themselves (precision/recall and KID need them, not only the mean and
covariance) with their mean, covariance and class probabilities, as an ``.npz`` file (no pickle) under
``$GANFORGE_CACHE/reference/`` (default ``~/.cache/ganforge``). The key hashes the array *content*, the split,
the count, the image size and the extractor's key (which hashes its weights), so a changed dataset or
retrained classifier never serves stale numbers. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.core import cache_dir
from .fid import feature_stats


@dataclass
class ReferenceStats:
    """Features ``(N, D)`` float32, their ``mu (D,)``, ``sigma (D, D)`` (float64), probs ``(N, K)`` or None."""

    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    probs: np.ndarray | None


def reference_key(array: np.ndarray, dataset_name: str, split: str, n: int, extractor_key: str) -> str:
    """Hash of what determines the statistics: the exact first ``n`` examples, their shape, and the extractor."""
    h = hashlib.sha256()
    part = np.ascontiguousarray(array[:n])
    h.update(repr((dataset_name, split, n, part.shape, str(part.dtype), extractor_key)).encode())
    h.update(part.tobytes())
    return h.hexdigest()[:24]


def reference_path(key: str) -> Path:
    return cache_dir() / "reference" / f"{key}.npz"


def to_unit_range(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [0, 1]; float arrays (points, [0, 1] images) unchanged."""
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        array = np.array(array)  # IDX datasets are read-only buffers, which torch warns about sharing
    t = torch.as_tensor(array)
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


def reference_stats(array: np.ndarray, dataset_name: str, split: str, n: int, extractor,
                    use_cache: bool = True, batch: int = 5000) -> ReferenceStats:
    """Statistics of the first ``n`` examples of ``array`` (a dataset split: uint8 images or float points)
    under ``extractor`` (:class:`ganforge.features.extractors.FeatureExtractor`), from the cache when present."""
    n = min(n, len(array))
    path = reference_path(reference_key(array, dataset_name, split, n, extractor.key))
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                probs = f["probs"] if "probs" in f.files else None
                return ReferenceStats(f["features"], f["mu"], f["sigma"], probs)
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is recomputed and overwritten below
    feats, probs = [], []
    for start in range(0, n, batch):
        f, p = extractor.features_and_probs(to_unit_range(array[start:min(start + batch, n)]))
        feats.append(f.numpy())
        if p is not None:
            probs.append(p.numpy())
    features = np.concatenate(feats).astype(np.float32)
    prob_arr = np.concatenate(probs).astype(np.float32) if probs else None
    mu, sigma = feature_stats(features)
    stats = ReferenceStats(features, mu, sigma, prob_arr)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
            extra = {"probs": prob_arr} if prob_arr is not None else {}
            np.savez(tmp, features=features, mu=mu, sigma=sigma, **extra)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache is no reason to fail
    return stats
