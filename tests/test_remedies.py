"""The remedies of Salimans et al. (2016), Metz et al. (2017), PacGAN, instance noise, TTUR and G EMA: each
piece against a hand computation on fixed tensors, then wired into the phases the shared loop runs (each
phase's loss equal to the plain one plus the hand-computed term), then as options of the loop."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.models import DataInfo
from ganforge.models.base import Batch, config_for
from ganforge.objectives import discriminator_loss, discriminator_loss_smoothed
from ganforge.remedies import (
    HistoricalAverage,
    MinibatchDiscrimination,
    PackedDiscriminator,
    ema_decay,
    feature_matching_loss,
    instance_noise_std,
    unrolled_parameters,
    update_ema_,
)
from ganforge.train import Trainer, build_model

POINTS = DataInfo("points", (2,))
DIGITS = DataInfo("image", (1, 8, 8), 10)


@pytest.mark.parametrize("twice", [False, True])
def test_minibatch_discrimination_matches_the_sum_over_other_examples(twice):
    layer = MinibatchDiscrimination(2, kernels=2, kernel_dim=2, twice_differentiable=twice)
    with torch.no_grad():
        layer.T.copy_(torch.tensor([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, 0.5, 0.0]]))
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    T = layer.T.detach()
    m = [[[float(f[i] @ T[:, 2 * b + c]) for c in range(2)] for b in range(2)] for i in range(3)]
    expected = [[sum(math.exp(-sum(abs(m[i][b][c] - m[j][b][c]) for c in range(2))) for j in range(3) if j != i)
                 for b in range(2)] for i in range(3)]
    # by hand for i = 0, b = 0: M_0 = 0, M_1,0 = (1, 0), M_2,0 = (0, 2) -> exp(-1) + exp(-2)
    assert expected[0][0] == pytest.approx(math.exp(-1) + math.exp(-2))
    torch.testing.assert_close(layer(f), torch.tensor(expected))


def test_minibatch_discrimination_sees_a_collapsed_batch():
    layer = MinibatchDiscrimination(3, kernels=4)
    same, spread = torch.ones(5, 3), torch.randn(5, 3, generator=torch.Generator().manual_seed(0)) * 10
    assert torch.allclose(layer(same), torch.full((5, 4), 4.0))  # 4 other examples at distance 0
    assert (layer(spread) < 4.0).all()


def test_feature_matching_is_the_squared_distance_of_feature_means():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]], requires_grad=True)  # mean (1, 1)
    loss = feature_matching_loss(real, fake)
    assert loss.detach().item() == pytest.approx((2 - 1) ** 2 + (3 - 1) ** 2)
    loss.backward()  # d/d fake_ij = -2 (mean_real - mean_fake)_j / 3
    torch.testing.assert_close(fake.grad, torch.tensor([[-2 / 3, -4 / 3]]).expand(3, 2))


def test_historical_average_penalty_and_running_mean():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    history = HistoricalAverage([p])
    assert history.penalty().detach().item() == 0.0  # the mean starts at the initial value
    with torch.no_grad():
        p.copy_(torch.tensor([3.0, 0.0]))
    assert history.penalty().detach().item() == pytest.approx(2 ** 2 + 2 ** 2)
    history.update_()  # mean of (1, -2) and (3, 0) = (2, -1)
    with torch.no_grad():
        p.copy_(torch.tensor([5.0, 2.0]))
    assert history.penalty().detach().item() == pytest.approx(3 ** 2 + 3 ** 2)
    history.update_()  # mean of three = (3, 0)
    torch.testing.assert_close(history.mean_0, torch.tensor([3.0, 0.0]))
    assert int(history.count) == 3


def test_one_sided_label_smoothing_by_hand():
    lr, lf = torch.tensor([2.0, -1.0]), torch.tensor([0.5])
    a = 0.1
    d = lambda l: 1 / (1 + math.exp(-l))  # noqa: E731
    by_hand = (-((1 - a) * math.log(d(2.0)) + a * math.log(1 - d(2.0)))
               - ((1 - a) * math.log(d(-1.0)) + a * math.log(1 - d(-1.0)))) / 2 - math.log(1 - d(0.5))
    assert float(discriminator_loss_smoothed(lr, lf, a)) == pytest.approx(by_hand, rel=1e-6)
    assert float(discriminator_loss_smoothed(lr, lf, 0.0)) == pytest.approx(float(discriminator_loss(lr, lf)))


def test_packing_concatenates_consecutive_examples():
    seen = []
    inner = lambda x: seen.append(x) or x.sum(tuple(range(1, x.dim())))  # noqa: E731
    points = torch.arange(12.0).view(6, 2)
    PackedDiscriminator(inner, 3)(points)
    torch.testing.assert_close(seen[-1], torch.tensor([[0.0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]))
    images = torch.arange(16.0).view(4, 1, 2, 2)
    out = PackedDiscriminator(inner, 2)(images)
    assert seen[-1].shape == (2, 2, 2, 2)
    torch.testing.assert_close(seen[-1][1, 0], images[2, 0])
    torch.testing.assert_close(seen[-1][1, 1], images[3, 0])
    assert out.shape == (2,)
    with pytest.raises(ValueError):
        PackedDiscriminator(inner, 3)(images)


def test_instance_noise_anneals_linearly_to_zero():
    assert [instance_noise_std(0.4, s, 4) for s in range(6)] == pytest.approx([0.4, 0.3, 0.2, 0.1, 0.0, 0.0])


def test_ema_half_life_and_update():
    beta = ema_decay(1000.0, 100)
    assert beta ** 10 == pytest.approx(0.5)  # 10 steps of 100 images halve the old weights' share
    avg, cur = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        avg.weight.fill_(1.0), cur.weight.fill_(3.0)
    update_ema_(avg, cur, 0.75)
    assert avg.weight.item() == pytest.approx(0.75 * 1 + 0.25 * 3)


def test_unrolled_parameters_are_gradient_steps_and_leave_the_module_alone():
    d = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        d.weight.fill_(2.0)
    x = torch.tensor([[3.0]])
    # loss(w) = (w x)^2 / 2 -> grad w x^2 = 9 w; two steps of 0.01: w <- w (1 - 0.09) twice
    params = unrolled_parameters(d, lambda p: torch.func.functional_call(d, p, (x,)).square().sum() / 2, 2, 0.01)
    assert params["weight"].item() == pytest.approx(2.0 * 0.91 ** 2)
    assert d.weight.item() == 2.0


def _batch(model, m=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, *model.data.shape, generator=g).clamp(-1, 1)
    return Batch(x, None, model.sample_latent(m, g))


@pytest.mark.parametrize("model,data", [("gan", POINTS), ("dcgan", DIGITS)])
def test_unrolled_g_step_leaves_d_unchanged_and_changes_g_gradient(model, data):
    torch.manual_seed(0)
    plain = build_model(config_for(model=model, data="digits", width=8, latent_dim=4), data)
    torch.manual_seed(0)
    unrolled = build_model(config_for(model=model, data="digits", width=8, latent_dim=4, unroll=3, unroll_lr=0.5),
                           data)
    before = {k: v.clone() for k, v in unrolled.discriminator.state_dict().items()}
    grads = []
    for m in (plain, unrolled):
        g_phase = m.phases()[1]
        assert g_phase.needs_real == (m is unrolled)
        m.discriminator.requires_grad_(False)  # as the loop freezes D during G's phase
        loss, _ = g_phase.loss(_batch(m))
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.generator.parameters()]))
    for k, v in unrolled.discriminator.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)  # weights and batch-norm statistics alike
    assert all(p.grad is None for p in unrolled.discriminator.parameters())
    assert not torch.allclose(grads[0], grads[1])  # the look-ahead D changes G's gradient


@pytest.mark.parametrize("options", [
    dict(label_smoothing=0.2), dict(feature_matching=1.0), dict(minibatch_features=4),
    dict(historical_averaging=0.1), dict(unroll=2), dict(pack=2), dict(instance_noise=0.3),
    dict(lr_d=4e-4, lr_g=1e-4), dict(g_ema=500.0),
    dict(pack=2, minibatch_features=3, feature_matching=0.5, label_smoothing=0.1, g_ema=100.0),
    dict(unroll=2, minibatch_features=3),
])
@pytest.mark.parametrize("model,data", [("gan", "ring8"), ("dcgan", "digits"), ("wgan-gp", "ring8")])
def test_each_remedy_trains_a_step(tmp_path, model, data, options):
    if "label_smoothing" in options and model == "wgan-gp":
        with pytest.raises(UserError, match="label_smoothing"):
            Trainer(config_for(model=model, data=data, steps=1, batch_size=8, width=8, latent_dim=4, **options),
                    tmp_path / "run", progress=False)
        return
    cfg = config_for(model=model, data=data, steps=2, batch_size=8, width=8, latent_dim=4, sample_every=10,
                     checkpoint_every=10, **options)
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    logs = trainer.train_step()
    assert all(torch.isfinite(v).all() for v in logs.values())
    lrs = {name: opt.param_groups[0]["lr"] for name, opt in trainer.optimizers.items()}
    assert lrs == {"D": cfg.lr_d or cfg.resolved_lr, "G": cfg.lr_g or cfg.resolved_lr}


def test_g_ema_is_what_eval_mode_samples_and_resumes_bit_identically(tmp_path):
    options = dict(model="gan", data="ring8", batch_size=16, width=8, latent_dim=4, sample_every=100,
                   checkpoint_every=2, g_ema=200.0, historical_averaging=0.1)
    straight = Trainer(config_for(steps=4, **options), tmp_path / "a", progress=False)
    straight.fit()
    model = straight.model
    z = model.sample_latent(5, torch.Generator().manual_seed(0))
    model.eval()
    torch.testing.assert_close(model.generate(z), model.generator_ema(z))
    assert not torch.allclose(model.generate(z), model.generator(z))
    Trainer(config_for(steps=2, **options), tmp_path / "b", progress=False).fit()
    resumed = Trainer(config_for(steps=4, **options), tmp_path / "b", resume=True, progress=False)
    resumed.fit()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


@pytest.mark.parametrize("model", ["vae", "ae", "infogan", "sgan"])
def test_models_that_are_not_plain_gans_refuse_remedies(tmp_path, model):
    with pytest.raises(UserError, match=f"model {model}: option unroll=2 is invalid"):
        build_model(config_for(model=model, data="digits", unroll=2), DIGITS)


def test_cgan_refuses_packing_but_takes_label_smoothing():
    with pytest.raises(UserError, match="model cgan: option pack=2"):
        build_model(config_for(model="cgan", data="digits", pack=2), DIGITS)
    model = build_model(config_for(model="cgan", data="digits", width=8, label_smoothing=0.1, g_ema=100.0), DIGITS)
    assert model.generator_ema is not None


def test_pack_must_divide_the_batch():
    with pytest.raises(UserError, match="pack"):
        config_for(model="gan", batch_size=10, pack=3)


def _twins(**options):
    """A plain gan and the same gan (same weights) with ``options``, both in eval mode (no dropout: the losses
    of two calls are comparable), and one fixed minibatch."""
    common = dict(model="gan", data="ring8", width=8, latent_dim=4)
    torch.manual_seed(0)
    plain = build_model(config_for(**common), POINTS)
    torch.manual_seed(0)
    remedied = build_model(config_for(**common, **options), POINTS)
    for a, b in zip(plain.parameters(), remedied.parameters(), strict=True):
        assert torch.equal(a, b)
    plain.eval(), remedied.eval()
    return plain, remedied, _batch(plain, m=16)


def test_label_smoothing_is_what_the_d_phase_minimises():
    plain, smoothed, batch = _twins(label_smoothing=0.2)
    d = plain.discriminator
    logits_real, logits_fake = d(batch.x_real).flatten(), d(plain.generate(batch.latent)).flatten()
    loss, _ = smoothed.phases()[0].loss(batch)
    torch.testing.assert_close(loss, discriminator_loss_smoothed(logits_real, logits_fake, 0.2))
    assert not torch.allclose(loss, plain.phases()[0].loss(batch)[0])


def test_feature_matching_adds_its_weighted_term_to_the_g_phase():
    from ganforge.remedies import discriminator_features

    plain, matched, batch = _twins(feature_matching=0.5)
    expected = feature_matching_loss(discriminator_features(plain.discriminator, batch.x_real),
                                     discriminator_features(plain.discriminator, plain.generate(batch.latent)))
    assert expected.item() > 0
    loss, logs = matched.phases()[1].loss(batch)
    torch.testing.assert_close(logs["G/feature_matching"], expected)
    torch.testing.assert_close(loss, plain.phases()[1].loss(batch)[0] + 0.5 * expected)


def test_historical_averaging_adds_the_distance_to_the_mean_of_past_weights_to_both_phases():
    plain, averaged, batch = _twins(historical_averaging=0.1)
    d_phase, g_phase = averaged.phases()
    with torch.no_grad():
        for p in averaged.discriminator.parameters():
            p.add_(0.05)  # the mean of past weights is still the initial ones
    moved = sum(p.numel() for p in averaged.discriminator.parameters()) * 0.05 ** 2
    plain.discriminator.load_state_dict(averaged.discriminator.state_dict())
    loss, logs = d_phase.loss(batch)
    assert logs["D/historical_average"].item() == pytest.approx(moved, rel=1e-4)
    torch.testing.assert_close(loss, plain.phases()[0].loss(batch)[0] + 0.1 * logs["D/historical_average"])
    d_phase.after_step()  # the mean of past D weights now includes the moved ones: half-way
    loss, logs = d_phase.loss(batch)
    assert logs["D/historical_average"].item() == pytest.approx(moved / 4, rel=1e-4)
    # G's weights have not moved from the mean of their past values: no penalty
    assert g_phase.loss(batch)[1]["G/historical_average"].item() == 0.0


def test_instance_noise_has_the_annealed_std_and_vanishes_at_the_end():
    _, noisy, _ = _twins(instance_noise=0.3)
    x = torch.zeros(20000, 2)
    noisy.on_step(0, 100)
    assert float(noisy.d_input(x).std()) == pytest.approx(0.3, rel=0.02)
    noisy.on_step(50, 100)
    assert float(noisy.d_input(x).std()) == pytest.approx(0.15, rel=0.02)
    noisy.on_step(100, 100)
    assert torch.equal(noisy.d_input(x), x)
