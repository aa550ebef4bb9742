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

Tables (``csv:PATH``, ``fair``, ...): a discrete column, ``label_column`` (default: the table's target), names
the classes: class i is its i-th category (the transformer's sorted categories), and the view's
``class_names`` are those values. The label column is never a model input: the view's arrays are the other
columns re-encoded for anomaly detection (:func:`fit_table_features`): numeric columns standardised, discrete
ones one-hot, every statistic (means, standard deviations, medians, categories) taken from the normal
training rows alone. The view keeps ``kind == "table"``; its rows are ``float32 (N, D)`` continuous vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserError
from .core import ArrayDataset


def nearest_component(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``int64 (N,)``: for points ``x (N, D)``, the index of the nearest of ``means (K, D)``."""
    d2 = ((x[:, None, :].astype(np.float64) - means[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1).astype(np.int64)


def label_column_of(ds: ArrayDataset, label_column: str | None) -> dict[str, Any]:
    """The transformer's entry (``name``, ``kind``, ``categories``, ...) of a table's label column, by default
    the table's target; UserError when it is missing, continuous, or the dataset is not a table."""
    if ds.kind != "table":
        if label_column is not None:
            raise UserError(f"--label-column {label_column}: dataset {ds.name} is {ds.kind} data, not a table: "
                            "expected --label-column with a table (csv:PATH, fair, randhie) only")
        raise UserError(f"dataset {ds.name}: is not a table")
    columns = ds.meta["table"]["columns"]
    name = label_column if label_column is not None else ds.meta["table"]["target"]
    col = next((c for c in columns if c["name"] == name), None)
    if col is None:
        raise UserError(f"--label-column {name}: no such column in {ds.name}: expected one of "
                        f"{', '.join(c['name'] for c in columns)}")
    if "categories" not in col:
        raise UserError(f"--label-column {name}: column is {col['kind']} in {ds.name}: expected a discrete column "
                        "(text values, 0/1, or integers with at most 10 distinct values; or name it in "
                        "--discrete-columns), whose values are the classes")
    return col


def class_labels(ds: ArrayDataset, split: str, label_column: str | None = None) -> np.ndarray:
    """A split's class labels: the dataset's own, for a toy mixture its nearest components, for a table the
    index of each row's value of ``label_column`` among the column's categories."""
    if ds.kind == "table":
        col = label_column_of(ds, label_column)
        index = {c: i for i, c in enumerate(col["categories"])}
        return np.array([index[v] for v in ds.meta["frames"][split][col["name"]].tolist()], dtype=np.int64)
    if label_column is not None:
        label_column_of(ds, label_column)  # raises: not a table
    if split in ds.labels:
        return ds.labels[split]
    if ds.kind == "points" and "means" in ds.meta:
        return nearest_component(ds.split(split), np.asarray(ds.meta["means"]))
    raise UserError(f"dataset {ds.name}: has no class labels: expected a labelled dataset (fashion-mnist, mnist, "
                    "digits, cifar10) or a toy mixture (ring8, grid25) for the one-class protocol")


def number_of_classes(ds: ArrayDataset, label_column: str | None = None) -> int:
    if ds.kind == "table" or label_column is not None:
        return len(label_column_of(ds, label_column)["categories"])
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


def parse_normal_classes(ds: ArrayDataset, text: str | None, label_column: str | None = None,
                         what: str = "--normal-classes") -> tuple[int, ...]:
    """The classes ``text`` names: class numbers (:func:`parse_classes`) for images and points; for a table,
    comma-separated values of its label column (``5`` or ``4,5``), returned as class indices. ``None``: class 0
    (a table: the column's first value)."""
    if ds.kind != "table":
        return parse_classes("0" if text is None else text, number_of_classes(ds, label_column), what)
    col = label_column_of(ds, label_column)
    if text is None:
        return (0,)
    index = {c: i for i, c in enumerate(col["categories"])}
    chosen = set()
    for value in str(text).split(","):
        value = value.strip()
        if value not in index:
            raise UserError(f"{what} {text!r}: {value!r} is not a value of column {col['name']} in {ds.name}: "
                            f"expected some of {', '.join(map(repr, col['categories']))}")
        chosen.add(index[value])
    return tuple(sorted(chosen))


def fit_table_features(columns: list[dict[str, Any]], frame: dict[str, np.ndarray], exclude: str) -> dict[str, Any]:
    """How the one-class view encodes a table's rows, as a plain dict, fitted on ``frame`` (the normal training
    rows, decoded: ``ganforge.data.table.Frame``) for every column but ``exclude`` (the label column):

    - a numeric column (continuous, integer, datetime): ``(x - mean) / std`` over the fitted rows (std 1 when
      constant), a missing value replaced by their median; plus a 0/1 missing indicator when the column has
      missing values anywhere in the file;
    - a discrete column: one-hot over the categories the fitted rows hold (a category they lack encodes as a
      block of zeros).

    Returns ``{"features": [...], "names": [...], "dim": D}``."""
    features, names = [], []
    for col in columns:
        name = col["name"]
        if name == exclude:
            continue
        values = frame[name]
        if "categories" in col:
            present = set(values.tolist())
            categories = [c for c in col["categories"] if c in present]
            features.append({"name": name, "kind": "one-hot", "categories": categories})
            names += [f"{name}={c}" for c in categories]
        else:
            known = values[~np.isnan(values)]
            fill = float(np.median(known)) if len(known) else 0.0
            filled = np.where(np.isnan(values), fill, values)
            std = float(filled.std())
            features.append({"name": name, "kind": "standardised", "mean": float(filled.mean()),
                             "std": std if std > 0 else 1.0, "fill": fill, "missing": bool(col["missing"])})
            names.append(name)
            if col["missing"]:
                names.append(f"{name} missing")
    return {"features": features, "names": names, "dim": len(names)}


def encode_table_features(spec: dict[str, Any], frame: dict[str, np.ndarray]) -> np.ndarray:
    """A decoded table ``frame`` (N rows) -> ``float32 (N, spec["dim"])`` by :func:`fit_table_features`'s
    ``spec``: standardised numbers (about unit scale), one-hot blocks in {0, 1}, missing indicators."""
    blocks = []
    for f in spec["features"]:
        values = frame[f["name"]]
        if f["kind"] == "one-hot":
            index = {c: i for i, c in enumerate(f["categories"])}
            block = np.zeros((len(values), len(index)), dtype=np.float32)
            rows = [(r, index[v]) for r, v in enumerate(values.tolist()) if v in index]
            if rows:
                block[tuple(np.array(rows).T)] = 1.0
            blocks.append(block)
        else:
            missing = np.isnan(values)
            blocks.append(((np.where(missing, f["fill"], values) - f["mean"]) / f["std"])[:, None])
            if f["missing"]:
                blocks.append(missing[:, None])
    return np.concatenate(blocks, axis=1).astype(np.float32)


def is_anomaly(labels: np.ndarray, normal_classes: tuple[int, ...] | list[int]) -> np.ndarray:
    """``int64 (N,)``: 1 where the label is not one of the normal classes, else 0."""
    return (~np.isin(labels, np.asarray(list(normal_classes)))).astype(np.int64)


def one_class_dataset(ds: ArrayDataset, normal_classes: tuple[int, ...] | list[int], val_fraction: float = 0.1,
                      seed: int = 0, label_column: str | None = None,
                      features: dict[str, Any] | None = None) -> ArrayDataset:
    """The one-class view of ``ds`` (see the module docstring); ``val_fraction`` in [0, 1) of the normal training
    examples is held out as ``val``, chosen from ``seed``. Raises UserError for a class not in the data.
    Tables: ``label_column`` names the classes; ``features`` (a :func:`fit_table_features` dict, e.g. the one a
    method was fitted with, in ``meta["one_class"]["features"]``) encodes the rows instead of one fitted anew."""
    num_classes = number_of_classes(ds, label_column)
    normal = tuple(int(c) for c in normal_classes)
    for c in normal:
        if not 0 <= c < num_classes:
            raise UserError(f"--normal-classes: class {c} is not in {ds.name}: expected classes 0 to "
                            f"{num_classes - 1}")
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction {val_fraction}: expected a number in [0, 1)")
    y_train = class_labels(ds, "train", label_column)
    normal_index = np.flatnonzero(np.isin(y_train, normal))  # indices into the source's train split
    if len(normal_index) == 0:
        raise UserError(f"--normal-classes {','.join(map(str, normal))}: {ds.name}'s train split holds no example "
                        "of them")
    order = np.random.default_rng(seed).permutation(len(normal_index))
    n_val = int(round(val_fraction * len(normal_index)))
    val_index, train_index = np.sort(normal_index[order[:n_val]]), np.sort(normal_index[order[n_val:]])
    labels = {"train": y_train[train_index], "test": class_labels(ds, "test", label_column)}
    if n_val:
        labels["val"] = y_train[val_index]
    one_class = {"normal_classes": list(normal), "train_index": train_index, "val_index": val_index,
                 "source": ds.name}
    if ds.kind == "table":
        from .table import take

        col = label_column_of(ds, label_column)
        frames = {"train": take(ds.meta["frames"]["train"], train_index), "test": ds.meta["frames"]["test"]}
        if n_val:
            frames["val"] = take(ds.meta["frames"]["train"], val_index)
        if features is None:
            features = fit_table_features(ds.meta["table"]["columns"], frames["train"], col["name"])
        arrays = {s: encode_table_features(features, f) for s, f in frames.items()}
        class_names: list[str] | None = list(col["categories"])
        meta = {"one_class": {**one_class, "label_column": col["name"], "features": features}}
        names = ", ".join(f"{col['name']}={class_names[c]}" for c in normal)
    else:
        source_train = ds.split("train")
        arrays = {"train": source_train[train_index], "test": ds.split("test")}
        if n_val:
            arrays["val"] = source_train[val_index]
        class_names, meta = ds.class_names, {**ds.meta, "one_class": one_class}
        names = ", ".join(str(c) for c in normal)
    arrays = {s: arrays[s] for s in ("train", "val", "test") if s in arrays}
    return ArrayDataset(ds.name, ds.kind, arrays, labels, num_classes, class_names,
                        f"{ds.source}; one-class: normal classes {names} ({len(train_index)} train, {n_val} val)",
                        meta)
