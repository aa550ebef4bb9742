"""``bigan``: BiGAN / ALI (Donahue, Krähenbühl & Darrell 2017; Dumoulin et al. 2017): a GAN that also learns
the inverse map.

An encoder E (x -> z) is trained beside the generator G (z -> x); the discriminator judges *pairs* (x, z):
real pairs (x, E(x)) with x from the data against fake pairs (G(z), z) with z from the prior. With D(x, z) =
sigmoid(l(x, z)), D descends

    L_D = mean softplus(-l(x, E(x))) + mean softplus(l(G(z), z))      (-V(D, E, G), the paper's value function)

and G and E together descend the same cross-entropy with the labels flipped (the paper's "inverse" objective,
the non-saturating loss applied to both sides):

    L_GE = mean softplus(l(x, E(x))) + mean softplus(-l(G(z), z)).

At the optimum E and G invert each other (E = G^-1 almost everywhere), so E(x) is a latent whose image G(E(x))
resembles x: ``encode`` starts latent inversion (``ganforge.inversion``) and anomaly scores (Zenati et al.
2018) read D's last hidden layer, ``discriminator.features(x, z)``.

Networks: images (8, 14, 16, 28, 32, ... pixels, 1 or 3 channels) use DCGAN's generator, an encoder built as
DCGAN's discriminator with a final convolution to ``latent_dim`` outputs, and a joint D whose x-path is the DCGAN
discriminator's body and whose z-path is a two-layer MLP, concatenated into a hidden layer of ``8 * width`` units
(its features) and a linear map to one logit. Points use MLPs (``width`` units, 128 by default). D is the one
network without batch norm on its joint part, so ``features`` of one example do not depend on the batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from ..objectives import discriminator_loss
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, init_normal_002, register_model, split_last_layer
from .dcgan import DCGANDiscriminator, DCGANGenerator, base_and_doublings
from .wgan import refuse_unused_options

LEAK = 0.2


def mlp(sizes: list[int], leak: float | None = None) -> nn.Sequential:
    """Linear layers with ReLU (or LeakyReLU(``leak``)) between them, none after the last."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU() if leak is None else nn.LeakyReLU(leak))
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """``x (N, C, S, S)`` in [-1, 1] -> ``z (N, latent_dim)``: DCGAN's discriminator body (strided convolutions,
    batch norm, LeakyReLU(0.2)), then a ``base x base`` convolution to ``latent_dim`` channels; ``tanh`` on
    the output when the prior is uniform on [-1, 1]."""

    def __init__(self, channels: int, size: int, latent_dim: int, width: int, bounded: bool):
        super().__init__()
        base, _ = base_and_doublings(size)
        body, _, _ = split_last_layer(DCGANDiscriminator(channels, size, width).net, (channels, size, size))
        ch = [m for m in body if isinstance(m, nn.Conv2d)][-1].out_channels
        head = nn.Conv2d(ch, latent_dim, base, 1, 0)
        nn.init.normal_(head.weight, 0.0, 0.02)
        nn.init.zeros_(head.bias)
        self.net = nn.Sequential(*body, head, nn.Flatten(1), *([nn.Tanh()] if bounded else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPEncoder(nn.Module):
    """Points ``x (N, D)`` -> ``z (N, latent_dim)`` (tanh-bounded under a uniform prior)."""

    def __init__(self, dim: int, latent_dim: int, width: int, bounded: bool):
        super().__init__()
        self.net = nn.Sequential(mlp([dim, width, width, latent_dim], leak=LEAK), *([nn.Tanh()] if bounded else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class JointDiscriminator(nn.Module):
    """D on pairs: ``(x (N, *shape), z (N, latent_dim)) -> logits (N,)``, > 0 meaning "a real pair (x, E(x))".

    ``x_path`` maps x to ``(N, Fx)`` (DCGAN's discriminator body for images, an MLP for points), ``z_path`` maps
    z to ``(N, Fz)``; their concatenation goes through ``joint`` (Linear + LeakyReLU(0.2)) to the features
    ``(N, F)`` and ``head`` (Linear) to one logit."""

    def __init__(self, x_path: nn.Module, x_features: int, latent_dim: int, width: int, hidden: int):
        super().__init__()
        self.x_path = x_path
        self.z_path = mlp([latent_dim, width, width], leak=LEAK).append(nn.LeakyReLU(LEAK))
        self.joint = nn.Sequential(nn.Linear(x_features + width, hidden), nn.LeakyReLU(LEAK))
        self.head = nn.Linear(hidden, 1)

    def features(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The layer before the last: ``(N, F)`` for ``x (N, *shape)`` in the model range, ``z (N, latent_dim)``."""
        return self.joint(torch.cat([self.x_path(x).flatten(1), self.z_path(z)], dim=1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x, z)).squeeze(1)


class PointGenerator(nn.Module):
    """``z (N, latent_dim) -> x (N, D)``: an MLP with two ReLU hidden layers and a linear output."""

    def __init__(self, latent_dim: int, dim: int, width: int):
        super().__init__()
        self.net = mlp([latent_dim, width, width, dim])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def bigan_d_loss(logits_real_pair: torch.Tensor, logits_fake_pair: torch.Tensor) -> torch.Tensor:
    """D's loss: real pairs (x, E(x)) labelled 1, fake pairs (G(z), z) labelled 0:
    mean softplus(-l_real) + mean softplus(l_fake)."""
    return discriminator_loss(logits_real_pair, logits_fake_pair)


def bigan_ge_loss(logits_real_pair: torch.Tensor, logits_fake_pair: torch.Tensor) -> torch.Tensor:
    """G and E's loss, the labels flipped: mean softplus(l_real) + mean softplus(-l_fake) (E wants its pairs
    called fake, G wants its pairs called real; non-saturating for both)."""
    return discriminator_loss(logits_fake_pair, logits_real_pair)


class BiGAN(GANModel):
    """Encoder, generator and a discriminator of (x, z) pairs; phases ``D`` (``k_disc`` times) then ``G``
    (G and E together)."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "bigan")
        k, bounded = cfg.latent_dim, cfg.prior == "uniform"
        if data.kind == "image":
            channels, size = data.shape[0], data.shape[-1]
            if len(data.shape) != 3 or data.shape[1] != size:
                raise UserError(f"bigan needs square images, got examples of shape {data.shape}")
            width = cfg.width or 64
            self.generator = DCGANGenerator(k, channels, size, width)
            self.encoder = ConvEncoder(channels, size, k, width, bounded)
            x_path, _, fx = split_last_layer(DCGANDiscriminator(channels, size, width).net, data.shape)
            self.discriminator = JointDiscriminator(x_path, fx, k, 4 * width, 8 * width)
            self.discriminator.z_path.apply(init_normal_002)
            self.discriminator.joint.apply(init_normal_002)
            self.discriminator.head.apply(init_normal_002)
        else:
            dim, width = math.prod(data.shape), cfg.width or 128
            self.generator = PointGenerator(k, dim, width)
            self.encoder = MLPEncoder(dim, k, width, bounded)
            self.discriminator = JointDiscriminator(mlp([dim, width, width], leak=LEAK).append(nn.LeakyReLU(LEAK)),
                                                    width, k, width, width)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, *shape)`` in the model range ([-1, 1] for images) -> ``z (N, latent_dim)``."""
        return self.encoder(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(E(x)): ``(N, *shape)`` in the model range."""
        return self.generate(self.encode(x))

    def pair_logits(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(l(x, E(x)), l(G(z), z))``, each ``(m,)``, on this batch's real minibatch and latents."""
        z_real = self.encode(batch.x_real)  # (m, latent_dim)
        x_fake = self.generator(batch.latent)  # (m, *shape): the trained G, not its average
        return self.discriminator(batch.x_real, z_real), self.discriminator(x_fake, batch.latent)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits_real, logits_fake = self.pair_logits(batch)
        return bigan_d_loss(logits_real, logits_fake), {
            "D/real": torch.sigmoid(logits_real).mean(), "D/fake": torch.sigmoid(logits_fake).mean()}

    def ge_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits_real, logits_fake = self.pair_logits(batch)
        return bigan_ge_loss(logits_real, logits_fake), {}

    def phases(self) -> list[Phase]:
        generator_and_encoder = list(self.generator.parameters()) + list(self.encoder.parameters())
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.ge_loss, generator_and_encoder)]


register_model(ModelSpec("bigan", "Donahue et al. 2017 / Dumoulin et al. 2017: BiGAN/ALI, an encoder learnt beside "
                                  "G; D judges (x, z) pairs (DCGAN nets; MLPs for points)", BiGAN,
                         ("image", "points"), defaults=dict(latent_dim=50)))
