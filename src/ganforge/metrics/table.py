"""Measures of synthetic tables (issue 13), pure functions of decoded frames (``ganforge.data.table.Frame``).

- ``column_shape``: per column, 1 - KS statistic (numeric: two-sample Kolmogorov-Smirnov on the present
  values, plus nothing for missingness) or 1 - total variation distance of the category frequencies
  (discrete); 1 is identical. The mean over columns is ``shape``.
- ``pair_trends``: per pair of columns, 1 - |r_real - r_synth| / 2 of Pearson correlations (both numeric) or
  1 - TV of the joint frequencies (otherwise; numeric columns binned at the real data's deciles). Mean: ``trends``.
- ``ml_efficacy``: a random forest (100 trees, seed 0) trained on synthetic rows and on real training rows,
  both tested on the real test split: macro F1 (discrete target) or R^2 (numeric target).
- ``privacy``: distance to the closest record (DCR) of each synthetic row among real training rows and among
  as many held-out rows, in the encoded feature space (numeric columns standardised, categories one-hot);
  the medians, the share of synthetic rows closer to training than to held-out rows (0.5 when the model
  has not memorised), and exact copies (synthetic rows identical to a training row in every decoded value).
- ``detection``: ROC AUC of a random forest telling real training rows from synthetic ones, 3-fold
  cross-validated (0.5: indistinguishable; 1: always told apart).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from ..data.table import NUMERIC_KINDS, Frame, frame_rows

TREES = 100


def _kinds(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in table["columns"]}


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """TV distance between the empirical distributions of two arrays of labels: 1/2 sum_v |p_a(v) - p_b(v)|."""
    values = np.unique(np.concatenate([a.astype(str), b.astype(str)]))
    pa = np.array([(a.astype(str) == v).mean() for v in values])
    pb = np.array([(b.astype(str) == v).mean() for v in values])
    return 0.5 * float(np.abs(pa - pb).sum())


def column_shape(real: Frame, synth: Frame, table: dict[str, Any]) -> dict[str, float]:
    """``{column: score in [0, 1]}`` (see the module doc)."""
    from scipy.stats import ks_2samp

    out = {}
    for name, col in _kinds(table).items():
        r, s = real[name], synth[name]
        if col["kind"] in NUMERIC_KINDS:
            r, s = r[~np.isnan(r)], s[~np.isnan(s)]
            out[name] = 1.0 - float(ks_2samp(r, s).statistic) if len(r) and len(s) else 0.0
        else:
            out[name] = 1.0 - total_variation(r, s)
    return out


def _binned(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Numeric values -> decile bin labels (strings), "missing" for NaN."""
    out = np.digitize(values, edges).astype(str).astype(object)
    out[np.isnan(values)] = "missing"
    return out


