"""scikit-learn's bundled 8x8 handwritten digits (1,797 images): the default that needs no download.

Pixel values 0..16 are scaled to 0..255. A fixed permutation splits 1,297 train / 250 val / 250 test.
"""

from __future__ import annotations

import numpy as np

from .core import DATASETS, ArrayDataset, DatasetSource, split_fixed


def load(data_dir: str | None = None, download: bool = False) -> ArrayDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    train, val, test = split_fixed(len(x), (250, 250))
    return ArrayDataset(
        "digits", "image", {"train": x[train], "val": x[val], "test": x[test]},
        {"train": y[train], "val": y[val], "test": y[test]}, 10, [str(i) for i in range(10)],
        "scikit-learn's bundled copy (sklearn.datasets.load_digits)")


DATASETS.register("digits")(DatasetSource(
    "digits", "scikit-learn's 8x8 handwritten digits, 1297/250/250 (bundled, always available)",
    lambda data_dir: "bundled with scikit-learn", load))
