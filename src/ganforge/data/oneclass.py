"""The one-class protocol of anomaly detection as a dataset: train on the normal classes only, test on all.

:func:`one_class_dataset` turns a labelled dataset into another :class:`ArrayDataset` whose splits are

- ``train``: the normal classes' training examples, less a held-out part (``val_fraction``);
- ``val``: that held-out part (normal examples only: for early stopping or thresholds, never for training);
- ``test``: the source's whole test split, unchanged (normal and anomalous examples).

Labels stay the source's class labels; :func:`is_anomaly` turns them into the binary target (1 = not a normal
class). ``meta["one_class"]`` records the normal classes and, for each split, the indices of its examples in
the source split they came from (``train_index``, ``val_index`` into the source's train split), so tests can
check that no test example enters training. Toy mixtures carry no labels: a point's class is then the index of
its nearest mixture component (``meta["means"]``), which for ring8 and grid25 (components 2 apart, std 0.02 or
0.05) is the component it was drawn from.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .core import ArrayDataset


def nearest_component(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``int64 (N,)``: for points ``x (N, D)``, the index of the nearest of ``means (K, D)``."""
    d2 = ((x[:, None, :].astype(np.float64) - means[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1).astype(np.int64)


def class_labels(ds: ArrayDataset, split: str) -> np.ndarray:
    """A split's class labels: the dataset's own, or for a toy mixture its nearest components."""
    if split in ds.labels:
        return ds.labels[split]
    if ds.kind == "points" and "means" in ds.meta:
        return nearest_component(ds.split(split), np.asarray(ds.meta["means"]))
    raise UserError(f"dataset {ds.name}: has no class labels: expected a labelled dataset (fashion-mnist, mnist, "
                    "digits, cifar10) or a toy mixture (ring8, grid25) for the one-class protocol")


def number_of_classes(ds: ArrayDataset) -> int:
    if ds.num_classes is not None:
        return ds.num_classes
    if "means" in ds.meta:
        return len(ds.meta["means"])
    return int(class_labels(ds, "train").max()) + 1


def parse_classes(text: str, num_classes: int, what: str = "--normal-classes") -> tuple[int, ...]:
    """``"0"``, ``"0,3"``, ``"0-9"`` or ``"0-2,5"`` -> sorted distinct classes, each in ``[0, num_classes)``."""
    chosen: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        try:
            lo, sep, hi = part.partition("-")
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise UserError(f"{what} {text!r}: expected class numbers such as 0, 0,3 or 0-9") from None
        if first > last:
            raise UserError(f"{what} {text!r}: range {part} is empty: expected FIRST-LAST with FIRST <= LAST")
        for c in range(first, last + 1):
            if not 0 <= c < num_classes:
                raise UserError(f"{what} {text!r}: class {c} is not in the data: expected classes 0 to "
                                f"{num_classes - 1}")
            chosen.add(c)
    return tuple(sorted(chosen))


def is_anomaly(labels: np.ndarray, normal_classes: tuple[int, ...] | list[int]) -> np.ndarray:
    """``int64 (N,)``: 1 where the label is not one of the normal classes, else 0."""
    return (~np.isin(labels, np.asarray(list(normal_classes)))).astype(np.int64)


def one_class_dataset(ds: ArrayDataset, normal_classes: tuple[int, ...] | list[int], val_fraction: float = 0.1,
                      seed: int = 0) -> ArrayDataset:
    """The one-class view of ``ds`` (see the module docstring); ``val_fraction`` in [0, 1) of the normal training
    examples is held out as ``val``, chosen from ``seed``. Raises UserError for a class not in the data."""
    num_classes = number_of_classes(ds)
    normal = tuple(int(c) for c in normal_classes)
    for c in normal:
        if not 0 <= c < num_classes:
            raise UserError(f"--normal-classes: class {c} is not in {ds.name}: expected classes 0 to "
                            f"{num_classes - 1}")
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction {val_fraction}: expected a number in [0, 1)")
    y_train = class_labels(ds, "train")
    normal_index = np.flatnonzero(np.isin(y_train, normal))  # indices into the source's train split
    if len(normal_index) == 0:
        raise UserError(f"--normal-classes {','.join(map(str, normal))}: {ds.name}'s train split holds no example "
                        "of them")
    order = np.random.default_rng(seed).permutation(len(normal_index))
    n_val = int(round(val_fraction * len(normal_index)))
    val_index, train_index = np.sort(normal_index[order[:n_val]]), np.sort(normal_index[order[n_val:]])
    source_train = ds.split("train")
    arrays = {"train": source_train[train_index], "test": ds.split("test")}
    labels = {"train": y_train[train_index], "test": class_labels(ds, "test")}
    if n_val:
        arrays["val"], labels["val"] = source_train[val_index], y_train[val_index]
    meta = {**ds.meta, "one_class": {"normal_classes": list(normal), "train_index": train_index,
                                     "val_index": val_index, "source": ds.name}}
    names = ", ".join(str(c) for c in normal)
    return ArrayDataset(ds.name, ds.kind, arrays, labels, num_classes, ds.class_names,
                        f"{ds.source}; one-class: normal classes {names} ({len(train_index)} train, {n_val} val)",
                        meta)
