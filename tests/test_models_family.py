"""The GAN family as registered models trained by the shared loop (issue 4).

Every model trains a step on digits (and toy points where it can) with finite losses; the pieces that define
each paper behave as the paper says; one short learning check per family.
"""

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.config import TrainConfig
from ganforge.data import ArrayDataset
from ganforge.errors import UserError
from ganforge.models import MODELS, Batch, DataInfo, config_for
from ganforge.models.ae import Autoencoder
from ganforge.models.vae import gaussian_kl_to_standard_normal
from ganforge.objectives import OBJECTIVES
from ganforge.penalties import gradient_penalty
from ganforge.train import Trainer

#: model -> the options its paper needs (the rest of each recipe lives in configs/<model>.yaml)
REQUIRED = {
    "wgan": dict(objective="wasserstein"),
    "wgan-gp": dict(objective="wasserstein"),
    "lsgan": dict(objective="least-squares"),
    "sngan": dict(objective="hinge"),
    "cgan": {},
    "ae": {},
    "vae": {},
    "sgan": dict(labels=20),
    "gman": dict(n_disc=2),
    "infogan": {},
    "aae": {},
    "ebgan": {},
    "vaegan": {},
}
FAMILY = sorted(REQUIRED)


def small(model, data="digits", **kw):
    base = dict(model=model, data=data, batch_size=16, width=8, latent_dim=8, sample_every=10_000,
                checkpoint_every=10_000, **REQUIRED.get(model, {}))
    base.update(kw)
    return TrainConfig(**base)


def params(module):
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("model", FAMILY)
def test_every_family_model_takes_a_training_step_on_digits_with_finite_losses(model, tmp_path):
    trainer = Trainer(small(model), tmp_path / "run", progress=False)
    logs = trainer.train_step()
    assert logs and all(torch.isfinite(v).all() for v in logs.values()), logs
    x = trainer.generate(trainer.fixed_latent)
    assert x.shape == (64, 1, 8, 8) and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("model", [m for m in FAMILY if "points" in MODELS[m].data_kinds])
def test_every_point_capable_model_trains_on_ring8(model, tmp_path):
    trainer = Trainer(small(model, data="ring8", k_disc=2), tmp_path / "run", progress=False)
    logs = trainer.train_step()
    assert all(torch.isfinite(v).all() for v in logs.values())


@pytest.mark.parametrize("model", ["wgan", "wgan-gp", "sngan", "cgan"])
def test_a_discriminator_phase_leaves_the_generator_unchanged(model, tmp_path):
    trainer = Trainer(small(model), tmp_path / "run", progress=False)
    d_phase = trainer.phases[0]
    g_before, d_before = params(trainer.generator), params(trainer.discriminator)
    trainer.run_phase(d_phase)
    assert all(torch.equal(a, b) for a, b in zip(g_before, params(trainer.generator), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, params(trainer.discriminator), strict=True))


def test_wgan_takes_five_rmsprop_critic_steps_and_clips_the_critic_into_the_box(tmp_path):
    trainer = Trainer(small("wgan", k_disc=5, optimizer="rmsprop"), tmp_path / "run", progress=False)
    assert [ph.repeats for ph in trainer.phases] == [5, 1]
    assert isinstance(trainer.optimizers["D"], torch.optim.RMSprop)
    trainer.train_step()
    assert max(p.abs().max().item() for p in trainer.discriminator.parameters()) <= 0.01


def test_wgan_gp_d_loss_is_the_wasserstein_loss_plus_lambda_times_the_penalty(tmp_path):
    trainer = Trainer(small("wgan-gp", gp_weight=10.0), tmp_path / "run", progress=False)
    model = trainer.model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.discriminator.modules())
    x_real = torch.rand(16, 1, 8, 8) * 2 - 1
    batch = Batch(x_real, None, model.sample_latent(16, torch.Generator().manual_seed(0)))
    torch.manual_seed(5)
    loss, logs = model.d_loss(batch)
    with torch.no_grad():
        x_fake = model.generate(batch.latent)
        w_loss = OBJECTIVES["wasserstein"].d_loss(model.discriminator(x_real), model.discriminator(x_fake))
    torch.manual_seed(5)
    penalty = gradient_penalty(model.discriminator, x_real, x_fake)
    assert logs["D/gp"].item() == pytest.approx(penalty.item(), rel=1e-5)
    assert loss.item() == pytest.approx(w_loss.item() + 10.0 * penalty.item(), rel=1e-5)


