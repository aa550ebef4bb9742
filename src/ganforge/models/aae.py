"""``aae``: the adversarial autoencoder (Makhzani et al. 2016): a GAN in the code space.

An autoencoder whose codes q(z) = E_x[q(z | x)] are made to match a prior p(z) = N(0, I) by a discriminator
that tells codes of data from draws of the prior; the encoder is its generator. Each iteration has the
paper's two stages, as three phases of the shared loop:

1. ``AE`` (reconstruction): encoder and decoder descend the per-pixel cross-entropy of x against Dec(Enc(x)).
2. ``D`` (regularisation, discriminator): D separates prior samples z ~ p(z) (``batch.latent``, "real") from
   codes Enc(x) ("fake") with the objective's D loss.
3. ``G`` (regularisation, generator): the encoder fools D with the objective's G loss on D(Enc(x)).

Afterwards the decoder is a generative model: ``generate(z)`` decodes prior samples. Networks: the paper's
MNIST MLPs (two ReLU layers of ``width`` units, 512 by default, for encoder, decoder and D).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import TrainConfig
from ..objectives import OBJECTIVES
from .ae import reconstruction_bce
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model
from .wgan import refuse_unused_options, require_normal_prior


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AdversarialAutoencoder(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "aae", objective=False)
        require_normal_prior(cfg, "aae", "codes are matched to N(0, I)")
        d, h, k = math.prod(data.shape), cfg.width or 512, cfg.latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, h, h, k]))  # x -> z, deterministic q(z | x)
        self.decoder = nn.Sequential(mlp([k, h, h, d]), nn.Unflatten(1, tuple(data.shape)))  # z -> pixel logits
        self.generator = self.decoder
        self.discriminator = nn.Sequential(mlp([k, h, h, 1]), nn.Flatten(0))  # z -> logit (prior vs code)
        self.objective = OBJECTIVES.get_or_fail(cfg.objective)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, C, H, W)`` in [-1, 1] -> codes ``(N, latent_dim)``."""
        return self.encoder(x)

    def generate(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(0.5 * self.sampling_generator(latent))  # sigmoid(l) in [0, 1] mapped to [-1, 1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.generate(self.encode(x))

    def reconstruction_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return reconstruction_bce(self.decoder(self.encode(batch.x_real)), batch.x_real), {}

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits_prior = self.discriminator(batch.latent)  # (m,) "real": z ~ p(z)
        logits_code = self.discriminator(self.encode(batch.x_real))  # (m,) "fake": z ~ q(z)
        return self.objective.d_loss(logits_prior, logits_code), {
            "D/prior": torch.sigmoid(logits_prior).mean(), "D/code": torch.sigmoid(logits_code).mean()}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.objective.g_loss(self.discriminator(self.encode(batch.x_real))), {}

    def phases(self) -> list[Phase]:
        autoencoder = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return [Phase("AE", self.reconstruction_loss, autoencoder),
                Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.g_loss, list(self.encoder.parameters()))]


register_model(ModelSpec("aae", "Makhzani et al. 2016: adversarial autoencoder, codes matched to N(0, I) by a "
                                "discriminator in latent space (MLPs)", AdversarialAutoencoder, ("image",),
                         defaults=dict(latent_dim=8)))