def pair_trends(real: Frame, synth: Frame, table: dict[str, Any]) -> dict[str, float]:
    """``{"a|b": score in [0, 1]}`` for every pair of columns (see the module doc)."""
    kinds = _kinds(table)
    labels_r, labels_s = {}, {}
    for name, col in kinds.items():
        if col["kind"] in NUMERIC_KINDS:
            present = real[name][~np.isnan(real[name])]
            edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9)))
            labels_r[name], labels_s[name] = _binned(real[name], edges), _binned(synth[name], edges)
        else:
            labels_r[name], labels_s[name] = real[name].astype(str), synth[name].astype(str)
    out = {}
    for a, b in combinations(kinds, 2):
        if kinds[a]["kind"] in NUMERIC_KINDS and kinds[b]["kind"] in NUMERIC_KINDS:
            out[f"{a}|{b}"] = 1.0 - abs(_correlation(real[a], real[b]) - _correlation(synth[a], synth[b])) / 2
        else:
            joint_r = labels_r[a].astype(str) + "\x1f" + labels_r[b].astype(str)
            joint_s = labels_s[a].astype(str) + "\x1f" + labels_s[b].astype(str)
            out[f"{a}|{b}"] = 1.0 - total_variation(joint_r, joint_s)
    return out


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation on the rows where both are present (0 when either is constant)."""
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 2 or x[ok].std() == 0 or y[ok].std() == 0:
        return 0.0
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def features(frame: Frame, table: dict[str, Any], reference: Frame, exclude: str | None = None) -> np.ndarray:
    """``float64 (N, F)``: numeric columns standardised by ``reference``'s median and std (missing -> the
    median, plus a 0/1 missing column when the table has missing values there), categories one-hot."""
    parts = []
    for name, col in _kinds(table).items():
        if name == exclude:
            continue
        v = frame[name]
        if col["kind"] in NUMERIC_KINDS:
            ref = reference[name][~np.isnan(reference[name])]
            centre, scale = float(np.median(ref)), float(ref.std()) or 1.0
            parts.append(((np.where(np.isnan(v), centre, v) - centre) / scale)[:, None])
            if col["missing"]:
                parts.append(np.isnan(v).astype(np.float64)[:, None])
        else:
            parts.append((v.astype(str)[:, None] == np.array(col["categories"], dtype=str)[None]).astype(np.float64))
    return np.concatenate(parts, 1)


def ml_efficacy(train: Frame, test: Frame, table: dict[str, Any], target: str, seed: int = 0) -> float:
    """Macro F1 (discrete ``target``) or R^2 (numeric) on ``test`` of a random forest fitted on ``train``."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import f1_score, r2_score

    col = _kinds(table)[target]
    x_train, x_test = features(train, table, train, target), features(test, table, train, target)
    if col["kind"] in NUMERIC_KINDS:
        ok_train, ok_test = ~np.isnan(train[target]), ~np.isnan(test[target])
        model = RandomForestRegressor(n_estimators=TREES, random_state=seed, n_jobs=1)
        model.fit(x_train[ok_train], train[target][ok_train])
        return float(r2_score(test[target][ok_test], model.predict(x_test[ok_test])))
    model = RandomForestClassifier(n_estimators=TREES, random_state=seed, n_jobs=1)
    model.fit(x_train, train[target].astype(str))
    return float(f1_score(test[target].astype(str), model.predict(x_test), average="macro"))


def copies_of(synth: Frame, train: Frame) -> np.ndarray:
    """``bool (N,)``: which rows of ``synth`` equal some row of ``train`` in every decoded value (numbers to 10
    significant digits, missing equal to missing): the ``exact_copies`` of :func:`privacy`."""
    return np.isin(_rows_as_text(synth), _rows_as_text(train))


def _rows_as_text(frame: Frame) -> np.ndarray:
    cols = [np.where(np.isnan(v), "", np.char.mod("%.10g", np.nan_to_num(v))) if v.dtype != object else v.astype(str)
            for v in frame.values()]
    return np.array(["\x1f".join(r) for r in zip(*cols, strict=True)], dtype=object)


def privacy(synth: Frame, train: Frame, holdout: Frame, table: dict[str, Any], seed: int = 0) -> dict[str, float]:
    """DCR medians to training and held-out rows (the same number of each, a seeded subset of the larger set),
    the share of synthetic rows strictly closer to training than to held-out rows (ties count half: 0.5 when
    the synthetic rows are no closer to the rows they were trained on), and the number of synthetic rows that
    exactly copy a training row (of the whole training set)."""
    from sklearn.neighbors import NearestNeighbors

    n = min(frame_rows(holdout), frame_rows(train))
    rng = np.random.default_rng(seed)
    train_part = {k: v[rng.permutation(frame_rows(train))[:n]] for k, v in train.items()}
    holdout = {k: v[rng.permutation(frame_rows(holdout))[:n]] for k, v in holdout.items()}
    xs = features(synth, table, train)
    d_train = NearestNeighbors(n_neighbors=1).fit(features(train_part, table, train)).kneighbors(xs)[0][:, 0]
    d_hold = NearestNeighbors(n_neighbors=1).fit(features(holdout, table, train)).kneighbors(xs)[0][:, 0]
    closer = float(np.mean((d_train < d_hold) + 0.5 * (d_train == d_hold)))
    copies = int(copies_of(synth, train).sum())
    return {"dcr_train": float(np.median(d_train)), "dcr_holdout": float(np.median(d_hold)),
            "closer_to_train": closer, "exact_copies": copies}