def test_gradient_penalised_linear_critic_finds_the_transport_direction_with_slope_one_plus_w_over_two_lambda():
    """Real N(mu, 0.5^2 I), fake N(0, 0.5^2 I), mu = (3, 4), W1 = |mu| = 5. A linear critic f(x) = <w, x>
    maximises <w, mu> - lambda (|w| - 1)^2: w = s mu / |mu| with s = 1 + W1 / (2 lambda) = 1.25 at lambda = 10,
    so the soft penalty overestimates W1 by that factor (6.25), and is exact as lambda grows."""

    class LinearCritic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([0.1, -0.1]))

        def forward(self, x):
            return x @ self.w

    torch.manual_seed(0)
    critic, mu = LinearCritic(), torch.tensor([3.0, 4.0])
    opt = torch.optim.Adam(critic.parameters(), lr=0.02, betas=(0.0, 0.9))
    for _ in range(400):
        x_real, x_fake = mu + 0.5 * torch.randn(512, 2), 0.5 * torch.randn(512, 2)
        loss = OBJECTIVES["wasserstein"].d_loss(critic(x_real), critic(x_fake)) \
            + 10.0 * gradient_penalty(critic, x_real, x_fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.allclose(critic.w.detach(), 1.25 * mu / 5, atol=0.05)


@pytest.mark.parametrize("model,options", [
    ("sngan", dict(objective="hinge", lr=1e-3, beta1=0.0, beta2=0.9)),
    pytest.param("wgan", dict(objective="wasserstein", k_disc=5, optimizer="rmsprop", lr=5e-3),
                 marks=pytest.mark.slow),
])
def test_generator_learns_the_1d_gaussian(model, options, tmp_path):
    """From G(z) ~ 0 to the data N(4, 0.5^2) in 200 steps (gauss1d, the 2014 paper's figure-1 setting)."""
    cfg = small(model, data="gauss1d", batch_size=64, latent_dim=4, width=32, **options)
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    rng = torch.Generator().manual_seed(0)
    before = trainer.generate(trainer.model.sample_latent(5000, rng))
    for _ in range(200):
        trainer.train_step()
    after = trainer.generate(trainer.model.sample_latent(5000, rng))
    assert abs(before.mean().item() - 4) > 3
    assert abs(after.mean().item() - 4) < 0.6 and after.std().item() < 2.0


def two_class_points() -> ArrayDataset:
    """Labelled 1-D points: class 0 ~ N(-3, 0.3^2), class 1 ~ N(+3, 0.3^2)."""
    rng = np.random.default_rng(0)
    y = rng.integers(2, size=4000)
    x = (np.where(y == 0, -3.0, 3.0) + 0.3 * rng.standard_normal(4000)).astype(np.float32)[:, None]
    return ArrayDataset("two-class", "points", {"train": x, "val": x[:100], "test": x[:100]},
                        {"train": y.astype(np.int64)}, num_classes=2)


@pytest.mark.parametrize("conditioning", ["concat", "projection", "auxiliary"])
def test_cgan_generates_each_requested_class(conditioning, tmp_path):
    """G(z | y) follows p(x | y): samples asked for class 0 sit near -3, for class 1 near +3."""
    cfg = small("cgan", data="two-class", batch_size=64, latent_dim=4, width=32, lr=1e-3, conditioning=conditioning)
    trainer = Trainer(cfg, tmp_path / "run", dataset=two_class_points(), progress=False)
    for _ in range(600):  # projection starts from a near-unconditional D (embedding ~ N(0, 0.02))
        trainer.train_step()
    rng = torch.Generator().manual_seed(0)
    for label, centre in ((0, -3.0), (1, 3.0)):
        x = trainer.generate(trainer.model.latent_for_labels(torch.full((2000,), label), rng))
        assert abs(x.median().item() - centre) < 0.5, (label, x.median())


def test_cgan_on_ring8_puts_the_samples_asked_for_each_mode_at_that_mode(tmp_path):
    """ring8 is labelled by the mode each point was drawn from, so G(z | k) is a generator per mode: the samples
    asked for mode k have mode k as their nearest, for every k (a conditional GAN cannot drop a mode it is
    asked for, the collapse of the unconditional GAN on the same data)."""
    from ganforge.data.toy import mixture_means

    cfg = small("cgan", data="ring8", batch_size=64, latent_dim=4, width=64, lr=1e-3)
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    for _ in range(800):
        trainer.train_step()
    means = torch.as_tensor(mixture_means("ring8")[0], dtype=torch.float32)
    rng = torch.Generator().manual_seed(0)
    for mode in range(8):
        x = trainer.generate(trainer.model.latent_for_labels(torch.full((500,), mode), rng))
        nearest = torch.cdist(x, means).argmin(1)
        assert (nearest == mode).float().mean() > 0.95, (mode, torch.bincount(nearest, minlength=8))


def test_projection_discriminator_adds_the_class_embedding_dotted_with_the_last_features():
    """Miyato & Koyama's D(x | y) = psi(phi(x)) + embed(y) . phi(x), checked by hand on a 2-feature body."""
    from ganforge.models.cgan import ProjectionDiscriminator

    head = torch.nn.Linear(2, 1)
    d = ProjectionDiscriminator(torch.nn.Identity(), head, feature_dim=2, num_classes=3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, -1.0]]))
        head.bias.fill_(0.5)
        d.embed.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 1.0]]))
    x, y = torch.tensor([[2.0, 1.0], [2.0, 1.0], [0.0, -1.0]]), torch.tensor([0, 1, 2])
    # psi: 2 - 1 + 0.5 = 1.5 for the first two rows, 0 + 1 + 0.5 = 1.5 for the third; projections 0, 4, -1
    assert torch.allclose(d(x, y), torch.tensor([1.5, 5.5, 0.5]))


def test_cgan_projection_d_for_dcgan_images_has_one_embedding_weight_per_last_feature():
    from ganforge.models.cgan import ProjectionDiscriminator

    model = MODELS["cgan"].build(small("cgan", conditioning="projection", width=8), DataInfo("image", (1, 8, 8), 10))
    d = model.discriminator
    assert isinstance(d, ProjectionDiscriminator) and d.body[0].in_channels == 1  # no label planes on the input
    phi = d.body(torch.zeros(4, 1, 8, 8))
    assert d.embed.weight.shape == (10, phi[0].numel())
    assert d(torch.zeros(4, 1, 8, 8), torch.arange(4)).shape == (4,)


def test_acgan_losses_add_the_class_heads_cross_entropy_with_the_requested_label():
    """AC-GAN: D's loss = the GAN loss + CE(class head on reals, y) + CE(class head on fakes, y); G's = its
    nonsaturating loss -log sigmoid(D(G(z, y))) + CE(class head on G(z, y), y)."""
    from ganforge.models.cgan import AuxiliaryClassifierDiscriminator

    model = MODELS["cgan"].build(small("cgan", conditioning="auxiliary", width=8), DataInfo("image", (1, 8, 8), 10))
    d = model.discriminator
    assert isinstance(d, AuxiliaryClassifierDiscriminator) and d.body[0].in_channels == 1
    torch.manual_seed(0)
    x_real, y = torch.rand(6, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 3, 4, 5])
    z = torch.randn(6, 8)
    batch = Batch(x_real, y, (z, y))
    d_loss, logs = model.d_loss(batch)  # D in train mode: batch norm on each minibatch's own statistics
    x_fake = model.generator(z, y)
    logits_real, classes_real = d.scores(x_real)
    logits_fake, classes_fake = d.scores(x_fake)
    by_hand = (-F.logsigmoid(logits_real).mean() - F.logsigmoid(-logits_fake).mean()
               + F.cross_entropy(classes_real, y) + F.cross_entropy(classes_fake, y))
    assert torch.allclose(d_loss, by_hand, atol=1e-5) and logs["D/class_loss"] > 0
    g_loss, _ = model.g_loss(batch)
    logits, classes = d.scores(model.generator(z, y))
    assert torch.allclose(g_loss, -F.logsigmoid(logits).mean() + F.cross_entropy(classes, y), atol=1e-5)


def test_cgan_refuses_unlabelled_data():
    from ganforge.errors import UserError

    with pytest.raises(UserError, match="cgan needs labelled data"):
        MODELS["cgan"].build(small("cgan", data="ring8"), DataInfo("points", (2,), None))


def test_vae_kl_term_matches_the_closed_form_and_torch_distributions():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # 1/2 (1 + 1 - 1 - 0) + 1/2 (0 + 4 - 1 - log 4)
    assert gaussian_kl_to_standard_normal(mu, logvar).item() == pytest.approx(0.5 + 0.5 * (3 - math.log(4)))
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    reference = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(gaussian_kl_to_standard_normal(mu, logvar), reference, atol=1e-5)


def held_out_reconstruction_error(trainer) -> float:
    x = torch.from_numpy(trainer.dataset.split("val")).float().div(127.5).sub(1)
    trainer.model.eval()
    with torch.no_grad():
        err = (trainer.model.reconstruct(x) - x).square().mean().item()
    trainer.model.train()
    return err


