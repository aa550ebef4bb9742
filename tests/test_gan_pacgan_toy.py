"""``--gan-recipe pacgan``: Lin et al. (2018)'s toy MLPs for the 2-d mixtures (docs/models.md, grid25)."""

import pytest
import torch
from torch import nn

from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.models.gan import Maxout
from ganforge.train import Trainer


def cfg_pacgan(**kw):
    base = dict(model="gan", data="grid25", gan_recipe="pacgan", batch_size=8, latent_dim=2, steps=2,
                sample_every=1000, checkpoint_every=1000)
    return TrainConfig(**{**base, **kw})


def test_generator_is_four_batch_normed_relu_layers_and_d_three_maxout_layers(tmp_path):
    trainer = Trainer(cfg_pacgan(width=40, pack=2), tmp_path / "run", progress=False)
    g, d = trainer.generator, trainer.discriminator
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 40), (40, 40), (40, 40), (40, 40), (40, 2)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in g.modules()) == 4
    maxouts = [m for m in d.modules() if isinstance(m, Maxout)]
    # packed D (M = 2) reads 4 numbers; width // 2 = 20 units of 5 pieces per layer
    assert [(m.linear.in_features, m.out_features, m.pieces) for m in maxouts] == [(4, 20, 5), (20, 20, 5), (20, 20, 5)]
    z = torch.randn(6, 2)
    assert g(z).shape == (6, 2)
    assert d(torch.randn(6, 2)).shape == (3,)  # packs pairs of points
    # default width: 400 (G) and 200 maxout units (D)
    default = Trainer(cfg_pacgan(), tmp_path / "default", progress=False)
    assert default.generator.net[0].out_features == 400
    assert [m.out_features for m in default.discriminator.modules() if isinstance(m, Maxout)] == [200] * 3


def test_g_matches_a_hand_forward_pass_in_eval_mode(tmp_path):
    trainer = Trainer(cfg_pacgan(width=16), tmp_path / "run", progress=False)
    g = trainer.generator.eval()
    for m in g.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    h = z
    layers = list(g.net)
    for i in range(0, 12, 3):
        lin, bn = layers[i], layers[i + 1]
        a = h @ lin.weight.T + lin.bias
        h = torch.relu((a - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias)
    out = layers[12]
    torch.testing.assert_close(g(z), (h @ out.weight.T + out.bias) * g.data_scale)


def test_both_networks_work_in_units_of_the_training_points_std(tmp_path):
    trainer = Trainer(cfg_pacgan(width=16, pack=2, g_ema=1000.0), tmp_path / "run", progress=False)
    points = torch.as_tensor(trainer.dataset.split("train")).float()  # (N, 2)
    s = points.std()
    assert 2.5 < s < 3.2  # grid25: modes on {-4..4}^2, std about sqrt(8)
    d = trainer.discriminator.inner  # the packed D's net
    for net in (trainer.generator, trainer.model.generator_ema, d):
        torch.testing.assert_close(net.data_scale, s)
    x = torch.randn(3, 4)
    torch.testing.assert_close(d(x), d.net(x / s).squeeze(1))


def test_pacgan_recipe_on_images_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="gan_recipe pacgan"):
        Trainer(cfg_pacgan(data="digits"), tmp_path / "run", progress=False)