def detection_auroc(real: Frame, synth: Frame, table: dict[str, Any], seed: int = 0) -> float:
    """3-fold cross-validated ROC AUC of a random forest telling ``real`` (label 0) from ``synth`` (1)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.concatenate([features(real, table, real), features(synth, table, real)])
    y = np.concatenate([np.zeros(frame_rows(real)), np.ones(frame_rows(synth))])
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    p = cross_val_predict(RandomForestClassifier(n_estimators=TREES, random_state=seed, n_jobs=1), x, y, cv=folds,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def evaluate_table(synth: Frame, train: Frame, test: Frame, holdout: Frame, table: dict[str, Any],
                   target: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Every measure above: ``synth`` against ``train`` (shape, trends, detection, privacy vs ``holdout``),
    and ML efficacy on ``test`` beside the real -> real score. Flat ``{name: value}`` plus per-column scores
    under ``columns`` and per-pair ones under ``pairs``."""
    target = target or table.get("target") or table["columns"][-1]["name"]
    shape, trends = column_shape(train, synth, table), pair_trends(train, synth, table)
    n = min(frame_rows(train), frame_rows(synth))
    efficacy = ({f"efficacy_{target}": ml_efficacy(synth, test, table, target, seed),
                 f"efficacy_{target}_real": ml_efficacy(train, test, table, target, seed)}
                if len(table["columns"]) > 1 else {})  # a one-column table has nothing to predict its column from
    values: dict[str, Any] = {
        "shape": float(np.mean(list(shape.values()))),
        "trends": float(np.mean(list(trends.values()))) if trends else 1.0,
        **efficacy,
        **{f"privacy_{k}": v for k, v in privacy(synth, train, holdout, table, seed).items()},
        "detection_auroc": detection_auroc({k: v[:n] for k, v in train.items()},
                                           {k: v[:n] for k, v in synth.items()}, table, seed),
    }
    return {"values": values, "columns": shape, "pairs": trends}


#: What ``--eval-every`` (``--eval-metrics``) can compute for a table run, each a key or a prefix of keys.
TABLE_METRICS = ("shape", "trends", "efficacy", "privacy", "detection")


def evaluate_table_model(model_or_run: Any, dataset: Any, metrics: list[str] | str, n: int, seed: int = 0
                         ) -> dict[str, float]:
    """``--eval-every`` on a table run: the named measures of ``n`` decoded samples of a model (or
    ``LoadedRun``) against the training split (efficacy on test, privacy against test)."""
    from ..data.table import TableSpec
    from ..errors import UserError
    from .evaluate import sample_from

    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in names if m not in TABLE_METRICS]
    if unknown:
        raise UserError(f"--eval-metrics {','.join(unknown)}: a table run is measured with "
                        f"{', '.join(TABLE_METRICS)}")
    table, frames = dataset.meta["table"], dataset.meta["frames"]
    synth = TableSpec(table).decode(sample_from(model_or_run, n, seed, "table").numpy())
    train, test = frames["train"], frames["test"]
    out: dict[str, float] = {}
    if "shape" in names:
        out["shape"] = float(np.mean(list(column_shape(train, synth, table).values())))
    if "trends" in names:
        out["trends"] = float(np.mean(list(pair_trends(train, synth, table).values()) or [1.0]))
    if "efficacy" in names and len(table["columns"]) > 1:
        out["efficacy"] = ml_efficacy(synth, test, table, table.get("target") or table["columns"][-1]["name"], seed)
    if "privacy" in names:
        out.update({f"privacy_{k}": v for k, v in privacy(synth, train, test, table, seed).items()})
    if "detection" in names:
        m = min(frame_rows(train), frame_rows(synth))
        out["detection_auroc"] = detection_auroc({k: v[:m] for k, v in train.items()},
                                                 {k: v[:m] for k, v in synth.items()}, table, seed)
    return out
