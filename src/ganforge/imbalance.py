"""Augmentation for imbalanced classes: the experiment behind ``ganforge augment``.

Some classes of a labelled image dataset are made rare (``rare_count`` training images each, chosen with a
seed from the train split; the rest of those classes' training images are *held back* and never used), the
others optionally subsampled to ``majority_count`` each. A classifier (the domain CNN of
``ganforge.features.domain``, trained by :func:`ganforge.features.train.fit_classifier`) is then trained on
one of several *arms* and scored on the whole real test split:

- ``imbalanced``: the imbalanced set as it is;
- ``oversample``: random oversampling, each class's images drawn again with replacement until it has as
  many as the largest class;
- ``weighted``: the imbalanced set with a class-weighted cross-entropy, ``w_c = N / (K n_c)``;
- ``smote``: SMOTE (imbalanced-learn, on flattened pixels) up to the largest class;
- ``cgan x R``: the imbalanced set plus ``round(R * M)`` images per rare class drawn from a conditional GAN
  trained on the same imbalanced set, ``M`` the largest class's count: R is *synthetic rare-class images
  per real image of the largest class* (R = 1 brings each rare class to M synthetic images beside its real
  ones).

Every arm's real rows carry their index in the train split, so :func:`check_no_leakage` can prove that no
held-back image entered any arm, nor the cGAN's training set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import UserError


@dataclass
class ImbalancedSplit:
    """The training images of the experiment, as indices into the train split.

    ``indices (N,)`` sorted, the images used; ``held_back`` sorted, the rare classes' train images not chosen;
    ``counts (K,)`` images per class in ``indices``."""

    rare_classes: list[int]
    indices: np.ndarray
    held_back: np.ndarray
    counts: np.ndarray

    @property
    def largest(self) -> int:
        return int(self.counts.max())


@dataclass
class Arm:
    """One training set: uint8 images ``x (N, C, H, W)``, labels ``y (N,)``, ``source (N,)`` the train-split
    index of each real row (-1 for a synthetic one), an optional class weight ``(K,)`` for the loss."""

    name: str
    x: np.ndarray
    y: np.ndarray
    source: np.ndarray
    class_weight: np.ndarray | None = None

    def counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.y, minlength=num_classes)


def parse_classes(spec: str, num_classes: int, class_names: list[str] | None, data_name: str) -> list[int]:
    """``"0,2,4"`` -> ``[0, 2, 4]``, each a class index of the dataset (a UserError otherwise)."""
    items = [s.strip() for s in spec.split(",") if s.strip()]
    names = class_names or [str(c) for c in range(num_classes)]
    known = ", ".join(f"{c} ({n})" if n != str(c) else str(c) for c, n in enumerate(names))
    classes = []
    for item in items:
        if not item.lstrip("-").isdigit() or not 0 <= int(item) < num_classes:
            raise UserError(f"--rare-classes {spec}: class {item!r} is unknown: {data_name} has classes {known}")
        classes.append(int(item))
    if not classes or len(set(classes)) != len(classes):
        raise UserError(f"--rare-classes {spec}: expected distinct class indices, e.g. 0,2,4")
    if len(classes) == num_classes:
        raise UserError(f"--rare-classes {spec}: expected fewer than all {num_classes} classes (at least one "
                        "majority class)")
    return classes


def select_imbalanced(labels: np.ndarray, num_classes: int, rare_classes: list[int], rare_count: int,
                      majority_count: int | None, seed: int, class_names: list[str] | None = None
                      ) -> ImbalancedSplit:
    """Choose, with ``seed``, ``rare_count`` train images of each rare class and ``majority_count`` (None: all)
    of each other class. ``labels (N,)`` are the train split's. A count above a class's size is a UserError."""
    names = class_names or [str(c) for c in range(num_classes)]
    if rare_count < 1:
        raise UserError(f"--rare-count {rare_count}: expected an integer >= 1")
    if majority_count is not None and majority_count < 1:
        raise UserError(f"--majority-count {majority_count}: expected an integer >= 1")
    rng = np.random.default_rng(seed)
    chosen, held_back = [], []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        want = rare_count if c in rare_classes else (majority_count or len(members))
        flag = "--rare-count" if c in rare_classes else "--majority-count"
        if want > len(members):
            raise UserError(f"{flag} {want}: class {c} ({names[c]}) has only {len(members)} training images")
        pick = np.sort(rng.choice(members, want, replace=False))
        chosen.append(pick)
        if c in rare_classes:
            held_back.append(np.setdiff1d(members, pick))
    indices = np.sort(np.concatenate(chosen))
    counts = np.bincount(labels[indices], minlength=num_classes)
    smallest_majority = min(int(counts[c]) for c in range(num_classes) if c not in rare_classes)
    if rare_count >= smallest_majority:
        raise UserError(f"--rare-count {rare_count}: expected fewer images than each majority class has "
                        f"(the smallest has {smallest_majority}; lower --rare-count or raise --majority-count)")
    return ImbalancedSplit(list(rare_classes), indices, np.sort(np.concatenate(held_back)), counts)


def balanced_class_weights(counts: np.ndarray) -> np.ndarray:
    """``w_c = N / (K n_c)`` for ``counts (K,)`` (n_c images of class c, N in all): a class's weights sum to
    N / K, so every class weighs the same in the loss (scikit-learn's ``class_weight="balanced"``)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts.sum() / (len(counts) * counts)


def imbalanced_arm(x_train: np.ndarray, y_train: np.ndarray, split: ImbalancedSplit) -> Arm:
    return Arm("imbalanced", x_train[split.indices], y_train[split.indices], split.indices.copy())


def oversample_arm(x_train: np.ndarray, y_train: np.ndarray, split: ImbalancedSplit, seed: int) -> Arm:
    """Every class brought to the largest class's count by drawing its own images again, with replacement."""
    rng = np.random.default_rng(seed)
    extra = []
    for c, n_c in enumerate(split.counts):
        members = split.indices[y_train[split.indices] == c]
        if split.largest > n_c:
            extra.append(rng.choice(members, split.largest - int(n_c), replace=True))
    source = np.concatenate([split.indices, *extra])
    return Arm("oversample", x_train[source], y_train[source], source)


def weighted_arm(x_train: np.ndarray, y_train: np.ndarray, split: ImbalancedSplit) -> Arm:
    arm = imbalanced_arm(x_train, y_train, split)
    arm.name, arm.class_weight = "weighted", balanced_class_weights(split.counts)
    return arm


def smote_available() -> bool:
    try:
        from imblearn.over_sampling import SMOTE  # noqa: F401
    except ImportError:  # the optional extra [augment]; a broken install counts as absent
        return False
    return True


def smote_arm(x_train: np.ndarray, y_train: np.ndarray, split: ImbalancedSplit, seed: int) -> Arm:
    """SMOTE (Chawla et al. 2002) on flattened pixels: each smaller class brought to the largest class's count
    by points on segments between an image and one of its k = min(5, n_c - 1) nearest same-class neighbours;
    rounded back to uint8."""
    from imblearn.over_sampling import SMOTE

    base = imbalanced_arm(x_train, y_train, split)
    k = int(min(5, split.counts.min() - 1))
    if k < 1:
        raise UserError(f"--rare-count {int(split.counts.min())}: SMOTE needs at least 2 images per class")
    flat = base.x.reshape(len(base.x), -1).astype(np.float32)
    x_res, y_res = SMOTE(k_neighbors=k, random_state=seed).fit_resample(flat, base.y)
    n_new = len(x_res) - len(base.x)
    # imbalanced-learn keeps the originals first, in order, and appends the synthetic rows
    if not np.array_equal(x_res[:len(base.x)], flat):
        raise RuntimeError("SMOTE reordered the original rows: their train indices can no longer be tracked")
    x_new = np.clip(np.rint(x_res[len(base.x):]), 0, 255).astype(np.uint8).reshape(n_new, *base.x.shape[1:])
    return Arm("smote", np.concatenate([base.x, x_new]), np.asarray(y_res, dtype=np.int64),
               np.concatenate([base.source, np.full(n_new, -1)]))


def synthetic_per_class(ratio: float, split: ImbalancedSplit) -> int:
    """Synthetic images per rare class for a synthetic-to-real ratio: ``round(ratio * M)``, M the largest
    class's count."""
    return int(round(ratio * split.largest))


def cgan_arm(x_train: np.ndarray, y_train: np.ndarray, split: ImbalancedSplit, ratio: float, sample_class,
             seed: int) -> Arm:
    """The imbalanced set plus :func:`synthetic_per_class` images per rare class from ``sample_class(c, n,
    seed) -> uint8 (n, C, H, W)``."""
    base = imbalanced_arm(x_train, y_train, split)
    n = synthetic_per_class(ratio, split)
    xs, ys = [base.x], [base.y]
    for j, c in enumerate(split.rare_classes):
        if n:
            xs.append(sample_class(c, n, seed * 1000 + j))
            ys.append(np.full(n, c, dtype=np.int64))
    n_syn = n * len(split.rare_classes)
    return Arm(f"cgan x{ratio:g}", np.concatenate(xs), np.concatenate(ys),
               np.concatenate([base.source, np.full(n_syn, -1)]))


def check_no_leakage(source: np.ndarray, split: ImbalancedSplit) -> None:
    """Every real row's train index is one of the chosen ones, and none is held back (RuntimeError if not:
    a bug, never a user's mistake)."""
    real = np.unique(source[source >= 0])
    if not np.isin(real, split.indices).all() or np.isin(real, split.held_back).any():
        raise RuntimeError("held-back or unchosen training images entered a training set")


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, rare_classes: list[int]
                          ) -> dict[str, float]:
    """``balanced_accuracy`` (the mean of per-class recalls), ``macro_f1`` (the unweighted mean of per-class
    F1), ``rare_recall`` (the mean recall of the rare classes) and ``accuracy``, all in [0, 1]."""
    from sklearn.metrics import f1_score, recall_score

    labels = list(range(num_classes))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {"balanced_accuracy": float(recall.mean()),
            "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "rare_recall": float(recall[rare_classes].mean()),
            "accuracy": float((np.asarray(y_true) == np.asarray(y_pred)).mean())}


def classifier_steps(epochs: float, n_imbalanced: int, batch_size: int) -> int:
    """Updates every arm gets: ``epochs`` passes over the *imbalanced* set (so larger arms are not given more
    compute)."""
    return max(1, int(math.ceil(epochs * n_imbalanced / batch_size)))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for one value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
