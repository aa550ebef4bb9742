"""``ebgan``: the energy-based GAN (Zhao, Mathieu & LeCun 2017): D is an autoencoder, its energy the error.

D(x) = || Dec(Enc(x)) - x ||^2 (mean per pixel, x in [-1, 1]) is low on data and should be high elsewhere.
With margin m (``--margin``):
    L_D = D(x) + [m - D(G(z))]^+        L_G = D(G(z)),
so D lowers the energy of real data and raises that of fakes up to m (not beyond: the hinge stops it), and
G seeks low-energy samples. The paper's optional pulling-away term is not included.
Networks: G is the DCGAN generator; D is the convolutional autoencoder of ``ganforge.models.ae``
(two stride-2 convolutions and back, 32 filters), with a tanh output in the image range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from .ae import conv_coder_pair
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model
from .dcgan import DCGANGenerator
from .wgan import refuse_unused_options


class AutoencoderEnergy(nn.Module):
    """``x (N, C, H, W)`` in [-1, 1] -> energy ``(N,)``: the mean squared reconstruction error per pixel."""

    def __init__(self, shape: tuple[int, ...], filters: int = 32):
        super().__init__()
        self.encoder, self.decoder, _ = conv_coder_pair(shape, (filters, filters))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(self.encoder(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x) - x).square().flatten(1).mean(1)


def ebgan_d_loss(energy_real: torch.Tensor, energy_fake: torch.Tensor, margin: float) -> torch.Tensor:
    """mean D(x) + mean max(0, m - D(G(z)))."""
    return energy_real.mean() + F.relu(margin - energy_fake).mean()


class EnergyBasedGAN(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "ebgan")
        self.generator = DCGANGenerator(cfg.latent_dim, data.shape[0], data.shape[-1], cfg.width or 64)
        self.discriminator = AutoencoderEnergy(data.shape)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        energy_real = self.discriminator(batch.x_real)  # (m,)
        energy_fake = self.discriminator(self.generate(batch.latent))  # (m,)
        return ebgan_d_loss(energy_real, energy_fake, self.cfg.margin), {
            "D/energy_real": energy_real.mean(), "D/energy_fake": energy_fake.mean()}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.discriminator(self.generate(batch.latent)).mean(), {}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.g_loss, list(self.generator.parameters()), needs_real=False)]


register_model(ModelSpec("ebgan", "Zhao et al. 2017: energy-based GAN, D an autoencoder whose reconstruction "
                                  "error is the energy, margin --margin", EnergyBasedGAN, ("image",)))
