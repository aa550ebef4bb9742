"""Classification Accuracy Score (Ravuri & Vinyals 2019): a "generator" that hands back real images of the
asked class scores what real data scores; one that hands back images of a random class scores chance; a
non-conditional run asked for cas is one line, exit 2."""

import json

import numpy as np
import pytest
import torch

from ganforge import cli
from ganforge.config import TrainConfig
from ganforge.data import load_dataset
from ganforge.metrics.cas import balanced_real_subset, classification_accuracy_score
from ganforge.train import Trainer

PER_CLASS, EPOCHS = 50, 12


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.split("train"), ds.labels["train"], ds.split("test"), ds.labels["test"]


def _real_sampler(x, y, wrong: bool):
    """Real training images of class c (or, ``wrong``, of a uniformly random class), float in [0, 1]."""

    def sample_class(c, n, rng):
        pool = np.arange(len(y)) if wrong else np.flatnonzero(y == c)
        pick = pool[torch.randint(len(pool), (n,), generator=rng).numpy()]
        return torch.from_numpy(x[pick]).float() / 255.0

    return sample_class


def test_real_images_of_the_asked_class_score_the_real_data_accuracy(digits):
    x, y, x_test, y_test = digits
    s = classification_accuracy_score(_real_sampler(x, y, False), x, y, x_test, y_test, 10, PER_CLASS, seed=0,
                                      epochs=EPOCHS)
    assert s["cas_real"] > 0.8
    assert abs(s["cas"] - s["cas_real"]) < 0.08
    assert s["cas_images_per_class"] == PER_CLASS


def test_images_of_a_random_class_score_chance(digits):
    x, y, x_test, y_test = digits
    s = classification_accuracy_score(_real_sampler(x, y, True), x, y, x_test, y_test, 10, PER_CLASS, seed=0,
                                      epochs=EPOCHS)
    assert s["cas"] < 0.25 and s["cas_real"] > 0.8


def test_the_real_baseline_takes_the_same_number_of_images_of_every_class(digits):
    _, y, _, _ = digits
    idx = balanced_real_subset(y, 10, 7, seed=1)
    assert np.bincount(y[idx], minlength=10).tolist() == [7] * 10 and len(set(idx.tolist())) == 70


def _tiny_run(path, model, **kw):
    cfg = TrainConfig(model=model, data="digits", steps=4, batch_size=16, width=8, latent_dim=8, sample_every=1000,
                      checkpoint_every=1000, device="cpu", **kw)
    Trainer(cfg, path, progress=False).fit()
    return path


def test_eval_cas_on_a_cgan_run_and_one_line_exit_2_for_others(tmp_path, capsys):
    run = _tiny_run(tmp_path / "cgan", "cgan", conditioning="projection")
    assert cli.main(["eval", str(run), "--metrics", "cas", "--n", "100", "--threads", "1"]) == 0
    values = json.loads((run / "eval.json").read_text())["values"]
    assert 0 <= values["cas"] <= 1 and 0 <= values["cas_real"] <= 1 and values["cas_images_per_class"] == 10
    assert "cas_real" in capsys.readouterr().out
    plain = _tiny_run(tmp_path / "dcgan", "dcgan")
    assert cli.main(["eval", str(plain), "--metrics", "cas", "--n", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "metric cas" in err and "expected a conditional run" in err and len(err.splitlines()) == 1
    assert cli.main(["eval", "--real", "digits", "--metrics", "cas", "--n", "100"]) == 2
    assert "held-out real data" in capsys.readouterr().err
