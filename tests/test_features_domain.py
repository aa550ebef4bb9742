"""Domain classifiers: shipped weights reproduce their recorded test accuracy; features, probabilities,
resizing and the safetensors format."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import HAS_FASHION
from ganforge.data import load_dataset
from ganforge.errors import UserError
from ganforge.features.domain import (
    DomainClassifier,
    load_domain_classifier,
    packaged_weights_path,
    read_domain_classifier,
    save_domain_classifier,
)
from ganforge.features.train import accuracy, random_translate, train_domain_classifier


@pytest.mark.parametrize("name", ["digits", "fashion-mnist"])
def test_shipped_weights_are_small_safetensors_with_provenance(name):
    path = packaged_weights_path(name)
    assert path.is_file() and path.stat().st_size < 2_000_000
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    meta = json.loads(path.read_bytes()[8:8 + header_len])["__metadata__"]
    info = json.loads(meta["info"])
    assert info["command"].startswith(f"ganforge features train --data {name}")
    assert info["test_accuracy"] > 0.85


def test_shipped_digits_classifier_reproduces_its_recorded_test_accuracy():
    ds = load_dataset("digits")
    model = load_domain_classifier("digits")
    assert accuracy(model, ds.split("test"), ds.labels["test"]) == pytest.approx(model.info["test_accuracy"])
    assert model.info["test_accuracy"] >= 0.95


@pytest.mark.skipif(not HAS_FASHION, reason="Fashion-MNIST not installed")
def test_shipped_fashion_classifier_classifies_held_out_images():
    ds = load_dataset("fashion-mnist")
    model = load_domain_classifier("fashion-mnist")
    acc = accuracy(model, ds.split("test")[:2000], ds.labels["test"][:2000])
    assert acc > 0.85
    assert abs(acc - model.info["test_accuracy"]) < 0.03  # 2,000 of the 10,000 images the record is over


def test_features_are_the_non_negative_penultimate_layer_and_probs_its_softmax():
    torch.manual_seed(0)
    model = DomainClassifier(1, 28, 10).eval()
    x = torch.rand(5, 1, 28, 28)
    feats, probs = model.features_and_probs(x)
    assert feats.shape == (5, 128) and probs.shape == (5, 10) and (feats >= 0).all()
    torch.testing.assert_close(probs, model.head(feats).softmax(1))
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    # uint8 in [0, 255] means the same as float in [0, 1]; other sizes are resized to 28x28
    as_uint8 = (x * 255).round().to(torch.uint8)
    torch.testing.assert_close(model.features(as_uint8), model.features(as_uint8.float() / 255))
    assert model.features(torch.rand(2, 1, 32, 32)).shape == (2, 128)
    with pytest.raises(UserError, match="expected"):
        model.features(torch.rand(2, 3, 28, 28))


def test_weights_round_trip_through_safetensors(tmp_path):
    torch.manual_seed(1)
    model = DomainClassifier(1, 8, 10).eval()
    save_domain_classifier(model, tmp_path / "w.safetensors", {"test_accuracy": 0.5})
    loaded, info = read_domain_classifier(tmp_path / "w.safetensors")
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(loaded.probs(x), model.probs(x))
    assert info["test_accuracy"] == 0.5 and len(info["sha256"]) == 64


def test_a_dataset_without_a_classifier_is_a_user_error_naming_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="ganforge features train --data cifar10"):
        load_domain_classifier("cifar10")  # MNIST ships since issue 17; CIFAR-10 has none
    with pytest.raises(UserError, match="not found"):
        load_domain_classifier("digits", Path(tmp_path) / "absent.safetensors")


def test_random_translation_shifts_whole_images_and_fills_with_background():
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(50, 1, 1, 1)
    shifted = random_translate(x, 1, torch.Generator().manual_seed(0))
    for img in shifted[:, 0]:
        inner = img[img >= 0]
        assert len(inner) in (9, 12, 16)  # a shift by (0 or 1, 0 or 1) rows/cols keeps that many pixels
        diffs = set(np.unique((img[1:3, 1:3] - x[0, 0, 1:3, 1:3]).numpy()).tolist())
        assert len(diffs) == 1  # the interior moved rigidly


def test_a_few_epochs_on_digits_learn_to_classify():
    ds = load_dataset("digits")
    model, info = train_domain_classifier(ds, epochs=4, log=lambda s: None)
    assert info["test_accuracy"] > 0.6  # chance is 0.1


@pytest.mark.parametrize("edit,needle", [
    (lambda meta, t: (dict(meta, config=meta["config"].replace('"num_classes": 10', '"num_classes": 5')), t),
     "damaged (its config and weights do not fit"),
    (lambda meta, t: (dict(meta, config="{not json"), t), "damaged (its config and weights do not fit"),
    (lambda meta, t: (dict(meta, info="[1, 2]"), t), "its info is a list"),
    (lambda meta, t: (meta, {k: v * float("nan") if v.is_floating_point() else v for k, v in t.items()}),
     "holds NaN or inf"),
])
def test_a_damaged_classifier_file_with_ganforges_tag_is_one_line(edit, needle, tmp_path, capsys):
    """Edited metadata or NaN weights in a file that still says it is ganforge's: exit 2, no traceback."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from ganforge.cli import main
    from ganforge.features.domain import packaged_weights_path

    with safe_open(str(packaged_weights_path("digits")), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    assert '"num_classes": 10' in meta["config"]
    meta, tensors = edit(meta, tensors)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    assert main(["features", "info", "--data", "digits", "--weights", str(tmp_path / "bad.safetensors")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err