@pytest.mark.parametrize("model,options", [("vae", dict(latent_dim=8, width=128)),
                                           ("ae", dict(ae_kind="mlp", latent_dim=16)),
                                           ("ae", dict(ae_kind="deep", latent_dim=16)),
                                           ("ae", dict(ae_kind="conv")),
                                           ("ae", dict(ae_kind="denoise"))])
def test_autoencoders_held_out_reconstruction_error_falls(model, options, tmp_path):
    trainer = Trainer(small(model, batch_size=64, lr=2e-3, **options), tmp_path / "run", progress=False)
    before = held_out_reconstruction_error(trainer)
    for _ in range(150):
        trainer.train_step()
    after = held_out_reconstruction_error(trainer)
    assert after < 0.6 * before, (before, after)


def test_denoising_autoencoder_corrupts_inputs_with_the_requested_noise_and_others_do_not():
    data = DataInfo("image", (1, 8, 8), 10)
    x = torch.zeros(2000, 1, 8, 8)
    noisy = Autoencoder(TrainConfig(model="ae", ae_kind="denoise", noise_std=0.1), data).corrupt(x)
    assert noisy.std().item() == pytest.approx(0.2, rel=0.05)  # 0.1 in [0, 1] units is 0.2 in [-1, 1]
    assert torch.equal(Autoencoder(TrainConfig(model="ae", ae_kind="conv"), data).corrupt(x), x)


# ---------------------------------------------------------------------------------------------- sgan
def test_sgan_unsupervised_loss_uses_logsumexp_as_the_real_logit():
    """Salimans et al.: D(x) = Z / (Z + 1), Z = sum_k exp l_k. For l = (0, 0): Z = 2, so
    -log D(x) = log(3/2) on a real example and -log(1 - D(G(z))) = log 3 on a fake one; their code's loss_unl
    is half the sum."""
    from ganforge.models.sgan import unsupervised_d_loss

    zeros = torch.zeros(1, 2)
    assert unsupervised_d_loss(zeros, zeros).item() == pytest.approx((math.log(1.5) + math.log(3)) / 2)


def test_sgan_k_logits_loss_equals_a_hand_computation_with_the_fake_logit_fixed_at_zero():
    """Real logits (1, 2, 0): Z = e + e^2 + 1, -log Z/(Z+1) = log(1 + 1/Z); fake logits (0.5, -1, 3) and
    (0, 0, 0): log(1 + Z) for each, averaged. Nothing of the K logits is shifted or dropped."""
    from ganforge.models.sgan import unsupervised_d_loss

    real = torch.tensor([[1.0, 2.0, 0.0]])
    fake = torch.tensor([[0.5, -1.0, 3.0], [0.0, 0.0, 0.0]])
    z_real = math.e + math.e ** 2 + 1
    z_fake = [math.exp(0.5) + math.exp(-1) + math.exp(3), 3.0]
    expected = (math.log(1 + 1 / z_real) + (math.log(1 + z_fake[0]) + math.log(1 + z_fake[1])) / 2) / 2
    assert unsupervised_d_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_weight_norm_layer_equals_torchs_weight_norm_parametrisation():
    from torch.nn.utils.parametrizations import weight_norm

    from ganforge.models.sgan import WeightNormLinear

    torch.manual_seed(0)
    ours = WeightNormLinear(5, 3)
    with torch.no_grad():
        ours.g.copy_(torch.tensor([0.5, 2.0, -1.5]))
        ours.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    reference = weight_norm(torch.nn.Linear(5, 3), dim=0)
    with torch.no_grad():
        reference.parametrizations.weight.original0.copy_(ours.g[:, None])  # g
        reference.parametrizations.weight.original1.copy_(ours.v)  # v
        reference.bias.copy_(ours.bias)
    x = torch.randn(4, 5)
    torch.testing.assert_close(ours(x), reference(x))
    torch.testing.assert_close(ours.weight.norm(dim=1), ours.g.abs())  # each row's length is |g|


def test_salimans_mlp_has_the_papers_layers_noise_only_in_training_and_a_unit_data_dependent_init():
    from ganforge.models.sgan import GaussianNoise, SalimansClassifier, SalimansGenerator, WeightNormLinear

    data = DataInfo("image", (1, 28, 28), 10)
    torch.manual_seed(0)
    d = SalimansClassifier(data)
    widths = [m.v.shape for m in d.modules() if isinstance(m, WeightNormLinear)]
    assert widths == [(1000, 784), (500, 1000), (250, 500), (250, 250), (250, 250), (10, 250)]
    assert [m.std for m in d.modules() if isinstance(m, GaussianNoise)] == [0.3] + [0.5] * 5
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    d.init_from_data(x, torch.Generator().manual_seed(3))
    d.eval()
    first = d.trunk[2]  # the first weight-normalised layer, after Flatten and the input noise
    # as the authors' code, the initialisation sees the training noise: pre-activations of the noisy inputs
    # (the same draws: the first noise is the generator's first draw) have mean 0 and std 1 per unit
    noisy = (x + 1) / 2 + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    pre = first(noisy.flatten(1))
    torch.testing.assert_close(pre.mean(0), torch.zeros(1000), atol=1e-4, rtol=0)
    torch.testing.assert_close(pre.std(0), torch.ones(1000), atol=1e-3, rtol=0)
    # so on clean inputs they are smaller: the noise (std 0.3 on pixels whose std is ~0.29) is counted in
    assert 0.55 < first(((x + 1) / 2).flatten(1)).std(0).mean() < 0.85
    # the hidden layers' scales g are fixed by the initialisation (their train_scale=False), the head's learn
    scales = [(m.g.shape[0], isinstance(m.g, torch.nn.Parameter)) for m in d.modules()
              if isinstance(m, WeightNormLinear)]
    assert scales == [(1000, False), (500, False), (250, False), (250, False), (250, False), (10, True)]
    assert "trunk.2.g" in d.state_dict()  # a buffer: saved in checkpoints all the same
    assert torch.equal(d(x), d(x))  # eval: no noise
    d.train()
    assert not torch.equal(d(x), d(x))
    assert d.features(x).shape == (64, 250)
    g = SalimansGenerator(100, (1, 28, 28))
    out = g(torch.rand(8, 100))
    assert out.shape == (8, 1, 28, 28) and out.min() > -1 and out.max() < 1


