"""``ganforge eval``: every metric end to end on a small digits run, the real-data floor, toy modes,
the metric registry, and one-line user errors."""

import json
import math

import numpy as np
import pytest
import torch

from ganforge import cli
from ganforge.config import TrainConfig
from ganforge.data import load_dataset
from ganforge.features.domain import load_domain_classifier
from ganforge.metrics.evaluate import METRICS, EvalContext, evaluate_model, evaluate_real, register_metric
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception_score import inception_score_from_probs
from ganforge.metrics.kid import kid_from_features
from ganforge.metrics.parzen import parzen_evaluate
from ganforge.metrics.prdc import density_coverage, precision_recall
from ganforge.metrics.reference_stats import to_unit_range
from ganforge.run import load_run
from ganforge.train import Trainer


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("eval") / "dcgan-digits"
    cfg = TrainConfig(model="dcgan", data="digits", steps=150, batch_size=32, width=16, latent_dim=16,
                      sample_every=1000, checkpoint_every=1000, device="cpu")
    Trainer(cfg, run_dir, progress=False).fit()
    return run_dir


def test_eval_writes_every_metric_to_eval_json_and_they_are_what_the_metrics_compute(digits_run, capsys):
    assert cli.main(["eval", str(digits_run), "--n", "300"]) == 0
    out = capsys.readouterr().out
    record = json.loads((digits_run / "eval.json").read_text())
    values = record["values"]
    for key in ("parzen", "parzen_se", "parzen_sigma", "fid", "kid", "kid_std", "is", "is_std", "precision",
                "recall", "density", "coverage", "classes_covered", "class_kl", "nn_distance_ratio"):
        assert math.isfinite(values[key]), key
        assert key in out
    assert set(record["seconds"]) == set(record["metrics"])
    assert (digits_run / "eval_nearest_neighbours.png").is_file()
    # the FID written is the FID of domain features of the same samples against the first n train images
    ds, run = load_dataset("digits"), load_run(digits_run)
    clf = load_domain_classifier("digits")
    n = record["n"]
    assert n == 300  # a run alone is compared with n training images (the floor's test images would cap it)
    samples = run.sample(n, seed=0)
    real_features = clf.features(ds.split("train")[:n])
    fake_features, fake_probs = clf.features_and_probs(samples)
    assert values["fid"] == pytest.approx(fid_from_features(real_features, fake_features), rel=1e-4)
    # ... and every other figure is its metric function on those same features, samples and splits
    kid, kid_std = kid_from_features(real_features, fake_features, seed=0)
    assert (values["kid"], values["kid_std"]) == pytest.approx((kid, kid_std), rel=1e-4, abs=1e-7)
    assert (values["is"], values["is_std"]) == pytest.approx(inception_score_from_probs(fake_probs), rel=1e-5)
    assert (values["precision"], values["recall"]) == pytest.approx(precision_recall(real_features, fake_features, k=3))
    assert (values["density"], values["coverage"]) == pytest.approx(density_coverage(real_features, fake_features, k=5))
    parzen = parzen_evaluate(samples, to_unit_range(ds.split("val")[:1000]), to_unit_range(ds.split("test")))
    assert (values["parzen"], values["parzen_se"], values["parzen_sigma"]) == pytest.approx(
        (parzen.mean, parzen.std_error, parzen.sigma), rel=1e-5)
    assert values["parzen_sigma"] in record["notes"]["parzen_val_curve"] or any(
        float(s) == pytest.approx(values["parzen_sigma"]) for s in record["notes"]["parzen_val_curve"])


def test_real_floor_compares_held_out_test_images_with_the_train_split(tmp_path, capsys):
    out = tmp_path / "floor.json"
    assert cli.main(["eval", "--real", "digits", "--n", "250", "--metrics", "fid,pr,modes", "--out", str(out)]) == 0
    values = json.loads(out.read_text())["real"]["values"]
    ds = load_dataset("digits")
    clf = load_domain_classifier("digits")
    expected = fid_from_features(clf.features(ds.split("train")[:250]), clf.features(ds.split("test")[:250]))
    assert values["fid"] == pytest.approx(expected, rel=1e-4)
    assert values["classes_covered"] == 10 and values["class_kl"] < 0.1
    assert values["precision"] > 0.6 and values["recall"] > 0.6


def test_samples_of_the_ring_itself_cover_all_8_modes_with_989_percent_high_quality():
    values, seconds, notes = evaluate_real(load_dataset("ring8"), ["modes", "fid"], 5000)
    assert values["modes_covered"] == 8 and values["num_modes"] == 8
    assert values["high_quality_fraction"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)  # P(chi2_2 <= 9)
    assert values["fid"] < 0.01 and set(seconds) == {"modes", "fid"}


def test_evaluate_model_takes_a_training_model_and_leaves_it_in_training_mode(digits_run):
    model = load_run(digits_run).model.train()
    values = evaluate_model(model, load_dataset("digits"), ["fid", "is"], n=200)
    assert model.training and values["fid"] > 0 and 1 <= values["is"] <= 10


def test_a_new_metric_registers_without_touching_the_driver(digits_run):
    @register_metric("test_accuracy_probe", "share of samples the domain classifier puts in class 0")
    def probe(ctx: EvalContext) -> dict[str, float]:
        probs = ctx.candidate_features()[1]
        return {"share_class0": float((probs.argmax(1) == 0).double().mean()), "had_model": ctx.model is not None}

    try:
        values = evaluate_model(load_run(digits_run), load_dataset("digits"), "fid,test_accuracy_probe", n=100)
        assert 0 <= values["share_class0"] <= 1 and values["had_model"] is True
    finally:
        METRICS.pop("test_accuracy_probe")


