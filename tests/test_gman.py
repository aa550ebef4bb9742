"""GMAN (Durugkar et al. 2017): G's loss is the softmax(lambda L)-weighted mean of its N losses, the mean at
lambda = 0 and the max as lambda grows; each D trains on its own; GMAN* learns lambda."""

import pytest
import torch

from ganforge.errors import UserError
from ganforge.models import DataInfo, config_for
from ganforge.models.gman import GMAN_LAMBDA_REWARD, gman_generator_loss
from ganforge.train import Trainer, build_model

DIGITS = DataInfo("image", (1, 8, 8), 10)


def test_gman_loss_is_the_mean_at_lambda_zero_and_tends_to_the_max():
    losses = torch.tensor([0.3, 1.7, 0.9, 1.1])
    assert gman_generator_loss(losses, 0.0).item() == pytest.approx(losses.mean().item())
    values = [gman_generator_loss(losses, lam).item() for lam in (0.0, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))  # rises with lambda
    assert values[-1] == pytest.approx(1.7, abs=1e-6)  # the max
    # by hand at lambda = 1: sum_i e^{L_i} L_i / sum_i e^{L_i}
    e = [2.718281828459045 ** v for v in (0.3, 1.7, 0.9, 1.1)]
    by_hand = sum(w * v for w, v in zip(e, (0.3, 1.7, 0.9, 1.1), strict=True)) / sum(e)
    assert values[2] == pytest.approx(by_hand, rel=1e-6)


def test_gman_has_n_discriminators_and_each_trains_on_its_own(tmp_path):
    trainer = Trainer(config_for(model="gman", data="digits", n_disc=3, steps=1, batch_size=16, width=8,
                                 latent_dim=4), tmp_path / "run", progress=False)
    model = trainer.model
    assert len(model.discriminator.discriminators) == 3
    first = [p.detach().clone() for p in model.discriminator.discriminators[0].parameters()]
    second = [p.detach().clone() for p in model.discriminator.discriminators[1].parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # different initial weights
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    trainer.run_phase(trainer.phases[0])  # the D phase
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters(), strict=True))
    for d in model.discriminator.discriminators:
        assert all(p.grad is not None for p in d.parameters())
    logs = trainer.train_step()
    assert {"loss/D", "loss/G", "D/real", "G/loss_mean", "G/loss_max"} <= set(logs)
    assert logs["G/loss_max"] >= logs["G/loss_mean"]


def test_gman_g_loss_matches_its_definition_on_the_models_own_discriminators():
    model = build_model(config_for(model="gman", data="digits", n_disc=2, gman_lambda=3.0, width=8,
                                   latent_dim=4), DIGITS)
    z = model.sample_latent(8, torch.Generator().manual_seed(0))
    from ganforge.models import Batch

    torch.manual_seed(0)
    loss, _ = model.g_loss(Batch(None, None, z))
    x = model.generate(z)
    per_d = torch.stack([torch.nn.functional.softplus(-d(x)).mean() for d in model.discriminator.discriminators])
    weights = torch.exp(3.0 * per_d) / torch.exp(3.0 * per_d).sum()
    torch.testing.assert_close(loss, (weights * per_d).sum())


def test_gman_star_learns_lambda_and_keeps_it_non_negative(tmp_path):
    trainer = Trainer(config_for(model="gman", data="digits", n_disc=2, gman_learn_lambda="on", gman_lambda=0.5,
                                 steps=3, batch_size=16, width=8, latent_dim=4, sample_every=10), tmp_path / "run",
                      progress=False)
    g_phase = trainer.phases[-1]
    assert any(p is trainer.model.gman_lambda for p in g_phase.params)
    trainer.fit()
    lam = trainer.model.gman_lambda.item()
    assert lam != 0.5 and lam >= 0.0
    assert GMAN_LAMBDA_REWARD == 0.001
    with torch.no_grad():  # a step that took lambda below 0 is projected back onto lambda >= 0
        trainer.model.gman_lambda.fill_(-0.3)
    g_phase.after_step()
    assert trainer.model.gman_lambda.item() == 0.0


def test_gman_options_belong_to_gman():
    with pytest.raises(UserError, match="n_disc"):
        config_for(model="dcgan", n_disc=2)
    with pytest.raises(UserError, match="gman_lambda"):
        config_for(model="dcgan", gman_lambda=1.0)
    with pytest.raises(UserError, match="model gman: option pack=2 is invalid"):
        build_model(config_for(model="gman", data="digits", pack=2), DIGITS)
    assert config_for(model="gman").n_disc == 2  # the recipe's default
