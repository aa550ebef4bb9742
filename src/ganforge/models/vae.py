"""``vae``: the variational autoencoder (Kingma & Welling 2014), the lectures' step from autoencoders to GANs.

The encoder maps x to a Gaussian q(z | x) = N(mu(x), diag(exp(logvar(x)))) instead of a point; the
reparameterisation trick z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), keeps the sample differentiable in
the encoder. The decoder gives Bernoulli pixel probabilities sigmoid(l). The loss is the negative ELBO per
image, summed over pixels and latent dimensions and averaged over the minibatch:
    -ELBO = BCE(sigmoid(l), x) + KL(q(z | x) || N(0, I)),
    KL = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)     (closed form for Gaussians).
After training, decoding z ~ N(0, I) generates new images (``generate``): the prior is what the KL term made
the codes look like. Networks: the Keras example's MLP, one hidden layer of ``width`` (512) units.
Toy points (issue 12's anomaly baselines) get a Gaussian decoder of unit variance instead: the reconstruction
term is 1/2 ||x - mu_dec(z)||^2 (the negative log-likelihood up to a constant) and samples are mu_dec(z).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .ae import to_unit_range
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model
from .wgan import refuse_unused_options, require_normal_prior


def gaussian_kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per example ``(N,)`` for ``mu, logvar (N, latent_dim)``."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of q(z | x) differentiable in mu and logvar."""
    return mu + (0.5 * logvar).exp() * torch.randn_like(mu)


class GaussianEncoder(nn.Module):
    """``x (N, *shape) -> (mu, logvar)``, each ``(N, latent_dim)``: an MLP with one ReLU hidden layer."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int, hidden: int):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), hidden), nn.ReLU())
        self.mu, self.logvar = nn.Linear(hidden, latent_dim), nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class BernoulliDecoder(nn.Module):
    """``z (N, latent_dim) -> logits (N, *shape)`` of per-pixel Bernoulli probabilities."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, math.prod(shape)),
                                 nn.Unflatten(1, tuple(shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ``(reconstruction (N,), kl (N,))``: summed pixel BCE for ``x`` in [-1, 1], and the KL."""
    recon = F.binary_cross_entropy_with_logits(logits, to_unit_range(x), reduction="none").flatten(1).sum(1)
    return recon, gaussian_kl_to_standard_normal(mu, logvar)


class VAE(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "vae")
        require_normal_prior(cfg, "vae", "the KL term is to N(0, I)")
        hidden = cfg.width or 512
        self.encoder = GaussianEncoder(data.shape, cfg.latent_dim, hidden)
        self.decoder = BernoulliDecoder(data.shape, cfg.latent_dim, hidden)
        self.generator, self.discriminator = self.decoder, None
        self.points = data.kind == "points"

    def generate(self, latent: torch.Tensor) -> torch.Tensor:
        """Decoded pixel means sigmoid(l), as images in [-1, 1] (= tanh(l / 2)); for points the decoded mean."""
        out = self.sampling_generator(latent)
        return out if self.points else torch.tanh(0.5 * out)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoded posterior mean: ``x (N, *shape)`` in [-1, 1] -> ``(N, *shape)`` in [-1, 1]."""
        mu, _ = self.encoder(x)
        return self.generate(mu)

    def elbo_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mu, logvar = self.encoder(batch.x_real)  # (m, latent_dim) each
        out = self.decoder(reparameterise(mu, logvar))
        if self.points:  # Gaussian decoder, unit variance: -log p(x | z) = 1/2 ||x - out||^2 + const
            recon, kl = 0.5 * (out - batch.x_real).square().sum(1), gaussian_kl_to_standard_normal(mu, logvar)
        else:
            recon, kl = negative_elbo(out, batch.x_real, mu, logvar)
        return (recon + kl).mean(), {"VAE/recon": recon.mean(), "VAE/kl": kl.mean()}

    def phases(self) -> list[Phase]:
        return [Phase("VAE", self.elbo_loss, list(self.parameters()))]


register_model(ModelSpec("vae", "Kingma & Welling 2014: variational autoencoder (MLP, reparameterisation trick, "
                                "KL to N(0, I)); no discriminator", VAE, ("image", "points"),
                         defaults=dict(latent_dim=16)))
