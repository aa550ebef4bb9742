"""``vaegan``: VAE/GAN (Larsen et al. 2016): a VAE whose reconstruction error is measured in D's features.

Encoder q(z | x) (Gaussian, reparameterised), decoder = generator, discriminator D with a feature layer
D_l (the DCGAN discriminator's last hidden layer). With x~ = Dec(z), z ~ q(z | x), and x_p = Dec(z_p),
z_p ~ N(0, I):
    L_prior = KL(q(z | x) || N(0, I))                       (the VAE's KL term, summed over latent dims)
    L_llike = 1/2 || D_l(x) - D_l(x~) ||^2                   (learned similarity: a Gaussian in feature space)
    L_GAN   = log D(x) + log(1 - D(x~)) + log(1 - D(x_p))
Encoder descends L_prior + L_llike; decoder descends L_llike + its non-saturating GAN loss on x~ and x_p
(the paper weighs L_llike by gamma there; we use gamma = 1); D ascends L_GAN. Three phases: ``D``, ``E``,
``G`` (each on a fresh minibatch, the shared loop's rule, where the paper reuses one).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from ..objectives import discriminator_loss, generator_loss_nonsaturating
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model, split_last_layer
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .vae import GaussianEncoder, gaussian_kl_to_standard_normal, reparameterise
from .wgan import refuse_unused_options, require_normal_prior


class FeatureDiscriminator(nn.Module):
    """``x (N, C, H, W) -> logits (N,)``; :meth:`features` gives the last hidden layer ``(N, F)``."""

    def __init__(self, channels: int, size: int, width: int):
        super().__init__()
        self.trunk, self.head, _ = split_last_layer(DCGANDiscriminator(channels, size, width).net,
                                                    (channels, size, size))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).flatten()


def feature_reconstruction_loss(features_real: torch.Tensor, features_recon: torch.Tensor) -> torch.Tensor:
    """L_llike per example, averaged: 1/2 sum_f (D_l(x) - D_l(x~))^2."""
    return 0.5 * (features_real - features_recon).square().sum(1).mean()


class VAEGAN(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "vaegan")
        require_normal_prior(cfg, "vaegan", "the KL term is to N(0, I)")
        width = cfg.width or 64
        self.encoder = GaussianEncoder(data.shape, cfg.latent_dim, 8 * width)
        self.generator = DCGANGenerator(cfg.latent_dim, data.shape[0], data.shape[-1], width)
        self.discriminator = FeatureDiscriminator(data.shape[0], data.shape[-1], width)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.encoder(x)
        return self.generator(mu)

    def _reconstruction(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x~ (N, C, H, W), KL (N,))`` for real ``x``."""
        mu, logvar = self.encoder(x)
        return self.generator(reparameterise(mu, logvar)), gaussian_kl_to_standard_normal(mu, logvar)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_recon, _ = self._reconstruction(batch.x_real)
        logits_real = self.discriminator(batch.x_real)
        logits_recon, logits_prior = self.discriminator(x_recon), self.discriminator(self.generate(batch.latent))
        # -L_GAN: D's loss on real vs each kind of fake (the two fake terms share the fake half's weight)
        loss = 0.5 * (discriminator_loss(logits_real, logits_recon) + discriminator_loss(logits_real, logits_prior))
        return loss, {"D/real": torch.sigmoid(logits_real).mean(), "D/recon": torch.sigmoid(logits_recon).mean(),
                      "D/fake": torch.sigmoid(logits_prior).mean()}

    def e_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_recon, kl = self._reconstruction(batch.x_real)
        llike = feature_reconstruction_loss(self.discriminator.features(batch.x_real).detach(),
                                            self.discriminator.features(x_recon))
        return kl.mean() + llike, {"E/kl": kl.mean(), "E/llike": llike}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_recon, _ = self._reconstruction(batch.x_real)
        llike = feature_reconstruction_loss(self.discriminator.features(batch.x_real).detach(),
                                            self.discriminator.features(x_recon))
        gan = generator_loss_nonsaturating(self.discriminator(x_recon)) \
            + generator_loss_nonsaturating(self.discriminator(self.generate(batch.latent)))
        return llike + gan, {}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("E", self.e_loss, list(self.encoder.parameters())),
                Phase("G", self.g_loss, list(self.generator.parameters()))]


register_model(ModelSpec("vaegan", "Larsen et al. 2016: VAE/GAN, a VAE whose reconstruction error is measured in "
                                   "D's features, decoder = generator (DCGAN nets)", VAEGAN, ("image",),
                         defaults=dict(latent_dim=128)))