def test_salimans_conv_d_is_their_cifar_model_narrowed_with_dropout_and_a_data_dependent_init_per_channel():
    from ganforge.models.sgan import SalimansConvClassifier, WeightNormConv2d, WeightNormLinear, training_noise

    torch.manual_seed(0)
    d = SalimansConvClassifier(DataInfo("image", (1, 28, 28), 10))
    convs = [(m.v.shape, m.stride, m.padding) for m in d.modules() if isinstance(m, WeightNormConv2d)]
    assert convs == [((32, 1, 3, 3), 1, 1), ((32, 32, 3, 3), 2, 1), ((64, 32, 3, 3), 1, 1), ((64, 64, 3, 3), 2, 1),
                     ((64, 64, 3, 3), 1, 0), ((64, 64, 1, 1), 1, 0), ((64, 64, 1, 1), 1, 0)]
    assert [m.p for m in d.modules() if isinstance(m, torch.nn.Dropout)] == [0.2, 0.5, 0.5]
    # hidden scales fixed (buffers, their weight_norm's train_g=False), the output's learns
    assert not any(isinstance(m.g, torch.nn.Parameter) for m in d.modules() if isinstance(m, WeightNormConv2d))
    assert isinstance(d.head[0].g, torch.nn.Parameter)
    x = torch.rand(96, 1, 28, 28) * 2 - 1
    d.init_from_data(x, torch.Generator().manual_seed(3))
    # replaying the training-mode pass with the same draws: every convolution's pre-activations have mean 0 and
    # std 1 per channel (over images and positions), the output's std 0.1 per class (their init_stdv=0.1)
    replay, h, stats = torch.Generator().manual_seed(3), (x + 1) / 2, []
    with torch.no_grad():
        for layer in [*d.trunk, *d.head]:
            if isinstance(layer, (WeightNormConv2d, WeightNormLinear)):
                t = layer(h)
                dims = [i for i in range(t.dim()) if i != 1]
                stats.append((t.mean(dims).abs().max().item(), t.std(dims).mean().item()))
            h = training_noise(layer, h, replay) if isinstance(layer, torch.nn.Dropout) else layer(h)
    assert all(m < 1e-4 for m, _ in stats)
    assert [round(s, 3) for _, s in stats] == [1.0] * 7 + [0.1]
    assert d.features(x).shape == (96, 64) and d(x).shape == (96, 10)
    d.eval()
    assert torch.equal(d(x), d(x))
    # on 8x8 digits the unpadded 3x3 convolution meets a 2x2 map and is padded instead
    assert SalimansConvClassifier(DataInfo("image", (1, 8, 8), 10)).features(x[:4, :, :8, :8]).shape == (4, 64)


@pytest.mark.parametrize("network", ["dcgan", "mlp", "conv"])
def test_the_supervised_only_baseline_is_built_by_the_same_function_as_sgans_discriminator(network):
    from ganforge.models.sgan import build_classifier

    cfg = small("sgan", data="digits", labels=20, sgan_network=network, dropout=0.3)
    data = DataInfo("image", (1, 8, 8), 10)
    model = MODELS["sgan"].build(cfg, data)
    baseline = build_classifier(cfg, data)
    assert type(baseline) is type(model.discriminator)
    ours = {k: v.shape for k, v in model.discriminator.state_dict().items()}
    assert ours == {k: v.shape for k, v in baseline.state_dict().items()}
    kinds = [type(m).__name__ for m in model.discriminator.modules()]
    assert kinds == [type(m).__name__ for m in baseline.modules()]  # the same noise and dropout layers


def test_sgan_labelled_subset_is_drawn_once_seeded_and_kept_across_steps_and_resume(tmp_path):
    def subset(trainer):
        return trainer.model.labelled_x.clone(), trainer.model.labelled_y.clone()

    first = Trainer(small("sgan", labels=30, steps=4, checkpoint_every=2, seed=3), tmp_path / "a", progress=False)
    before = subset(first)
    assert torch.bincount(before[1], minlength=10).tolist() == [3] * 10  # drawn before the first step
    first.fit()
    after = subset(first)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])  # repeated, never redrawn
    same_seed = Trainer(small("sgan", labels=30, steps=4, seed=3), tmp_path / "b", progress=False)
    assert torch.equal(subset(same_seed)[0], before[0])
    other_seed = Trainer(small("sgan", labels=30, steps=4, seed=4), tmp_path / "c", progress=False)
    assert not torch.equal(subset(other_seed)[0], before[0])
    resumed = Trainer(small("sgan", labels=30, steps=6, checkpoint_every=2, seed=3), tmp_path / "a", resume=True,
                      progress=False)
    resumed.fit()
    assert torch.equal(subset(resumed)[0], before[0]) and torch.equal(subset(resumed)[1], before[1])


def test_feature_matching_is_the_squared_distance_between_mean_features():
    from ganforge.models.sgan import feature_matching_loss

    real, fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    assert feature_matching_loss(real, fake).item() == pytest.approx((2 - 1) ** 2 + (3 - 1) ** 2)


