"""Anomaly-detection metrics: pure functions of scores (higher = more anomalous) and binary targets.

- :func:`auroc`: the area under the ROC curve, computed as the Mann-Whitney statistic with mid-ranks, i.e.
  P(score of an anomaly > score of a normal example) + 1/2 P(equal): ties count one half.
- :func:`auprc`: the area under the precision-recall curve as average precision, sum_n (R_n - R_{n-1}) P_n
  over the distinct score thresholds in decreasing order (tied scores enter together), the anomalies being
  the positive class. Both equal scikit-learn's ``roc_auc_score`` and ``average_precision_score``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError


def _check(scores: np.ndarray, is_anomaly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(is_anomaly).astype(bool).ravel()
    if len(s) != len(y):
        raise UserError(f"anomaly scores: {len(s)} scores for {len(y)} targets: expected one per example")
    if y.all() or not y.any():
        raise UserError("anomaly scores: the targets hold only one class: expected normal and anomalous examples")
    if not np.isfinite(s).all():
        raise UserError("anomaly scores: not all finite: expected finite numbers")
    return s, y


def midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N of ``x (N,)``, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]  # first position of each run of equal values
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # mean of ranks start+1 .. end
    return ranks


def auroc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
    """Area under the ROC curve in [0, 1] of ``scores (N,)`` for targets ``is_anomaly (N,)`` in {0, 1}."""
    s, y = _check(scores, is_anomaly)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    rank_sum = midranks(s)[y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
    """Average precision in [0, 1] of ``scores (N,)`` for targets ``is_anomaly (N,)``, anomalies positive."""
    s, y = _check(scores, is_anomaly)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # threshold = each distinct score
    true_pos = np.cumsum(y)[last_of_tie]
    predicted = last_of_tie + 1
    precision, recall = true_pos / predicted, true_pos / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