@pytest.mark.parametrize("argv,message", [
    (["eval", "--real", "digits", "--metrics", "fid,nope"], "unknown metric 'nope'"),
    (["eval"], "expected either RUN_DIR or --real DATASET"),
    (["eval", "--real", "digits", "--features", "vgg"], "--features 'vgg'"),
    (["eval", "--real", "ring8", "--metrics", "is"], "give no class probabilities"),
    (["eval", "--real", "digits", "--metrics", "accuracy"], "accuracy: needs an sgan run"),
    (["eval", "--real", "digits:nosplit"], "unknown split 'nosplit'"),
    (["eval", "--real", "digits:test"], "a split is chosen only with --samples"),
])
def test_user_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_fid_orders_held_out_real_below_a_trained_dcgan_below_uniform_noise_on_digits(digits_run):
    ds = load_dataset("digits")
    n = 250
    real_fid = evaluate_real(ds, ["fid"], n)[0]["fid"]
    dcgan_fid = evaluate_model(load_run(digits_run), ds, ["fid"], n)["fid"]
    noise = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    clf = load_domain_classifier("digits")
    noise_fid = fid_from_features(clf.features(ds.split("train")[:n]), clf.features(noise))
    assert real_fid < dcgan_fid < noise_fid


def test_a_folder_of_unlabelled_images_is_measured_in_pixels_and_a_tiny_one_refused(tmp_path, capsys):
    """No labels, no domain classifier: raw features by default, without the metrics that read class
    probabilities; a floor on a test split smaller than a metric needs is one line before any metric runs."""
    from PIL import Image

    from ganforge.models import config_for
    from ganforge.train import Trainer

    def folder(name: str, count: int):
        root = tmp_path / name
        root.mkdir()
        rng = np.random.default_rng(0)
        for i in range(count):
            Image.fromarray((rng.random((10, 10, 3)) * 255).astype(np.uint8)).save(root / f"{i}.png")
        return root

    for name, count in (("photos", 200), ("few", 30)):
        cfg = config_for(model="dcgan", data=f"folder:{folder(name, count)}", image_size=8, steps=2, batch_size=8,
                         width=8, latent_dim=4, sample_every=100)
        Trainer(cfg, tmp_path / f"run-{name}", progress=False).fit()
    assert cli.main(["eval", str(tmp_path / "run-photos"), "--n", "20"]) == 0
    record = json.loads((tmp_path / "run-photos" / "eval.json").read_text())
    assert record["features"] == "raw" and "is" not in record["metrics"] and "modes" not in record["metrics"]
    assert {"fid", "precision", "density", "parzen"} <= set(record["values"])
    out = tmp_path / "samples.json"  # the same defaults when the run's samples are scored against the folder
    assert cli.main(["eval", "--samples", str(tmp_path / "run-photos"), "--real", f"folder:{tmp_path / 'photos'}",
                     "--n", "20", "--out", str(out)]) == 0
    scored = json.loads(out.read_text())
    assert scored["features"] == "raw" and "is" not in scored["metrics"] and "fid" in scored["values"]
    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path / "run-photos"), "--features", "domain"]) == 2
    assert "has no labels to train a domain classifier on" in capsys.readouterr().err
    # 30 images split 28 / 1 / 1: the run is compared with its 28 training images (n is not capped by the one
    # test image), but its floor, whose candidates are test images, cannot run: one line
    assert cli.main(["eval", str(tmp_path / "run-few")]) == 0
    assert json.loads((tmp_path / "run-few" / "eval.json").read_text())["n"] == 28
    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path / "run-few"), "--compare-real"]) == 2
    err = capsys.readouterr().err.strip()
    assert "need at least 6 examples" in err and "1 test" in err and "\n" not in err


def test_fid_on_raw_pixels_wider_than_4096_numbers_is_refused_and_left_out_of_the_defaults():
    from ganforge.data import ArrayDataset
    from ganforge.errors import UserError
    from ganforge.metrics.evaluate import check_evaluable, too_wide_for_fid

    rng = np.random.default_rng(0)
    photos = ArrayDataset("photos", "image", {s: rng.integers(0, 256, (8, 3, 64, 64), dtype=np.uint8)
                                              for s in ("train", "val", "test")})
    grey = ArrayDataset("grey", "image", {s: rng.integers(0, 256, (8, 1, 64, 64), dtype=np.uint8)
                                          for s in ("train", "val", "test")})
    assert too_wide_for_fid(photos, "raw") and not too_wide_for_fid(photos, "inception")
    assert not too_wide_for_fid(grey, "raw")  # 4,096 numbers: a second or two
    with pytest.raises(UserError, match="12,288 numbers per image"):
        check_evaluable(photos, ["parzen", "fid"], 8, "raw")
    check_evaluable(photos, ["parzen", "pr", "dc"], 8, "raw")  # k-NN and Parzen windows are matrix products


def test_a_metric_named_twice_is_computed_once_in_the_order_given():
    from ganforge.metrics.evaluate import parse_metrics

    assert parse_metrics("kid, fid,kid,,fid") == ["kid", "fid"]