def test_sgan_keeps_exactly_n_class_balanced_labelled_examples_and_saves_them_in_checkpoints(tmp_path):
    from ganforge.run import load_run

    trainer = Trainer(small("sgan", labels=25, steps=20), tmp_path / "run", progress=False)
    trainer.fit()
    model = trainer.model
    assert model.num_labelled == 25
    assert torch.bincount(model.labelled_y, minlength=10).tolist() == [3] * 5 + [2] * 5
    train_x = torch.from_numpy(trainer.dataset.split("train")).float().div(127.5).sub(1)
    train_y = torch.from_numpy(trainer.dataset.labels["train"])
    for x, y in zip(model.labelled_x, model.labelled_y, strict=True):  # real training examples, true labels
        match = (train_x - x).flatten(1).abs().amax(1) < 1e-6
        assert match.any() and (train_y[match] == y).all()
    loaded = load_run(tmp_path / "run").model
    assert torch.equal(loaded.labelled_y, model.labelled_y) and torch.equal(loaded.labelled_x, model.labelled_x)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_sgan_discriminator_learns_to_classify_from_fifty_labels(dropout, tmp_path, monkeypatch):
    import ganforge.models.sgan as sgan_module
    from ganforge.models.sgan import sgan_test_accuracy, supervised_baseline_accuracy

    trainer = Trainer(small("sgan", labels=50, batch_size=32, width=8, steps=100, lr=1e-3, dropout=dropout),
                      tmp_path / "run", progress=False)
    dropouts = [m.p for m in trainer.model.discriminator.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == ([dropout] * 2 if dropout else [])  # after each of the two hidden layers at 8x8
    trainer.fit()
    accuracy = sgan_test_accuracy(trainer.model, trainer.dataset)
    assert accuracy["labels"] == 50 and accuracy["accuracy"] > 0.5  # chance is 0.1
    baseline = supervised_baseline_accuracy(trainer.model, trainer.dataset, steps=100, lrs=(1e-4, 1e-3))
    assert baseline["labels"] == 50 and baseline["accuracy"] > 0.5
    assert set(baseline["sweep"]) == {1e-4, 1e-3} and baseline["val_accuracy"] == max(baseline["sweep"].values())
    assert not baseline["cached"]
    assert baseline["select_every"] == 0 and baseline["update"] == 100  # no best.pt kept: the last state

    # the sweep is kept: evaluating the same run again trains nothing and gives the same figures
    def trained_again(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(sgan_module, "train_supervised_classifier", trained_again)
    again = supervised_baseline_accuracy(trainer.model, trainer.dataset, steps=100, lrs=(1e-4, 1e-3))
    assert again == {**baseline, "cached": True}
    for changed in (dict(seed=1), dict(steps=99), dict(use_cache=False)):  # another input, or no cache: trains
        with pytest.raises(AssertionError, match="trained again"):
            supervised_baseline_accuracy(trainer.model, trainer.dataset, **{"steps": 100, "lrs": (1e-4, 1e-3),
                                                                           **changed})


def test_the_supervised_only_baseline_is_chosen_on_validation_as_often_as_sgans_best_pt(tmp_path):
    """Judged alike: a run that kept best.pt by val_accuracy every 10 steps gets a baseline scored on the same
    validation images every 10 updates, and the (lr, update) that scores best there (the first scored on a
    tie) gives the test accuracy. Scoring draws no random numbers: the last state equals an unscored training's."""
    from ganforge.models.sgan import (
        VAL_EXAMPLES,
        baseline_select_every,
        classifier_accuracy,
        supervised_baseline_accuracy,
        train_supervised_classifier,
    )

    trainer = Trainer(small("sgan", labels=50, batch_size=32, width=8, steps=40, lr=1e-3, eval_every=10,
                            eval_metrics="val_accuracy", keep_best="val_accuracy"), tmp_path / "run", progress=False)
    trainer.fit()
    model, ds, cpu = trainer.model, trainer.dataset, torch.device("cpu")
    assert baseline_select_every(model.cfg) == 10
    baseline = supervised_baseline_accuracy(model, ds, lrs=(1e-3, 1e-2), use_cache=False)

    x_val = torch.from_numpy(np.array(ds.split("val")[:VAL_EXAMPLES]))
    y_val = torch.from_numpy(ds.labels["val"][:VAL_EXAMPLES])
    x_test, y_test = torch.from_numpy(np.array(ds.split("test"))), torch.from_numpy(ds.labels["test"])
    x_lab, y_lab = model.labelled_x, model.labelled_y
    val, test, last = {}, {}, {}
    for lr in (1e-3, 1e-2):
        def visit(t, network, lr=lr):
            assert not network.training
            val[lr, t] = classifier_accuracy(network, x_val, y_val, cpu)
            test[lr, t] = classifier_accuracy(network, x_test, y_test, cpu)
            last[lr] = copy.deepcopy(network.state_dict())

        train_supervised_classifier(model.cfg, model.data, x_lab, y_lab, 40, lr, 0, 10, visit)
    assert list(val) == [(lr, t) for lr in (1e-3, 1e-2) for t in (10, 20, 30, 40)]
    chosen = next(k for k in val if val[k] == max(val.values()))  # the first to reach the best score
    assert (baseline["lr"], baseline["update"]) == chosen and baseline["val_accuracy"] == val[chosen]
    assert baseline["accuracy"] == test[chosen] and baseline["select_every"] == 10
    assert baseline["sweep"] == {lr: max(v for (r, _), v in val.items() if r == lr) for lr in (1e-3, 1e-2)}
    unscored = train_supervised_classifier(model.cfg, model.data, x_lab, y_lab, 40, 1e-2, 0)
    for name, value in unscored.state_dict().items():
        assert torch.equal(value, last[1e-2][name]), name


def test_eval_json_names_the_checkpoint_and_the_baselines_choice(tmp_path, capsys):
    """``ganforge eval RUN --checkpoint best --metrics accuracy`` writes which checkpoint it scored and the
    supervised-only baseline's chosen (lr, update) and seed, equal to a direct computation on that checkpoint,
    and says as each of the sweep's learning rates is trained (minutes each on a real run)."""
    from ganforge.cli import main
    from ganforge.models.sgan import supervised_baseline_accuracy
    from ganforge.run import load_run

    run = tmp_path / "run"
    Trainer(small("sgan", labels=50, batch_size=32, width=8, steps=20, lr=1e-3, eval_every=10,
                  eval_metrics="val_accuracy", keep_best="val_accuracy"), run, progress=False).fit()
    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--checkpoint", "best", "--metrics", "accuracy", "--seed", "3", "--no-cache",
                 "--threads", "1", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    best = load_run(run, "best")
    direct = supervised_baseline_accuracy(best, best.dataset(), seed=3, use_cache=False)
    assert record["checkpoint"] == "best" and record["step"] == best.step
    assert record["values"]["accuracy_supervised_only"] == direct["accuracy"]
    assert record["notes"]["supervised_only"] == {"lr": direct["lr"], "update": direct["update"], "steps": 20,
                                                  "select_every": 10, "val_accuracy": direct["val_accuracy"],
                                                  "seed": 3}
    said = capsys.readouterr()
    for i, (lr, best_val) in enumerate(direct["sweep"].items(), 1):
        assert f"supervised-only baseline: lr {lr:.0e} ({i}/3) trained, 20 updates in" in said.out + said.err
        assert f"best validation accuracy {best_val:.4f}" in said.out + said.err


def test_the_table_from_scored_runs_groups_by_recipe_and_labels_and_says_when_a_margin_beats_the_spread(
        tmp_path, repo_script):
    """bench/sgan_table.py --from-runs: mean and sample sd over seeds of each column and of the paired
    differences, equal to numpy's; "beyond" only when the mean difference exceeds all three sds."""
    import yaml

    table = repo_script("bench/sgan_table.py")
    accuracies = {  # (steps, labels, seed): (sgan, supervised)
        (3000, 100, 0): (0.70, 0.68), (3000, 100, 1): (0.72, 0.70), (3000, 100, 2): (0.74, 0.71),
        (3000, 50, 0): (0.66, 0.65), (3000, 50, 1): (0.60, 0.64), (12000, 100, 0): (0.75, 0.70)}
    dirs = []
    for (steps, labels, seed), (sgan, supervised) in accuracies.items():
        d = tmp_path / f"s{steps}-l{labels}-{seed}"
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump({"data": "fashion-mnist", "steps": steps, "labels": labels,
                                                       "seed": seed, "lr": 3e-3, "sample_every": seed + 1}))
        (d / "eval.json").write_text(json.dumps({"step": steps, "checkpoint": "best", "values": {
            "accuracy": sgan, "accuracy_supervised_only": supervised, "labels": labels}}))
        dirs.append(d)
    rows = table.summarise([table.scored_run(d) for d in dirs])
    assert [(r["recipe"], r["labels"], r["seeds"]) for r in rows] == [
        ({"data": "fashion-mnist", "steps": 12000}, 100, [0]),
        ({"data": "fashion-mnist", "steps": 3000}, 100, [0, 1, 2]),
        ({"data": "fashion-mnist", "steps": 3000}, 50, [0, 1])]  # sample_every is bookkeeping, not recipe
    single, hundred, fifty = rows
    sgan, supervised = np.array([0.70, 0.72, 0.74]), np.array([0.68, 0.70, 0.71])
    assert hundred["sgan"] == pytest.approx((sgan.mean(), sgan.std(ddof=1)))
    assert hundred["supervised"] == pytest.approx((supervised.mean(), supervised.std(ddof=1)))
    diff = 100 * (sgan - supervised)
    assert hundred["difference"] == pytest.approx((diff.mean(), diff.std(ddof=1)))
    assert hundred["by_seed"] == pytest.approx(diff.tolist())
    # +2.33 points against sds of 2.0 (sgan), 1.53 (supervised) and 0.58 (differences): beyond
    assert hundred["beyond"] and not fifty["beyond"]  # 50 labels: -1.5 on the mean
    assert not single["beyond"] and math.isnan(single["difference"][1])  # one seed: no spread known


@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_sgan_salimans_discriminators_learn_to_classify_from_fifty_labels(tmp_path, network):
    from ganforge.models.sgan import sgan_test_accuracy

    trainer = Trainer(small("sgan", labels=50, batch_size=32, steps=60, lr=3e-3, sgan_network=network),
                      tmp_path / "run", progress=False)
    trainer.fit()
    assert sgan_test_accuracy(trainer.model, trainer.dataset)["accuracy"] > 0.5  # chance is 0.1


def test_sgan_val_accuracy_is_the_class_heads_share_right_on_the_validation_images_in_eval_mode(tmp_path):
    """``--eval-metrics val_accuracy`` (the stopping rule's sgan metric): D's argmax on the validation split,
    without noise, computed here by hand; D stays in training mode afterwards."""
    from ganforge.metrics.evaluate import evaluate_model

    trainer = Trainer(small("sgan", labels=50, batch_size=32, steps=30, lr=3e-3, sgan_network="mlp"),
                      tmp_path / "run", progress=False)
    trainer.fit()
    model, ds = trainer.model, trainer.dataset
    model.train()
    value = evaluate_model(model, ds, "val_accuracy", n=10)["val_accuracy"]
    assert model.training
    x = torch.from_numpy(np.array(ds.split("val")[:2000])).float().div(127.5).sub(1)
    model.eval()
    with torch.no_grad():
        expected = (model.discriminator(x).argmax(1).numpy() == ds.labels["val"][:2000]).mean()
    assert value == pytest.approx(expected, abs=1e-12) and 0.3 < value < 1.0  # learnt something, not all


def test_debiased_weight_average_is_the_iterates_weighted_by_beta_to_their_age():
    from ganforge.remedies import update_debiased_average_

    current, average = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        average.weight.fill_(100.0)  # the starting value never counts
    iterates, beta = [torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 0.5]]), torch.tensor([[-1.0, 4.0]])], 0.9
    for t, w in enumerate(iterates, start=1):
        with torch.no_grad():
            current.weight.copy_(w)
        update_debiased_average_(average, current, t, beta)
    expected = (beta**2 * iterates[0] + beta * iterates[1] + iterates[2]) / (beta**2 + beta + 1)
    torch.testing.assert_close(average.weight, expected)


