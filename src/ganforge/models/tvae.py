"""``tvae``: the tabular variational autoencoder of Xu et al. (2019), the paper's strong non-GAN baseline.

Rows are encoded by the column transformer (``ganforge.data.table``). Encoder: MLP 128-128 (ReLU) to a
Gaussian q(z | x) of 128 dimensions. Decoder: MLP 128-128 (ReLU) to the row's raw outputs, plus one learned
standard deviation sigma_j per entry (kept in [0.01, 1]). The loss per minibatch of m rows is
    (2 * sum_rows [ sum_alpha ((alpha - tanh(out))^2 / (2 sigma^2) + log sigma) + sum_blocks CE(out_block, one-hot) ]
     + sum_rows KL(q(z | x) || N(0, I))) / m,
the authors' loss factor 2 on the reconstruction. Sampling decodes z ~ N(0, I): alphas are tanh(out) plus
N(0, sigma^2) noise (clipped to [-1, 1]), one-hot blocks are softmax probabilities (decoding takes the
arg-max). Defaults: batch 500, Adam lr 1e-3 (the authors also use weight decay 1e-5, not here).

Latents are ``(z (n, 128), eps (n, D))``: eps is the alpha noise, so a seed fixes the samples.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model
from .ctgan import table_layout
from .vae import gaussian_kl_to_standard_normal, reparameterise
from .wgan import refuse_unused_options, require_normal_prior

LOSS_FACTOR = 2.0
SIGMA_RANGE = (0.01, 1.0)


class TableEncoder(nn.Module):
    """``x (n, D) -> (mu, logvar)``, each ``(n, latent_dim)``."""

    def __init__(self, data_dim: int, width: int, latent_dim: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(data_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.mu, self.logvar = nn.Linear(width, latent_dim), nn.Linear(width, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class TableDecoder(nn.Module):
    """``z (n, latent_dim) -> raw (n, D)``, with ``sigma (D,)`` the learned noise scale of every entry."""

    def __init__(self, latent_dim: int, width: int, data_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, data_dim))
        self.sigma = nn.Parameter(torch.full((data_dim,), 0.1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TVAE(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "tvae")
        require_normal_prior(cfg, "tvae", "the KL term is to N(0, I)")
        self.layout = table_layout(data, "tvae")
        width = cfg.width or 128
        self.encoder = TableEncoder(self.layout.dim, width, cfg.latent_dim)
        self.decoder = TableDecoder(cfg.latent_dim, width, self.layout.dim)
        self.generator, self.discriminator = self.decoder, None

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> Any:
        z = torch.randn(n, self.cfg.latent_dim, generator=rng)
        eps = torch.randn(n, self.layout.dim, generator=rng)
        return (z.to(self.device), eps.to(self.device))

    def generate(self, latent: Any) -> torch.Tensor:
        """Encoded rows ``(n, D)``: alphas in [-1, 1] (tanh(out) + sigma eps), one-hot blocks as softmax."""
        z, eps = latent
        raw = self.decoder(z)
        out = torch.empty_like(raw)
        sigma = self.decoder.sigma
        for s in self.layout.tanh:
            b = slice(s.start, s.start + s.width)
            out[:, b] = (torch.tanh(raw[:, b]) + sigma[b] * eps[:, b]).clamp(-1, 1)
        for s in self.layout.softmax:
            b = slice(s.start, s.start + s.width)
            out[:, b] = F.softmax(raw[:, b], dim=1)
        return out

    def reconstruction_loss(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Summed over the minibatch: Gaussian NLL (up to a constant) of alphas, cross-entropy of blocks."""
        sigma = self.decoder.sigma
        loss = raw.new_zeros(())
        for s in self.layout.tanh:
            b = slice(s.start, s.start + s.width)
            loss = loss + ((x[:, b] - torch.tanh(raw[:, b])).square() / (2 * sigma[b].square())).sum()
            loss = loss + torch.log(sigma[b]).sum() * len(x)
        for s in self.layout.softmax:
            b = slice(s.start, s.start + s.width)
            loss = loss + F.cross_entropy(raw[:, b], x[:, b].argmax(1), reduction="sum")
        return loss

    def elbo_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch.x_real
        mu, logvar = self.encoder(x)
        raw = self.decoder(reparameterise(mu, logvar))
        recon = self.reconstruction_loss(raw, x)
        kl = gaussian_kl_to_standard_normal(mu, logvar).sum()
        m = len(x)
        return (LOSS_FACTOR * recon + kl) / m, {"VAE/recon": recon / m, "VAE/kl": kl / m}

    @torch.no_grad()
    def clamp_sigma(self) -> None:
        self.decoder.sigma.clamp_(*SIGMA_RANGE)

    def phases(self) -> list[Phase]:
        return [Phase("VAE", self.elbo_loss, list(self.parameters()), after_step=self.clamp_sigma)]


register_model(ModelSpec("tvae", "Xu et al. 2019: tabular VAE (mode-specific normalisation, learned alpha "
                                 "noise, loss factor 2); no discriminator", TVAE, ("table",),
                         defaults=dict(batch_size=500, lr=1e-3, beta1=0.9, beta2=0.999, latent_dim=128,
                                       sample_every=1000)))
