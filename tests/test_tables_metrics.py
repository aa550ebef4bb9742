"""The table measures (issue 13) equal direct scipy / scikit-learn / numpy computations on small fixed tables."""

import numpy as np
import pytest
from scipy.stats import ks_2samp, pearsonr
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ganforge.metrics.table import column_shape, detection_auroc, ml_efficacy, pair_trends, privacy

TABLE = {"columns": [
    {"name": "x", "kind": "continuous", "missing": True},
    {"name": "y", "kind": "continuous", "missing": False},
    {"name": "c", "kind": "discrete", "missing": False, "categories": ["a", "b", "c"]},
]}


def frame(x, y, c):
    return {"x": np.array(x, dtype=float), "y": np.array(y, dtype=float), "c": np.array(c, dtype=object)}


REAL = frame([1, 2, 3, np.nan, 5, 6], [2, 4, 5, 9, 10, 13], ["a", "a", "b", "b", "c", "a"])
SYNTH = frame([1.5, 2, 7, 8, np.nan], [1, 4, 4, 8, 9], ["a", "b", "b", "b", "c"])


def test_column_shape_is_one_minus_ks_and_one_minus_total_variation():
    got = column_shape(REAL, SYNTH, TABLE)
    assert got["x"] == pytest.approx(1 - ks_2samp([1, 2, 3, 5, 6], [1.5, 2, 7, 8]).statistic)
    assert got["y"] == pytest.approx(1 - ks_2samp(REAL["y"], SYNTH["y"]).statistic)
    # real a 3/6, b 2/6, c 1/6; synthetic a 1/5, b 3/5, c 1/5: TV = (|.5-.2| + |1/3-.6| + |1/6-.2|) / 2
    assert got["c"] == pytest.approx(1 - (0.3 + (0.6 - 1 / 3) + (0.2 - 1 / 6)) / 2)


def test_pair_trends_compare_pearson_correlations_and_joint_frequencies():
    got = pair_trends(REAL, SYNTH, TABLE)
    r_real = pearsonr([1, 2, 3, 5, 6], [2, 4, 5, 10, 13]).statistic  # rows where both are present
    r_synth = pearsonr([1.5, 2, 7, 8], [1, 4, 4, 8]).statistic
    assert got["x|y"] == pytest.approx(1 - abs(r_real - r_synth) / 2)
    # y and c: y binned at the real deciles of y; joint frequencies compared by total variation
    edges = np.unique(np.quantile(REAL["y"], np.linspace(0.1, 0.9, 9)))
    joint_r = [f"{b}|{c}" for b, c in zip(np.digitize(REAL["y"], edges), REAL["c"], strict=True)]
    joint_s = [f"{b}|{c}" for b, c in zip(np.digitize(SYNTH["y"], edges), SYNTH["c"], strict=True)]
    keys = set(joint_r) | set(joint_s)
    tv = 0.5 * sum(abs(joint_r.count(k) / 6 - joint_s.count(k) / 5) for k in keys)
    assert got["y|c"] == pytest.approx(1 - tv)


def test_ml_efficacy_is_a_random_forests_macro_f1_on_the_test_rows():
    rng = np.random.default_rng(0)
    n = 200
    y = rng.normal(size=n)
    c = np.where(y > 0.3, "a", np.where(y < -0.5, "b", "c")).astype(object)
    x = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    train, test = frame(x[:150], y[:150], c[:150]), frame(x[150:], y[150:], c[150:])
    got = ml_efficacy(train, test, TABLE, "c")

    def feats(f):  # x: median-filled, standardised by the training rows, plus its missing column; y likewise
        cols = []
        for k in ("x", "y"):
            ref = train[k][~np.isnan(train[k])]
            cols.append((np.where(np.isnan(f[k]), np.median(ref), f[k]) - np.median(ref)) / ref.std())
        cols.append(np.isnan(f["x"]).astype(float))
        return np.stack([cols[0], cols[2], cols[1]], 1)

    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    forest.fit(feats(train), train["c"].astype(str))
    assert got == pytest.approx(f1_score(test["c"].astype(str), forest.predict(feats(test)), average="macro"))
    assert got > 0.8  # c is a function of y: the forest finds it


def test_privacy_is_the_brute_force_distance_to_the_closest_record_and_counts_exact_copies():
    train = frame([0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 0], ["a"] * 6)
    holdout = frame([10, 11, 12], [0, 0, 0], ["a"] * 3)
    synth = frame([1, 2.5, 11], [0, 0, 0], ["a", "a", "a"])
    got = privacy(synth, train, holdout, TABLE, seed=0)
    pick = np.random.default_rng(0).permutation(6)[:3]  # as many training rows as held-out ones
    scale = np.array([0, 1, 2, 3, 4, 5.0]).std()
    d_train = np.abs(np.array([1, 2.5, 11])[:, None] - np.array([0, 1, 2, 3, 4, 5.0])[pick][None]).min(1) / scale
    d_hold = np.abs(np.array([1, 2.5, 11])[:, None] - np.array([10, 11, 12.0])[None]).min(1) / scale
    assert got["dcr_train"] == pytest.approx(np.median(d_train))
    assert got["dcr_holdout"] == pytest.approx(np.median(d_hold))
    assert got["closer_to_train"] == pytest.approx(np.mean((d_train < d_hold) + 0.5 * (d_train == d_hold)))
    assert got["exact_copies"] == 1  # the row (1, 0, a) is a training row


def test_privacy_compares_as_many_training_rows_as_held_out_ones_when_the_holdout_is_the_larger():
    """From one distribution, a small training set and a large holdout: synthetic rows (new draws) are closer to
    training about half the time, not much less because the holdout has more rows to be near."""
    rng = np.random.default_rng(4)

    def draw(n):
        return frame(rng.normal(size=n), rng.normal(size=n), rng.choice(["a", "b"], n).astype(object))

    got = privacy(draw(300), draw(40), draw(400), TABLE, seed=0)
    assert 0.4 < got["closer_to_train"] < 0.6


def test_detection_is_the_cross_validated_auroc_of_a_random_forest():
    rng = np.random.default_rng(1)
    real = frame(rng.normal(size=60), rng.normal(size=60), rng.choice(["a", "b"], 60).astype(object))
    synth = frame(rng.normal(1, 1, 60), rng.normal(size=60), rng.choice(["a", "c"], 60).astype(object))
    got = detection_auroc(real, synth, TABLE, seed=0)

    def feats(f):
        cols = []
        for k in ("x", "y"):
            ref = real[k]
            cols.append(((f[k] - np.median(ref)) / ref.std())[:, None])
            if k == "x":
                cols.append(np.isnan(f[k]).astype(float)[:, None])
        cols.append((f["c"].astype(str)[:, None] == np.array(["a", "b", "c"])[None]).astype(float))
        return np.concatenate(cols, 1)

    x = np.concatenate([feats(real), feats(synth)])
    y = np.r_[np.zeros(60), np.ones(60)]
    p = cross_val_predict(RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1), x, y,
                          cv=StratifiedKFold(3, shuffle=True, random_state=0), method="predict_proba")[:, 1]
    assert got == pytest.approx(roc_auc_score(y, p))
    assert got > 0.7  # the category c never occurs in real rows: the forest tells them apart