def test_sgan_d_ema_classifies_with_d_s_average_in_eval_mode_and_the_baseline_keeps_one_too(tmp_path):
    from ganforge.models.sgan import train_supervised_classifier

    trainer = Trainer(small("sgan", labels=50, batch_size=32, steps=12, lr=3e-3, sgan_network="mlp", d_ema=320.0),
                      tmp_path / "run", progress=False)
    trainer.fit()
    model = trainer.model
    assert int(model.average_updates) == 12
    x = torch.rand(16, 1, 8, 8) * 2 - 1
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.classify(x), model.discriminator_average(x))
        assert not torch.allclose(model.classify(x), model.discriminator(x))  # an average, not the last D
    model.train()
    assert model.classify(x).requires_grad  # training: D itself
    # the baseline keeps the same bias-corrected average (half-life 320 images = 10 batches of 32): after two
    # updates it is (beta p1 + p2) / (beta + 1), p1 and p2 the weights of the same (seeded) training after 1 and 2
    x_lab, y_lab, data = model.labelled_x, model.labelled_y, model.data
    plain_cfg = dataclasses.replace(model.cfg, d_ema=0.0)
    p1, p2 = (train_supervised_classifier(plain_cfg, data, x_lab, y_lab, steps=n, lr=1e-2, seed=0) for n in (1, 2))
    averaged = train_supervised_classifier(model.cfg, data, x_lab, y_lab, steps=2, lr=1e-2, seed=0)
    beta = 0.5 ** (32 / 320.0)
    for a, w1, w2 in zip(averaged.parameters(), p1.parameters(), p2.parameters(), strict=True):
        torch.testing.assert_close(a, (beta * w1 + w2) / (beta + 1))
    assert not torch.allclose(averaged(x), p2(x))


