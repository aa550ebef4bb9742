"""``ganforge augment`` (issue 12): the imbalanced set and every arm hold exactly the images asked for, no
held-back image enters any training set (the cGAN's included), class weights are N / (K n_c), user errors
are one line with exit code 2."""

import csv
import json

import numpy as np
import pytest
import torch

from ganforge import cli
from ganforge import imbalance as im
from ganforge.data import load_dataset

RARE, RARE_COUNT, MAJORITY = [0, 2], 10, 60


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.split("train"), ds.labels["train"]


@pytest.fixture(scope="module")
def split(digits):
    return im.select_imbalanced(digits[1], 10, RARE, RARE_COUNT, MAJORITY, seed=3)


def _fake_sampler(calls):
    def sample_class(c, n, seed):
        calls.append((c, n))
        return np.full((n, 1, 8, 8), 17 * c, dtype=np.uint8)

    return sample_class


def test_the_imbalanced_set_has_the_requested_count_of_every_class_and_the_rest_of_the_rare_ones_is_held_back(
        digits, split):
    _, y = digits
    expected = [RARE_COUNT if c in RARE else MAJORITY for c in range(10)]
    assert split.counts.tolist() == expected
    assert np.bincount(y[split.indices], minlength=10).tolist() == expected
    for c in RARE:  # chosen + held back = the class, disjoint
        members = set(np.flatnonzero(y == c).tolist())
        chosen = set(split.indices[y[split.indices] == c].tolist())
        held = set(split.held_back[y[split.held_back] == c].tolist())
        assert chosen | held == members and not chosen & held
    assert set(y[split.held_back].tolist()) == set(RARE)
    again = im.select_imbalanced(y, 10, RARE, RARE_COUNT, MAJORITY, seed=3)
    other = im.select_imbalanced(y, 10, RARE, RARE_COUNT, MAJORITY, seed=4)
    assert np.array_equal(again.indices, split.indices) and not np.array_equal(other.indices, split.indices)


def test_every_arm_holds_exactly_the_requested_images_per_class_and_no_held_back_one(digits, split):
    x, y = digits
    majority = [MAJORITY] * 10
    calls = []
    arms = {"imbalanced": im.imbalanced_arm(x, y, split), "oversample": im.oversample_arm(x, y, split, 1),
            "weighted": im.weighted_arm(x, y, split),
            "cgan x0.5": im.cgan_arm(x, y, split, 0.5, _fake_sampler(calls), 1),
            "cgan x2": im.cgan_arm(x, y, split, 2.0, _fake_sampler(calls), 1)}
    assert arms["imbalanced"].counts(10).tolist() == split.counts.tolist()
    assert arms["weighted"].counts(10).tolist() == split.counts.tolist()
    assert arms["oversample"].counts(10).tolist() == majority
    for ratio in (0.5, 2.0):
        expected = [RARE_COUNT + round(ratio * MAJORITY) if c in RARE else MAJORITY for c in range(10)]
        assert arms[f"cgan x{ratio:g}"].counts(10).tolist() == expected
    assert calls == [(0, 30), (2, 30), (0, 120), (2, 120)]  # only rare classes are generated
    for arm in arms.values():
        im.check_no_leakage(arm.source, split)
        real = arm.source >= 0
        assert np.array_equal(arm.x[real], x[arm.source[real]]) and np.array_equal(arm.y[real], y[arm.source[real]])
        assert not np.isin(arm.source, split.held_back).any()
    # oversampling only repeats the chosen images of each class
    over = arms["oversample"]
    assert set(over.source.tolist()) == set(split.indices.tolist())
    # the check can fail: one held-back image in a training set
    with pytest.raises(RuntimeError, match="held-back"):
        im.check_no_leakage(np.append(arms["imbalanced"].source, split.held_back[0]), split)


def test_smote_brings_every_class_to_the_largest_from_the_chosen_images_only(digits, split):
    pytest.importorskip("imblearn")
    x, y = digits
    arm = im.smote_arm(x, y, split, seed=0)
    assert arm.counts(10).tolist() == [MAJORITY] * 10
    im.check_no_leakage(arm.source, split)
    assert (arm.source == -1).sum() == 2 * (MAJORITY - RARE_COUNT) and arm.x.dtype == np.uint8
    # a SMOTE image lies between two chosen images of its class: inside their per-pixel range
    for c in RARE:
        own = x[split.indices[y[split.indices] == c]].astype(int)
        new = arm.x[(arm.source == -1) & (arm.y == c)].astype(int)
        assert (new >= own.min(0) - 1).all() and (new <= own.max(0) + 1).all()


def test_class_weights_are_n_over_k_times_the_class_count(split):
    # 2 rare classes of 10, 8 of 60: N = 500, K = 10
    w = im.balanced_class_weights(split.counts)
    assert w[0] == pytest.approx(500 / (10 * 10)) and w[2] == pytest.approx(5.0)
    assert w[1] == pytest.approx(500 / (10 * 60))
    assert (w * split.counts).sum() == pytest.approx(500)  # the weighted count of the set is unchanged
    x, y = load_dataset("digits").split("train"), load_dataset("digits").labels["train"]
    assert np.allclose(im.weighted_arm(x, y, split).class_weight, w)


