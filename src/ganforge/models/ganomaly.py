"""``ganomaly``: GANomaly (Akcay, Atapour-Abarghouei & Breckon 2018), an encoder-decoder-encoder GAN for
anomaly detection, trained on normal examples only.

Generator: an encoder G_E maps x to z = G_E(x), a decoder G_D maps z back to x_hat = G_D(z), and a second
encoder E maps the reconstruction to z_hat = E(x_hat). A discriminator D tells x from x_hat. Two phases per
iteration, trained by the shared loop:

1. ``D``: the objective's D loss (binary cross-entropy by default) on D(x) "real" and D(x_hat) "fake".
2. ``G`` (G_E, G_D and E together): the paper's weighted sum
       w_adv ||f(x) - f(x_hat)||^2   adversarial loss as feature matching, f = D's last hidden features
     + w_con |x - x_hat|_1           contextual loss (pixels)
     + w_enc ||z - z_hat||^2         encoder loss (latents),
   each a mean over its elements, with w_adv = 1, w_con = 50, w_enc = 1 (``--ganomaly-w-adv/-con/-enc``).

The anomaly score of x is ||G_E(x) - E(G_D(G_E(x)))||^2 (mean over latent dimensions, :meth:`anomaly_score`);
the paper min-max normalises it over the test set (``ganforge.anomaly.ganomaly``). Networks: DCGAN's, the
encoders being DCGAN discriminators whose last convolution gives ``latent_dim`` channels; for toy points,
MLPs with two ReLU layers of ``width`` (64) units and the MLP critic as D. ``generate(z)`` decodes z ~ N(0, I),
so sample grids show what G_D makes of the prior (GANomaly does not match its codes to one).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from ..objectives import OBJECTIVES
from ..remedies import discriminator_features
from . import dcgan
from .aae import mlp
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model
from .wgan import MLPCritic, refuse_unused_options


class ConvEncoder(nn.Module):
    """``x (N, C, H, W)`` in [-1, 1] -> ``z (N, latent_dim)``: a DCGAN discriminator whose last convolution
    gives ``latent_dim`` channels instead of one logit."""

    def __init__(self, channels: int, size: int, width: int, latent_dim: int):
        super().__init__()
        net = dcgan.DCGANDiscriminator(channels, size, width).net
        last = net[-1]
        net[-1] = nn.Conv2d(last.in_channels, latent_dim, last.kernel_size, 1, 0, bias=False)
        nn.init.normal_(net[-1].weight, 0.0, 0.02)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def build_networks(data: DataInfo, latent_dim: int, width: int | None
                   ) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """``(encoder G_E, decoder G_D, encoder E, discriminator D)`` for ``data``."""
    if data.kind == "image":
        c, size = data.shape[0], data.shape[-1]
        w = width or 64
        return (ConvEncoder(c, size, w, latent_dim), dcgan.DCGANGenerator(latent_dim, c, size, w),
                ConvEncoder(c, size, w, latent_dim), dcgan.DCGANDiscriminator(c, size, w))
    d, h = math.prod(data.shape), width or 64
    return (nn.Sequential(nn.Flatten(), mlp([d, h, h, latent_dim])),
            nn.Sequential(mlp([latent_dim, h, h, d]), nn.Unflatten(1, tuple(data.shape))),
            nn.Sequential(nn.Flatten(), mlp([d, h, h, latent_dim])), MLPCritic(d, h))


class GANomaly(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "ganomaly", objective=False)
        for name in ("ganomaly_w_adv", "ganomaly_w_con", "ganomaly_w_enc"):
            value = getattr(cfg, name)
            if not (value >= 0 and math.isfinite(value)):
                raise UserError(f"config value {name}={value!r} is invalid: expected a number >= 0")
        self.encoder, self.decoder, self.encoder2, self.discriminator = build_networks(data, cfg.latent_dim,
                                                                                       cfg.width)
        self.generator = self.decoder
        self.objective = OBJECTIVES.get_or_fail(cfg.objective)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, *shape)`` in the model range -> x_hat = G_D(G_E(x)), same shape and range."""
        return self.decoder(self.encoder(x))

    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)``: ||G_E(x) - E(G_D(G_E(x)))||^2, the mean over latent dimensions (not normalised)."""
        z = self.encoder(x)
        return (z - self.encoder2(self.decoder(z))).square().mean(1)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            x_fake = self.reconstruct(batch.x_real)
        logits_real, logits_fake = self.discriminator(batch.x_real), self.discriminator(x_fake)
        return self.objective.d_loss(logits_real, logits_fake), {
            "D/real": torch.sigmoid(logits_real).mean(), "D/fake": torch.sigmoid(logits_fake).mean()}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch.x_real
        z = self.encoder(x)  # (m, latent_dim)
        x_hat = self.decoder(z)  # (m, *shape)
        z_hat = self.encoder2(x_hat)  # (m, latent_dim)
        adversarial = (discriminator_features(self.discriminator, x) -
                       discriminator_features(self.discriminator, x_hat)).square().mean()
        contextual = (x - x_hat).abs().mean()
        encoder = (z - z_hat).square().mean()
        cfg = self.cfg
        loss = cfg.ganomaly_w_adv * adversarial + cfg.ganomaly_w_con * contextual + cfg.ganomaly_w_enc * encoder
        return loss, {"G/adversarial": adversarial, "G/contextual": contextual, "G/encoder": encoder}

    def phases(self) -> list[Phase]:
        generator = [*self.encoder.parameters(), *self.decoder.parameters(), *self.encoder2.parameters()]
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.g_loss, generator)]


register_model(ModelSpec("ganomaly", "Akcay et al. 2018: GANomaly, encoder-decoder-encoder G and a D, trained on "
                                     "normal data for anomaly detection (ganforge anomaly)", GANomaly,
                         ("image", "points"), defaults=dict(latent_dim=100)))