@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_sgan_d_ema_resumed_run_keeps_the_same_average_as_an_uninterrupted_one(tmp_path, network):
    def run(steps, out, resume=False):
        cfg = small("sgan", labels=30, batch_size=16, steps=steps, lr=3e-3, sgan_network=network, d_ema=160.0,
                    checkpoint_every=2, seed=5)
        trainer = Trainer(cfg, tmp_path / out, resume=resume, progress=False)
        trainer.fit()
        return trainer.model

    whole = run(4, "whole")
    run(2, "split")
    resumed = run(4, "split", resume=True)
    assert int(resumed.average_updates) == int(whole.average_updates) == 4
    # the whole model (D, G, D's average, the labelled subset) bit for bit
    for a, b in zip(resumed.state_dict().values(), whole.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_d_ema_is_refused_outside_sgan():
    from ganforge.errors import UserError

    small("sgan", d_ema=1000.0).validate()
    with pytest.raises(UserError, match="d_ema"):
        small("dcgan", d_ema=1000.0).validate()


# ---------------------------------------------------------------------------------------------- infogan
def test_infogan_categorical_code_sweep_keeps_each_row_fixed_but_the_code():
    model = MODELS["infogan"].build(small("infogan"), DataInfo("image", (1, 8, 8), 10))
    z, c1, c_cont = model.code_sweep_latent("c1", rows=3, cols=99, rng=torch.Generator().manual_seed(0))
    assert z.shape == (30, 8) and c1.tolist() == list(range(10)) * 3
    assert torch.equal(z[:10], z[:1].expand(10, -1)) and not torch.equal(z[0], z[10])
    z, c1, c_cont = model.code_sweep_latent("c3", rows=2, cols=5, rng=torch.Generator().manual_seed(0))
    assert torch.allclose(c_cont[:5, 1], torch.linspace(-2, 2, 5))
    assert torch.equal(c_cont[:5, 0], c_cont[:1, 0].expand(5))
    assert len(set(c1[:5].tolist())) == 1


def test_infogan_mutual_information_lower_bound_rises_well_above_zero(tmp_path):
    """L_I = log K - CE(Q(c1 | G(z, c)), c1) <= I(c1; G(z, c)); it starts near 0 and G learns to encode c1."""
    trainer = Trainer(small("infogan", width=8, batch_size=32, lr=1e-3), tmp_path / "run", progress=False)
    first = trainer.train_step()["Q/mi_c1"].item()
    last = [trainer.train_step()["Q/mi_c1"].item() for _ in range(100)][-10:]
    assert first < 0.5 and np.mean(last) > 1.2, (first, last)  # at most log 10 = 2.30


# ---------------------------------------------------------------------------------------------- ganforge sample
def test_sample_command_draws_per_label_grids_and_code_sweeps(tmp_path):
    from PIL import Image

    from ganforge.cli import main
    from ganforge.images import grid_scale

    for model in ("cgan", "infogan", "dcgan"):
        Trainer(small(model, steps=1), tmp_path / model, progress=False).fit()
    assert main(["sample", str(tmp_path / "cgan"), "--label", "3", "--n", "5", "--out", str(tmp_path / "a.npy")]) == 0
    assert np.load(tmp_path / "a.npy").shape == (5, 1, 8, 8)
    assert main(["sample", str(tmp_path / "cgan"), "--by-class", "--nrow", "4", "--out", str(tmp_path / "b.npy")]) == 0
    assert np.load(tmp_path / "b.npy").shape == (40, 1, 8, 8)
    assert main(["sample", str(tmp_path / "infogan"), "--vary-code", "c1", "--n", "2",
                 "--out", str(tmp_path / "c.png")]) == 0
    scale = grid_scale(8)  # small images are upscaled in grids; cells are 8 pixels + 2 of padding
    assert Image.open(tmp_path / "c.png").size == (scale * (10 * 10 + 2), scale * (2 * 10 + 2))  # 2 rows x 10
    assert main(["sample", str(tmp_path / "dcgan"), "--label", "3", "--out", str(tmp_path / "d.png")]) == 2
    assert main(["sample", str(tmp_path / "cgan"), "--label", "10", "--out", str(tmp_path / "e.png")]) == 2
    assert main(["sample", str(tmp_path / "cgan"), "--vary-code", "c1", "--out", str(tmp_path / "f.png")]) == 2


# ---------------------------------------------------------------------------------------------- aae, ebgan, vaegan
def encoded_val_codes(trainer) -> torch.Tensor:
    x = torch.from_numpy(trainer.dataset.split("val")).float().div(127.5).sub(1)
    with torch.no_grad():
        return trainer.model.encode(x)


def test_aae_codes_match_the_standard_normal_prior(tmp_path):
    """Makhzani et al.: the regularisation phase makes q(z) match p(z) = N(0, I); without it an autoencoder's
    codes have arbitrary location and scale."""
    trainer = Trainer(small("aae", latent_dim=2, width=64, batch_size=64, lr=1e-3), tmp_path / "run", progress=False)
    for _ in range(200):
        trainer.train_step()
    z = encoded_val_codes(trainer)  # (n_val, 2)
    assert z.mean(0).abs().max() < 0.35 and ((z.std(0) - 1).abs() < 0.35).all(), (z.mean(0), z.std(0))
    # and the codes still carry the digit: the autoencoder reconstructs better than the mean image
    x = torch.from_numpy(trainer.dataset.split("val")).float().div(127.5).sub(1)
    with torch.no_grad():
        err = (trainer.model.reconstruct(x) - x).square().mean()
    assert err < 0.8 * (x - x.mean(0)).square().mean()


def test_ebgan_discriminator_loss_is_real_energy_plus_hinge_on_fake_energy():
    from ganforge.models.ebgan import ebgan_d_loss

    energy_real, energy_fake = torch.tensor([0.1, 0.3]), torch.tensor([0.5, 2.0])
    # mean([0.1, 0.3]) + mean([max(0, 1 - 0.5), max(0, 1 - 2)])
    assert ebgan_d_loss(energy_real, energy_fake, margin=1.0).item() == pytest.approx(0.2 + 0.25)


def test_ebgan_discriminator_assigns_data_lower_energy_than_samples(tmp_path):
    """D learns to autoencode the data (its energy falls) while samples keep a higher energy."""
    trainer = Trainer(small("ebgan", batch_size=32, lr=1e-3), tmp_path / "run", progress=False)
    logs = [trainer.train_step() for _ in range(60)]
    first_real = float(logs[0]["D/energy_real"])
    real = np.mean([float(step["D/energy_real"]) for step in logs[-10:]])
    fake = np.mean([float(step["D/energy_fake"]) for step in logs[-10:]])
    assert real < 0.5 * first_real and real < fake, (first_real, real, fake)


def test_vaegan_feature_reconstruction_loss_matches_hand_computed_value():
    from ganforge.models.vaegan import feature_reconstruction_loss

    real, recon = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    # 1/2 mean([1 + 4, 9])
    assert feature_reconstruction_loss(real, recon).item() == pytest.approx(3.5)


@pytest.mark.slow
def test_vaegan_reconstructions_improve(tmp_path):
    trainer = Trainer(small("vaegan", batch_size=32, lr=1e-3), tmp_path / "run", progress=False)
    before = held_out_reconstruction_error(trainer)
    for _ in range(80):
        trainer.train_step()
    assert held_out_reconstruction_error(trainer) < 0.9 * before  # pixels are not its loss: D's features are


# ---------------------------------------------------------------------------------------------- docs
def test_the_adding_a_model_guide_example_trains(tmp_path):
    """docs/models.md's smallest complete model, executed as written, registers and trains in the shared loop."""
    import re
    import types
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    code = re.search(r"## Adding a model.*?```python\n(.*?)```", doc, re.S).group(1)
    if "tiny" not in MODELS:
        exec(compile(code, "docs/models.md", "exec"), types.ModuleType("tiny").__dict__)
    assert MODELS["tiny"].data_kinds == ("points",)
    trainer = Trainer(small("tiny", data="ring8", steps=3), tmp_path / "run", progress=False)
    trainer.fit()
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


@pytest.mark.parametrize("model,why", [("vae", "the KL term is to N(0, I)"), ("vaegan", "the KL term is to N(0, I)"),
                                       ("aae", "codes are matched to N(0, I)")])
def test_models_built_on_a_normal_prior_refuse_the_uniform_one(model, why):
    from ganforge.errors import UserError

    with pytest.raises(UserError, match=f"model {model}: prior uniform is invalid: expected normal") as e:
        MODELS[model].build(small(model, prior="uniform"), DataInfo("image", (1, 8, 8), 10))
    assert why in str(e.value)


def test_a_new_ae_run_refuses_a_prior_its_samples_would_ignore(tmp_path):
    from ganforge.errors import UserError

    with pytest.raises(UserError, match=r"model ae: prior uniform is invalid: expected normal \(samples decode codes "
                                        r"drawn from N\(0, I\)"):
        Trainer(small("ae", prior="uniform", steps=1), tmp_path / "ae", progress=False)
    assert not (tmp_path / "ae").exists()


@pytest.mark.parametrize("args,inputs", [(["--model", "srresnet", "--pairs", "sr2"], "the low-resolution image"),
                                         (["--model", "nextframe", "--sequences", "moving2"], "the past frames")])
def test_models_that_draw_no_noise_refuse_a_prior_in_one_line(args, inputs, tmp_path, capsys):
    from ganforge.cli import main

    got = main(["train", *args, "--data", "digits", "--prior", "uniform", "--steps", "1", "--out", str(tmp_path / "r"),
                "--no-progress"])
    err = capsys.readouterr().err
    assert got == 2 and f"prior uniform is invalid: it draws no noise, its input is {inputs}" in err
    assert err.count("\n") == 1 and not (tmp_path / "r" / "checkpoints").exists()


def test_options_of_some_models_are_refused_for_the_others_and_no_other_model_reads_them():
    """--margin on a dcgan run used to be ignored without a word; and the table of which model reads what must
    not refuse an option some other model's module does read."""
    import inspect
    import sys

    from ganforge.config import MODEL_OPTIONS
    from ganforge.errors import UserError

    with pytest.raises(UserError, match=r"config value margin=2.0 is invalid: expected its default \(1.0\) unless "
                                        r"--model ebgan"):
        config_for(model="dcgan", margin=2.0).refuse_ignored_options()
    assert config_for(model="ebgan", margin=2.0).refuse_ignored_options().margin == 2.0
    with pytest.raises(UserError, match="canvas=32 is invalid: expected its default"):
        config_for(model="dcgan", canvas=32).refuse_ignored_options()
    for name, owners in MODEL_OPTIONS.items():
        assert set(owners) <= set(MODELS), name
        for model, spec in MODELS.items():
            module = spec.build.__module__
            if not module.startswith("ganforge."):
                continue  # a model a test registered (docs/models.md's "tiny")
            source = inspect.getsource(sys.modules[module])
            if model not in owners and not any(MODELS[o].build.__module__ == module for o in owners):
                assert f"cfg.{name}" not in source, f"{model} reads {name}, which MODEL_OPTIONS refuses for it"


def test_an_optimizer_option_another_optimizer_would_ignore_is_refused_for_a_new_run():
    """--momentum with Adam, --beta1 with SGD: refused; the value a model's recipe sets (tvae's beta1 0.9) is not
    the user's, and sgan's supervised baseline is an Adam network whatever sgan's own optimizer."""
    with pytest.raises(UserError, match=r"momentum=0.9 is invalid: expected its default \(0.5\) with --optimizer "
                                        r"adam \(only sgd reads it\)"):
        config_for(model="dcgan", optimizer="adam", momentum=0.9).refuse_ignored_options()
    with pytest.raises(UserError, match="beta1=0.9 is invalid: expected its default"):
        config_for(model="dcgan", optimizer="sgd", beta1=0.9).refuse_ignored_options()
    assert config_for(model="tvae", optimizer="sgd").refuse_ignored_options().beta1 == 0.9  # the recipe's
    assert config_for(model="sgan", optimizer="sgd", beta1=0.9).refuse_ignored_options().beta1 == 0.9
    assert config_for(model="gan", optimizer="sgd", momentum=0.9, momentum_final=0.7).refuse_ignored_options()


@pytest.mark.parametrize("model,saved", [("dcgan", {"margin": 2.0}), ("ae", {"prior": "uniform"})])
def test_a_run_saved_with_an_option_now_refused_still_loads_samples_and_resumes(model, saved, tmp_path):
    """Runs trained before an ignored option was refused (e.g. --margin on dcgan, --prior uniform on ae) keep
    working: the refusal applies to new runs only."""
    from ganforge.checkpoint import atomic_torch_save, load_checkpoint
    from ganforge.cli import main
    from ganforge.config import load_yaml_config, save_yaml_config
    from ganforge.run import load_run

    run = tmp_path / "old"
    Trainer(config_for(model=model, data="digits", steps=2, batch_size=16, width=8, latent_dim=8, sample_every=10,
                       checkpoint_every=1), run, progress=False).fit()
    ckpt = load_checkpoint(run / "checkpoints" / "latest.pt")
    ckpt["config"].update(saved)  # as a run of the code before the refusal saved it
    atomic_torch_save(ckpt, run / "checkpoints" / "latest.pt")
    save_yaml_config(TrainConfig.from_dict({**load_yaml_config(run / "config.yaml"), **saved}), run / "config.yaml")
    assert load_run(run).sample(4, seed=0).shape[0] == 4
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--no-progress"]) == 0
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 3


def test_every_recipe_in_configs_is_a_valid_config_for_a_registered_model():
    """configs/*.yaml are what users train from: each must load, validate and name a model that exists."""
    from pathlib import Path

    from ganforge.config import load_yaml_config
    from ganforge.recipes import RECIPES_DIR

    recipes = sorted(RECIPES_DIR.glob("*.yaml"))
    assert {f"{m}.yaml" for m in FAMILY} <= {p.name for p in recipes}  # one recipe per paper of the family
    # the source checkout's configs/ is the package's recipes directory (a link), not a copy that could drift
    assert (Path(__file__).resolve().parents[1] / "configs").resolve() == RECIPES_DIR
    for path in recipes:
        cfg = TrainConfig.from_dict(load_yaml_config(path), source=str(path)).validate()
        assert cfg.model in MODELS, path


def test_config_names_a_shipped_recipe_from_any_directory(tmp_path, monkeypatch):
    from pathlib import Path

    from ganforge.config import load_yaml_config
    from ganforge.recipes import RECIPES_DIR, resolve_config_path

    monkeypatch.chdir(tmp_path)  # no configs/ here: what a user of a pip-installed ganforge sees
    shipped = RECIPES_DIR / "wgan-gp.yaml"
    for given in ("configs/wgan-gp.yaml", "wgan-gp.yaml", "wgan-gp", "wgan-gp.yml"):
        assert resolve_config_path(given) == shipped
    assert load_yaml_config("wgan-gp") == load_yaml_config(shipped)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "wgan-gp.yaml").write_text("model: wgan\n")  # the user's own file comes first
    assert load_yaml_config("configs/wgan-gp.yaml") == {"model": "wgan"}
    assert resolve_config_path("elsewhere/wgan-gp.yaml") == Path("elsewhere/wgan-gp.yaml")  # not a recipe name
    with pytest.raises(UserError, match="config file nosuch: cannot be read .*ganforge models lists the recipes"):
        load_yaml_config("nosuch")