def test_the_scores_are_balanced_accuracy_macro_f1_and_rare_recall_by_hand():
    y_true = np.array([0, 0, 1, 1, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 1, 0, 2, 1])
    s = im.classification_scores(y_true, y_pred, 3, [0, 2])
    recall = [1 / 2, 3 / 4, 1 / 2]
    precision = [1 / 2, 3 / 5, 1.0]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    assert s["balanced_accuracy"] == pytest.approx(np.mean(recall))
    assert s["macro_f1"] == pytest.approx(np.mean(f1))
    assert s["rare_recall"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_augment_end_to_end_writes_the_tables_and_the_cgan_saw_only_the_chosen_images(tmp_path, capsys,
                                                                                       monkeypatch):
    from ganforge import train

    seen = []  # the datasets the cGAN's Trainer is given
    original = train.Trainer.__init__

    def recording_init(self, *args, **kwargs):
        seen.append(kwargs.get("dataset"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(train.Trainer, "__init__", recording_init)
    out = tmp_path / "aug"
    argv = ["augment", "--data", "digits", "--rare-classes", "0,2", "--rare-count", "10", "--majority-count", "60",
            "--epochs", "0.5", "--cgan-steps", "4", "--cgan-width", "8", "--synthetic-ratios", "1", "--threads", "1"]
    assert cli.main(argv + ["--seeds", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    arms = ["imbalanced", "oversample", "weighted"] + (["smote"] if im.smote_available() else []) + ["cgan x1"]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["arm"], r["seed"]) for r in rows] == [(a, str(s)) for s in range(2) for a in arms]
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["arm"] for r in summary] == arms
    for r in summary:
        values = [float(x["balanced_accuracy"]) for x in rows if x["arm"] == r["arm"]]
        assert float(r["balanced_accuracy_mean"]) == pytest.approx(np.mean(values), abs=1e-6)
        assert float(r["balanced_accuracy_std"]) == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert "| cgan x1 | 70 | 60 | 70 |" in (out / "augment.md").read_text()
    assert "balanced accuracy" in printed
    # the cGAN's training images are the imbalanced set's, none held back
    ds = load_dataset("digits")
    split = im.select_imbalanced(ds.labels["train"], 10, [0, 2], 10, 60, seed=0)
    saved = json.loads((out / "cgan" / "augment_subset.json").read_text())
    assert saved["indices"] == split.indices.tolist()
    assert not set(saved["indices"]) & set(split.held_back.tolist())
    assert len(seen) == 1 and list(seen[0].arrays) == ["train"]  # no other split reaches the cGAN
    assert np.array_equal(seen[0].split("train"), ds.split("train")[split.indices])
    assert np.array_equal(seen[0].labels["train"], ds.labels["train"][split.indices])
    # reused with --cgan-run; refused when the imbalanced set differs
    assert cli.main(argv + ["--cgan-run", str(out / "cgan"), "--seeds", "1", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    bad = argv + ["--cgan-run", str(out / "cgan"), "--split-seed", "1", "--out", str(tmp_path / "c")]
    assert cli.main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert "trained on another set of training images" in err and len(err.splitlines()) == 1


def test_without_imbalanced_learn_smote_is_skipped_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(im, "smote_available", lambda: False)
    argv = ["augment", "--data", "digits", "--rare-classes", "3", "--rare-count", "5", "--majority-count", "20",
            "--seeds", "1", "--epochs", "1", "--synthetic-ratios", "none", "--out", str(tmp_path), "--threads", "1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if "SMOTE" in line]) == 1
    assert [r["arm"] for r in csv.DictReader((tmp_path / "summary.csv").open())] == ["imbalanced", "oversample",
                                                                                     "weighted"]


@pytest.mark.parametrize("flags, message", [
    (["--rare-count", "500"], "--rare-count 500: class 0 (0) has only"),
    (["--majority-count", "1000"], "--majority-count 1000: class 1 (1) has only"),
    (["--rare-classes", "0,12"], "class '12' is unknown: digits has classes"),
    (["--rare-classes", "shoe"], "class 'shoe' is unknown"),
    (["--rare-count", "80", "--majority-count", "60"], "expected fewer images than each majority class"),
    (["--synthetic-ratios", "0,x"], "--synthetic-ratios 0,x: expected numbers in (0, 100.0]"),
    (["--cgan-run", "/nonexistent/run"], "run directory /nonexistent/run not found"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    argv = ["augment", "--data", "digits", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path / "o"), *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_fit_classifier_weights_the_loss_by_class(monkeypatch):
    """The weight reaches the loss: with all weight on class 1, the classifier learns to say 1 everywhere."""
    from ganforge.features.train import fit_classifier, predict

    ds = load_dataset("digits")
    x, y = ds.split("train")[:300], ds.labels["train"][:300]
    w = np.zeros(10)
    w[1] = 1.0
    torch.manual_seed(0)
    model = fit_classifier(x, y, 10, steps=30, batch_size=64, seed=0, class_weight=w)
    assert (predict(model, ds.split("test")) == 1).mean() > 0.9
    plain = fit_classifier(x, y, 10, steps=30, batch_size=64, seed=0)
    assert (predict(plain, ds.split("test")) == 1).mean() < 0.5


def test_the_cgan_options_refused_without_a_cgan_are_compared_with_their_parser_defaults():
    """``--synthetic-ratios none`` refuses the cGAN's options when they differ from their defaults: the defaults
    it compares with are the parser's own (a changed default must not refuse every such run)."""
    from ganforge.commands.augment import CGAN_OPTION_DEFAULTS

    args = cli.build_parser().parse_args(["augment", "--out", "o"])
    assert {name: getattr(args, name) for name in CGAN_OPTION_DEFAULTS} == CGAN_OPTION_DEFAULTS
