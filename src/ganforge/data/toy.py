"""Toy distributions whose densities are known in closed form.

- ``gauss1d``: N(4, 0.5^2) in 1-D (the 2014 paper's figure-1 setting).
- ``ring8``: 8 Gaussians (std 0.02) evenly spaced on a circle of radius 2 (Metz et al., Unrolled GANs).
- ``grid25``: 25 Gaussians (std 0.05) on the 5x5 grid {-4,-2,0,2,4}^2 (Srivastava et al., VEEGAN).

Each split is a fixed sample (train 50,000, val 10,000, test 10,000) drawn with a split-specific seed.
``meta`` holds ``means (K, D)`` and ``std``, which the mode-coverage metrics use; ``ring8`` and ``grid25`` are
labelled by the mode each point was drawn from (classes 0..K-1, for ``cgan``).
"""

from __future__ import annotations

import zlib

import numpy as np

from .core import DATASETS, ArrayDataset, DatasetSource

SPLIT_SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}


def mixture_means(name: str) -> tuple[np.ndarray, float]:
    """``(means (K, D), std)`` of the named isotropic Gaussian mixture (equal weights)."""
    if name == "gauss1d":
        return np.array([[4.0]]), 0.5
    if name == "ring8":
        angles = 2 * np.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1), 0.02
    if name == "grid25":
        g = np.arange(-4.0, 5.0, 2.0)
        return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2), 0.05
    raise KeyError(name)


def sample_mixture_with_modes(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``float32 (n, D)`` from the named mixture and the mode each was drawn from, ``int64 (n,)``."""
    means, std = mixture_means(name)
    k = rng.integers(len(means), size=n)
    return (means[k] + std * rng.standard_normal((n, means.shape[1]))).astype(np.float32), k.astype(np.int64)


def sample_mixture(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points ``float32 (n, D)`` from the named mixture."""
    return sample_mixture_with_modes(name, n, rng)[0]


def _loader(name: str):
    def load(data_dir: str | None = None, download: bool = False) -> ArrayDataset:
        drawn = {s: sample_mixture_with_modes(name, n, np.random.default_rng([i, zlib.crc32(name.encode())]))
                 for i, (s, n) in enumerate(SPLIT_SIZES.items())}
        means, std = mixture_means(name)
        # a mixture of several modes is labelled by them (cgan learns G(z | mode)); one Gaussian has no classes
        labelled = len(means) > 1
        return ArrayDataset(name, "points", {s: x for s, (x, _) in drawn.items()},
                            {s: k for s, (_, k) in drawn.items()} if labelled else {},
                            len(means) if labelled else None,
                            [f"mode {i}" for i in range(len(means))] if labelled else None,
                            source="generated (closed-form mixture)", meta={"means": means, "std": std})

    return load


for _name, _desc in (("gauss1d", "1-D Gaussian N(4, 0.5^2)"),
                     ("ring8", "8 Gaussians on a circle (radius 2, std 0.02)"),
                     ("grid25", "5x5 grid of Gaussians (spacing 2, std 0.05)")):
    DATASETS.register(_name)(DatasetSource(_name, _desc, lambda data_dir: "generated", _loader(_name)))
