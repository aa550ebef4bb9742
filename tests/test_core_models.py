"""Architectures: the 2014 MLPs and the DCGAN rules of Radford et al. (2016)."""

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.models import MODELS, DataInfo, config_for
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.models.gan import Maxout


@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32), (3, 64), (1, 16)])
def test_dcgan_shapes_and_output_range(channels, size):
    g, d = DCGANGenerator(100, channels, size, width=16), DCGANDiscriminator(channels, size, width=16)
    x = g(torch.randn(5, 100))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)


def test_dcgan_follows_the_architecture_rules():
    g, d = DCGANGenerator(100, 3, 64), DCGANDiscriminator(3, 64)
    for net in (g, d):
        kinds = [type(m) for m in net.modules()]
        assert nn.Linear not in kinds, "no hidden fully-connected layers"
        assert not any(issubclass(k, (nn.MaxPool2d, nn.AvgPool2d)) for k in kinds), "no pooling"
    g_layers, d_layers = list(g.net), list(d.net)
    assert all(m.stride == (2, 2) for m in g_layers if isinstance(m, nn.ConvTranspose2d) and m is not g_layers[0])
    assert all(m.stride == (2, 2) for m in d_layers[:-1] if isinstance(m, nn.Conv2d))
    # batch norm everywhere except G's output layer and D's input layer
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_layers) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 3
    assert any(isinstance(m, nn.ReLU) for m in g_layers) and not any(isinstance(m, nn.LeakyReLU) for m in g_layers)
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))


def test_dcgan_initialisation_is_normal_0_002():
    g = DCGANGenerator(100, 3, 64)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3


def test_dcgan_rejects_unsupported_sizes():
    with pytest.raises(UserError, match="image size 30"):
        DCGANGenerator(100, 1, 30)


def test_maxout_is_the_max_over_pieces():
    layer = Maxout(4, 3, 5)
    x = torch.randn(2, 4)
    pieces = layer.linear(x).view(2, 3, 5)
    assert torch.equal(layer(x), pieces.max(-1).values)


def test_2014_mlp_sizes_for_mnist():
    model = MODELS["gan"].build(TrainConfig(model="gan"), DataInfo("image", (1, 28, 28)))
    hidden = [m.out_features for m in model.generator.modules() if isinstance(m, nn.Linear)]
    assert hidden == [1200, 1200, 784]
    maxouts = [m for m in model.discriminator.modules() if isinstance(m, Maxout)]
    assert [(m.out_features, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    assert any(isinstance(m, nn.Dropout) for m in model.discriminator.modules())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_builds_and_samples(name):
    spec = MODELS[name]
    data = DataInfo("image", (1, 28, 28), 10) if "image" in spec.data_kinds else DataInfo("points", (2,))
    if "table" in spec.data_kinds:  # a two-column table: one continuous, one discrete
        from ganforge.data.table import TableSpec, fit_table

        frame = {"x": np.linspace(0.0, 1.0, 50), "c": np.array(["a", "b"] * 25, dtype=object)}
        table = fit_table([{"name": "x", "kind": "continuous", "missing": False, "decimals": 2},
                           {"name": "c", "kind": "discrete", "missing": False}], frame, frame)
        data = DataInfo("table", (TableSpec(table).dim,), None, table)
    model = spec.build(config_for(model=name, data={"image": "fashion-mnist", "points": "ring8"}.get(data.kind, "t"),
                                  batch_size=10), data)
    x = model.generate(model.sample_latent(3, torch.Generator().manual_seed(0)))
    assert x.shape == (3, *getattr(model, "frame_shape", data.shape))  # nextframe: canvases of the data's sprites
    assert model.phases(), "a model must have at least one phase"


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown model 'stylegan9'"):
        MODELS.get_or_fail("stylegan9")
