"""``ganforge features list``: the domain classifiers that ship (and those trained into the cache), with the
test accuracy stored in each file's metadata."""

import json

import pytest

from ganforge import cli
from ganforge.features.domain import (
    WEIGHTS_DIR,
    DomainClassifier,
    default_weights_path,
    list_domain_classifiers,
    read_domain_classifier,
    save_domain_classifier,
)


def test_list_reads_accuracy_from_each_files_metadata(capsys):
    path = default_weights_path("toy-test")  # the test session's cache directory (conftest)
    save_domain_classifier(DomainClassifier(1, 8, 3), path, {"dataset": "toy-test", "test_accuracy": 0.625,
                                                                "epochs": 2})
    try:
        rows = {r["dataset"]: r for r in list_domain_classifiers()}
        assert rows["toy-test"]["where"] == "cache" and rows["toy-test"]["test_accuracy"] == 0.625
        for shipped in WEIGHTS_DIR.glob("domain-*.safetensors"):
            name = shipped.stem[len("domain-"):]
            _, info = read_domain_classifier(shipped)
            assert rows[name]["where"] == "shipped" and rows[name]["test_accuracy"] == info["test_accuracy"]
        assert cli.main(["features", "list"]) == 0
        out = capsys.readouterr().out
        assert "toy-test" in out and "0.6250" in out and "fashion-mnist" in out
    finally:
        path.unlink()


@pytest.mark.parametrize("name, floor", [("digits", 0.98), ("fashion-mnist", 0.91), ("mnist", 0.99)])
def test_shipped_classifiers_and_their_recorded_accuracy(name, floor):
    """MNIST ships too (issue 17), so FID/KID/PR on MNIST need no training step first."""
    path = WEIGHTS_DIR / f"domain-{name}.safetensors"
    model, info = read_domain_classifier(path)
    assert info["dataset"] == name and info["test_accuracy"] >= floor
    assert model.config()["image_size"] == (8 if name == "digits" else 28)
    assert json.loads(json.dumps(info))  # plain metadata
