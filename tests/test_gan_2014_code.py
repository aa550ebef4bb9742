"""The 2014 GAN as its authors' code trained it (``--gan-recipe 2014-code``) and the schedules that code used."""

import pytest
import torch
import torch.nn.functional as F

from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.models import Batch
from ganforge.train import Trainer


def cfg_2014(**kw):
    base = dict(model="gan", data="digits", gan_recipe="2014-code", batch_size=16, width=40, latent_dim=8,
                optimizer="sgd", lr=0.1, sample_every=1000, checkpoint_every=1000)
    base.update(kw)
    return TrainConfig(**base)


def test_generator_starts_at_the_mean_image_through_the_logit_of_the_pixel_means(tmp_path):
    trainer = Trainer(cfg_2014(), tmp_path / "run", progress=False)
    x = torch.from_numpy(trainer.dataset.split("train")).float() / 255  # (n, 1, 8, 8) in [0, 1]
    mean = x[:10_000].mean(0).flatten().clamp(1e-3, 1 - 1e-3)
    bias = trainer.generator.net[-2].bias.detach()
    torch.testing.assert_close(torch.sigmoid(bias), mean, rtol=1e-5, atol=1e-6)
    # weights drawn from the 2014 ranges: G +-0.05, D +-0.005
    assert trainer.generator.net[0].weight.abs().max() <= 0.05
    assert trainer.discriminator.net[2].linear.weight.abs().max() <= 0.005
    # D reads pixels in [0, 1]: its layers see (x + 1) / 2 of a model-range image x
    d = trainer.discriminator.eval()
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    torch.testing.assert_close(d(x), d.net((x + 1) / 2).squeeze(1))


def test_simultaneous_step_gives_d_the_gradient_of_half_its_log_loss_and_g_that_of_the_nonsaturating_loss(tmp_path):
    trainer = Trainer(cfg_2014(), tmp_path / "run", progress=False)
    model = trainer.model.eval()  # no dropout: the two D passes on the samples agree exactly
    (phase,) = trainer.phases
    assert phase.name == "GD"
    g = torch.Generator().manual_seed(0)
    batch = Batch(torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, None, model.sample_latent(16, g))

    model.zero_grad()
    loss, _ = phase.loss(batch)
    loss.backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}

    def grads_of(loss_fn, params):
        model.zero_grad()
        loss_fn().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if n.split(".")[0] == params}

    def d_obj():  # 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)) by hand
        real, fake = model.discriminator(batch.x_real), model.discriminator(model.generate(batch.latent).detach())
        return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones(16))
                      + F.binary_cross_entropy_with_logits(fake, torch.zeros(16)))

    def g_obj():  # BCE(D(G(z)), 1): the non-saturating generator loss
        return F.binary_cross_entropy_with_logits(model.discriminator(model.generate(batch.latent)), torch.ones(16))

    want = {**grads_of(d_obj, "discriminator"), **grads_of(g_obj, "generator")}
    assert set(want) == set(got)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-7, msg=name)


def test_learning_rate_decays_per_iteration_and_momentum_ramps_linearly_over_the_epochs(tmp_path):
    trainer = Trainer(cfg_2014(lr_decay=1.01, min_lr=0.09, momentum=0.5, momentum_final=0.7,
                           momentum_ramp_epochs=2.0), tmp_path / "run", progress=False)
    (opt,) = trainer.optimizers.values()
    seen = []
    for _ in range(12):
        trainer.train_step()
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
    steps_per_epoch = trainer.steps_per_epoch
    for t, (lr, momentum) in enumerate(seen):  # the values used by update t (0-based)
        assert lr == pytest.approx(max(0.1 / 1.01 ** t, 0.09))
        assert momentum == pytest.approx(0.5 + 0.2 * min(1.0, t / (2.0 * steps_per_epoch)))
    assert seen[-1][0] == pytest.approx(0.09), "the floor holds once reached"


def test_resumed_2014_run_continues_the_schedule_exactly(tmp_path):
    cfg = cfg_2014(lr_decay=1.05, momentum_final=0.7, momentum_ramp_epochs=0.5, steps=6)
    straight = Trainer(cfg, tmp_path / "a", progress=False)
    straight.fit()
    first = Trainer(cfg_2014(lr_decay=1.05, momentum_final=0.7, momentum_ramp_epochs=0.5, steps=3),
                    tmp_path / "b", progress=False)
    first.fit()
    resumed = Trainer(cfg, tmp_path / "b", resume=True, progress=False)
    resumed.fit()
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("field,value", [("lr_decay", 0.5), ("min_lr", -1.0), ("momentum_final", 1.0),
                                         ("momentum_ramp_epochs", 0.0), ("gan_recipe", "2015")])
def test_bad_schedule_values_are_user_errors(field, value):
    with pytest.raises(UserError, match=field):
        TrainConfig(**{field: value}).validate()
