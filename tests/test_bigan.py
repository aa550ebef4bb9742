"""bigan (Donahue et al. 2017; ALI, Dumoulin et al. 2017): D judges (x, z) pairs, G and E train together with
flipped labels, and a short training run on two modes learns an encoder whose reconstructions keep the mode."""

import math

import numpy as np
import pytest
import torch

from ganforge.data import ArrayDataset
from ganforge.errors import UserError
from ganforge.models import MODELS, Batch, DataInfo, config_for
from ganforge.models.bigan import bigan_d_loss, bigan_ge_loss
from ganforge.train import Trainer


def build(shape=(1, 28, 28), kind="image", **kw):
    cfg = config_for(model="bigan", data="fashion-mnist" if kind == "image" else "ring8", **kw)
    return MODELS["bigan"].build(cfg, DataInfo(kind, shape))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_public_api_shapes_for_images(shape):
    model = build(shape, width=8, latent_dim=6).eval()
    x = torch.rand(5, *shape) * 2 - 1
    z = model.encode(x)
    assert z.shape == (5, 6)
    assert model.generate(z).shape == (5, *shape)
    assert model.discriminator(x, z).shape == (5,)
    features = model.discriminator.features(x, z)
    assert features.ndim == 2 and features.shape[0] == 5
    # the logit is a linear map of the features: "the layer before the last"
    torch.testing.assert_close(model.discriminator.head(features).squeeze(1), model.discriminator(x, z))


def test_discriminator_judges_pairs_not_images_alone():
    model = build((2,), "points", latent_dim=3).eval()
    x, z = torch.randn(4, 2), torch.randn(4, 3)
    with torch.no_grad():
        base = model.discriminator(x, z)
        assert not torch.allclose(base, model.discriminator(x, z + 1.0))  # same x, other z: another verdict
        assert not torch.allclose(base, model.discriminator(x + 1.0, z))
        # one example's verdict does not depend on the rest of the batch (eval mode)
        torch.testing.assert_close(model.discriminator(x[:1], z[:1]), base[:1])
    with pytest.raises(UserError, match="no discriminator of x alone"):
        model.discriminator_logits(x)


def test_losses_equal_hand_computed_values_on_fixed_logits():
    real, fake = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([-1.0, 1.0, 0.5])

    def softplus(v):
        return math.log1p(math.exp(v))

    d = sum(softplus(-r) for r in real.tolist()) / 3 + sum(softplus(f) for f in fake.tolist()) / 3
    ge = sum(softplus(r) for r in real.tolist()) / 3 + sum(softplus(-f) for f in fake.tolist()) / 3
    assert bigan_d_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert bigan_ge_loss(real, fake).item() == pytest.approx(ge, rel=1e-6)


def test_model_losses_are_those_of_the_pairs_x_ex_and_gz_z():
    torch.manual_seed(0)
    model = build((2,), "points", latent_dim=2).eval()
    x_real, z = torch.tensor([[1.0, -0.5], [0.2, 0.3]]), torch.tensor([[0.1, -1.0], [2.0, 0.4]])
    batch = Batch(x_real, None, z)
    with torch.no_grad():
        l_real = model.discriminator(x_real, model.encoder(x_real))  # (x, E(x))
        l_fake = model.discriminator(model.generator(z), z)  # (G(z), z)
        d_loss, logs = model.d_loss(batch)
        ge_loss, _ = model.ge_loss(batch)
    by_hand_d = (torch.log1p(torch.exp(-l_real)).mean() + torch.log1p(torch.exp(l_fake)).mean()).item()
    by_hand_ge = (torch.log1p(torch.exp(l_real)).mean() + torch.log1p(torch.exp(-l_fake)).mean()).item()
    assert d_loss.item() == pytest.approx(by_hand_d, rel=1e-5)
    assert ge_loss.item() == pytest.approx(by_hand_ge, rel=1e-5)
    assert logs["D/real"].item() == pytest.approx(torch.sigmoid(l_real).mean().item(), rel=1e-6)


def test_phases_train_d_alone_then_g_and_e_together():
    model = build(width=8, latent_dim=4)
    d_phase, g_phase = model.phases()
    assert (d_phase.name, g_phase.name) == ("D", "G")
    assert {id(p) for p in d_phase.params} == {id(p) for p in model.discriminator.parameters()}
    assert {id(p) for p in g_phase.params} == ({id(p) for p in model.generator.parameters()}
                                               | {id(p) for p in model.encoder.parameters()})


def test_uniform_prior_bounds_the_encoder_and_other_objectives_are_refused():
    model = build((2,), "points", latent_dim=3, prior="uniform")
    assert model.encode(100 * torch.randn(8, 2)).abs().max() <= 1.0
    with pytest.raises(UserError, match="objective wasserstein is invalid"):
        build(objective="wasserstein")


def two_modes(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[-2.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    labels = rng.integers(2, size=n)
    x = (means[labels] + 0.2 * rng.standard_normal((n, 2))).astype(np.float32)
    return ArrayDataset("two-modes", "points", {"train": x, "val": x[:200], "test": x[:200]}), labels, means


@pytest.mark.slow  # ~10 s on an idle core, 35 s on the shared CI machine
def test_short_training_learns_an_inverse_that_keeps_the_mode(tmp_path):
    """After 300 steps on two Gaussians, G(E(x)) falls in x's mode for >= 90% of the data (an untrained or
    100-step model: about half), and G's samples occupy both modes."""
    ds, labels, means = two_modes()
    cfg = config_for(model="bigan", data="two-modes", steps=300, batch_size=64, width=32, latent_dim=1, lr=1e-3,
                     sample_every=10_000, checkpoint_every=10_000, seed=0)
    trainer = Trainer(cfg, tmp_path / "run", progress=False, dataset=ds)
    trainer.fit()
    model = trainer.model.eval()
    with torch.no_grad():
        x = torch.as_tensor(ds.arrays["train"][:1000])
        mode_of_reconstruction = torch.cdist(model.reconstruct(x), torch.as_tensor(means)).argmin(1)
        samples = model.generate(model.sample_latent(1000, torch.Generator().manual_seed(1)))
    assert (mode_of_reconstruction.numpy() == labels[:1000]).mean() >= 0.9
    assert 0.2 <= (samples[:, 0] > 0).float().mean().item() <= 0.8
