"""``gan``: the multilayer perceptrons of Goodfellow et al. (2014).

Generator: ReLU hidden layers and a bounded (tanh) output for images; a linear output for toy points.
Discriminator: maxout layers (Goodfellow et al. 2013) with dropout, as in the paper's MNIST model
(240 units x 5 pieces; the generator has two 1200-unit layers). Toy points get smaller nets, no dropout.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import TrainConfig
from .base import AdversarialGAN, DataInfo, ModelSpec, discriminator_shape, register_model, resolved_penalty


class Maxout(nn.Module):
    """``(N, in_features) -> (N, out_features)``: the max over ``pieces`` affine maps per unit."""

    def __init__(self, in_features: int, out_features: int, pieces: int):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.out_features, self.pieces).amax(-1)


class MLPGenerator(nn.Module):
    """``z (N, latent_dim) -> x (N, *example_shape)``; images in [-1, 1] (tanh), points unbounded."""

    def __init__(self, example_shape: tuple[int, ...], latent_dim: int, hidden: int, bounded: bool):
        super().__init__()
        self.example_shape = tuple(example_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, math.prod(example_shape)),
            nn.Tanh() if bounded else nn.Identity(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.example_shape)


class MaxoutDiscriminator(nn.Module):
    """``x (N, *example_shape) -> logits (N,)`` through two maxout layers with dropout."""

    def __init__(self, example_shape: tuple[int, ...], units: int, pieces: int, dropout: bool):
        super().__init__()
        d = math.prod(example_shape)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2) if dropout else nn.Identity(),
            Maxout(d, units, pieces), nn.Dropout(0.5) if dropout else nn.Identity(),
            Maxout(units, units, pieces), nn.Dropout(0.5) if dropout else nn.Identity(),
            nn.Linear(units, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build_networks(example_shape: tuple[int, ...], latent_dim: int, width: int | None) -> tuple[nn.Module, nn.Module]:
    """``width`` is the generator's hidden size (1200 for images, 128 for points by default);
    the discriminator has ``width // 5`` maxout units of 5 pieces (240 for images)."""
    images = len(example_shape) == 3
    hidden = width or (1200 if images else 128)
    generator = MLPGenerator(example_shape, latent_dim, hidden, bounded=images)
    discriminator = MaxoutDiscriminator(example_shape, max(hidden // 5, 8), 5, dropout=images)
    return generator, discriminator


def build(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    """The paper's GAN by default; ``--objective``, ``--penalty`` and ``--clip`` combine as for any GAN."""
    generator, discriminator = build_networks(data.shape, cfg.latent_dim, cfg.width)
    if cfg.pack > 1:  # PacGAN: D takes M examples at once (G's width sets D's, as without packing)
        discriminator = build_networks(discriminator_shape(cfg, data), cfg.latent_dim, cfg.width)[1]
    return AdversarialGAN(cfg, data, generator, discriminator, penalty=resolved_penalty(cfg), clip=cfg.clip)


register_model(ModelSpec("gan", "Goodfellow et al. 2014: MLP generator, maxout discriminator with dropout",
                         build, ("image", "points")))
