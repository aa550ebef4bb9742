"""``dcgan``: the all-convolutional GAN of Radford, Metz & Chintala (2016).

The paper's rules: strided convolutions in D and fractional-strided (transposed) convolutions in G, no
pooling; batch norm in both except G's output and D's input; ReLU in G with a tanh output; LeakyReLU(0.2)
in D; no hidden fully-connected layers (G's first layer is a transposed convolution of the 1x1 latent,
D's last a convolution to one logit); weights ~ N(0, 0.02).

Resolution is an argument: G starts from a ``base x base`` map (7 for 28 and 56, 4 for 16/32/64/128,
2 for 8x8 digits) and doubles it until ``size``; 1 or 3 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from .base import (
    AdversarialGAN,
    DataInfo,
    ModelSpec,
    discriminator_shape,
    init_normal_002,
    register_model,
    resolved_penalty,
)


def base_and_doublings(size: int) -> tuple[int, int]:
    """``size = base * 2**n``: base 7 (28, 56) or 4 (16, 32, 64, 128) with at least two doublings so that
    D has depth, else base 2 (8) or one doubling (14); a UserError for sizes of no such form."""
    for base, min_n in ((7, 2), (4, 2), (2, 2), (7, 1), (4, 1)):
        n, s = 0, size
        while s > base and s % 2 == 0:
            s, n = s // 2, n + 1
        if s == base and n >= min_n:
            return base, n
    raise UserError(f"dcgan image size {size} is unsupported: expected 4 or 7 times a power of two "
                    "(8, 14, 16, 28, 32, 56, 64, 128, ...)")


class DCGANGenerator(nn.Module):
    """``z (N, latent_dim) -> x (N, channels, size, size)`` in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int = 64):
        super().__init__()
        base, n = base_and_doublings(size)
        ch = width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal_002)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """``x (N, channels, size, size)`` in [-1, 1] -> logits ``(N,)``."""

    def __init__(self, channels: int, size: int, width: int = 64):
        super().__init__()
        base, n = base_and_doublings(size)
        ch = width
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, base, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal_002)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def build_networks(example_shape: tuple[int, ...], latent_dim: int, width: int | None) -> tuple[nn.Module, nn.Module]:
    if len(example_shape) != 3 or example_shape[1] != example_shape[2]:
        raise UserError(f"dcgan needs square images, got examples of shape {example_shape}")
    channels, size = example_shape[0], example_shape[1]
    width = width or 64
    return DCGANGenerator(latent_dim, channels, size, width), DCGANDiscriminator(channels, size, width)


def build(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    """The paper's GAN by default; ``--objective``, ``--penalty`` and ``--clip`` combine as for any GAN."""
    generator, discriminator = build_networks(data.shape, cfg.latent_dim, cfg.width)
    if cfg.pack > 1:  # PacGAN: D takes M images at once, their channels stacked
        discriminator = DCGANDiscriminator(discriminator_shape(cfg, data)[0], data.shape[-1], cfg.width or 64)
    return AdversarialGAN(cfg, data, generator, discriminator, penalty=resolved_penalty(cfg), clip=cfg.clip)


register_model(ModelSpec("dcgan", "Radford et al. 2016: all-convolutional G and D with batch norm",
                         build, ("image",)))
