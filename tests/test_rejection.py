"""Discriminator rejection sampling (Azadi et al. 2019): with D = log p_data / p_g, keeping a sample of G with
probability exp(D(x) - max D) samples the data; a critic fitted to a real generator moves its samples onto the
data (docs/models.md, "Rejection sampling on grid25")."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.cli import main
from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.metrics.modes import mode_coverage
from ganforge.rejection import acceptance_probability, drs_sample, fit_critic
from ganforge.train import Trainer


def test_acceptance_is_exp_of_the_logit_gap_at_gamma_zero():
    logits = torch.tensor([-7.0, -2.5, 0.0, 1.2, 3.0])
    p = acceptance_probability(logits, max_logit=3.0)
    assert torch.allclose(p.double(), torch.exp(logits.double() - 3.0), rtol=1e-5)
    assert float(p[-1]) == pytest.approx(1.0, abs=1e-5)  # the most real-looking sample is always kept
    # gamma > 0 keeps less of everything, most of all the unlikely samples: sigmoid(F - gamma)
    shifted = acceptance_probability(logits, 3.0, gamma=2.0)
    assert torch.all(shifted < p)
    assert float(shifted[0] / p[0]) == pytest.approx(math.exp(-2.0), rel=1e-3)


class WideGaussian(nn.Module):
    """A "generator" of N(0, 2^2) in one dimension; the data is N(0, 1)."""

    def sample_latent(self, n, rng):
        return torch.randn(n, 1, generator=rng)

    def generate(self, z):
        return 2.0 * z


class ExactRatio(nn.Module):
    """The optimal discriminator of Goodfellow et al.'s Proposition 1 for WideGaussian vs N(0, 1):
    log N(x; 0, 1) - log N(x; 0, 4) = log 2 - 3 x^2 / 8."""

    def discriminator_logits(self, x):
        return math.log(2.0) - 3.0 * x[:, 0] ** 2 / 8.0


def test_with_the_exact_density_ratio_drs_samples_the_data_distribution():
    result = drs_sample(WideGaussian(), ExactRatio(), 20_000, seed=0)
    x = result.x[:, 0].numpy()
    # rejection sampling from N(0, 4) with envelope max ratio 2 keeps half of the proposals
    assert result.max_logit == pytest.approx(math.log(2.0), abs=1e-3)
    assert result.acceptance == pytest.approx(0.5, abs=0.02)
    assert x.std() == pytest.approx(1.0, abs=0.03)  # the proposals have std 2
    assert np.mean(np.abs(x) < 1.0) == pytest.approx(0.6827, abs=0.015)  # N(0, 1)'s one-sigma mass


def grid_gan(tmp_path, pack=1):
    """A PacGAN-toy GAN on grid25 trained for 300 steps: a spread-out G, few samples near the 25 modes."""
    cfg = TrainConfig(model="gan", data="grid25", gan_recipe="pacgan", batch_size=64, latent_dim=2, steps=300,
                      width=64, lr_d=1e-3, lr_g=2e-4, k_disc=5, pack=pack, sample_every=10_000,
                      checkpoint_every=10_000, seed=0)
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer.fit()
    return trainer


def test_drs_on_an_undertrained_grid_gan_keeps_more_high_quality_samples(tmp_path):
    trainer = grid_gan(tmp_path)
    model, ds = trainer.model.eval(), trainer.dataset
    with torch.no_grad():
        plain = model.generate(model.sample_latent(2000, torch.Generator().manual_seed(1)))
    critic = fit_critic(model, torch.from_numpy(ds.split("train")), steps=500, lr=1e-3)
    assert critic.start == "trained D"  # an unpacked D judges one point: the critic starts from it
    assert critic.accuracy > 0.7
    kept = drs_sample(model, critic.model, 2000, seed=1)
    before = mode_coverage(plain, ds.meta["means"], ds.meta["std"])
    after = mode_coverage(kept.x, ds.meta["means"], ds.meta["std"])
    assert after["high_quality_fraction"] >= 2 * before["high_quality_fraction"]
    assert after["modes_covered"] >= before["modes_covered"]
    assert 0 < kept.acceptance < 1


def test_a_packed_discriminator_gives_a_fresh_per_example_critic_of_its_architecture(tmp_path):
    trainer = grid_gan(tmp_path, pack=2)
    critic = fit_critic(trainer.model, torch.from_numpy(trainer.dataset.split("train")), steps=5)
    assert critic.start == "fresh"
    assert critic.model.discriminator_logits(torch.zeros(6, 2)).shape == (6,)  # one logit per point, not per pair
    assert critic.model.discriminator.net[1].linear.in_features == 2  # the trained, packed D reads pairs: 4


def test_models_without_a_discriminator_of_x_alone_are_refused(tmp_path):
    cfg = TrainConfig(model="vae", data="ring8", batch_size=8, steps=1, sample_every=100, checkpoint_every=100)
    trainer = Trainer(cfg, tmp_path / "vae", progress=False)
    with pytest.raises(UserError, match="discriminator"):
        fit_critic(trainer.model, torch.from_numpy(trainer.dataset.split("train")), steps=2)


def test_sample_drs_writes_the_kept_points_and_refuses_a_changed_prior(tmp_path, capsys):
    trainer = grid_gan(tmp_path)
    run = str(trainer.run_dir)
    out = tmp_path / "kept.npy"
    assert main(["sample", run, "--drs", "--drs-steps", "50", "--n", "40", "--seed", "3", "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (40, 2) and np.isfinite(x).all()
    assert "DRS critic (trained D, 50 steps at lr 0.001)" in capsys.readouterr().out
    for bad in (["--temperature", "0.5"], ["--drs-quantile", "1"], ["--drs-lr", "0"], ["--drs-steps", "0"]):
        assert main(["sample", run, "--drs", *bad, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--drs" in err and len(err.strip().splitlines()) == 1
