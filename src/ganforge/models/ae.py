"""``ae``: the four autoencoders the lectures compare on the road to GANs (``--ae-kind``).

- ``mlp``: one fully-connected code layer (``latent_dim`` units, ReLU) between input and output.
- ``deep``: fully connected 128-64-code-64-128 (depth, the lectures find, does not help).
- ``conv``: two stride-2 convolutions (16, 8 channels) and two transposed ones back: the code is an
  8-channel map at a quarter of the resolution, and knowing which pixels are neighbours does help.
- ``denoise``: the conv autoencoder with 32 filters per layer, trained to reconstruct clean images from
  inputs with Gaussian noise (std ``noise_std`` in [0, 1] pixel units, clipped to the pixel range).

The decoder outputs per-pixel logits l; the image is sigmoid(l) in [0, 1], i.e. tanh(l / 2) in the model
range [-1, 1]; the loss is the mean per-pixel binary cross-entropy against the clean input, as in the
lectures' Keras models. Toy points (``mlp`` or ``deep``, which ``conv`` means for them; issue 12's anomaly
baselines) are unbounded: the decoder's output is the point itself and the loss the mean squared error.
One phase ("AE") trains encoder and decoder together; there is no discriminator.

``generate`` decodes codes drawn from N(0, I): a plain autoencoder's code space has no prior, and these
samples show why the VAE (``ganforge.models.vae``) adds one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from ..noise import sample_noise
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model
from .wgan import refuse_unused_options, require_normal_prior


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> [0, 1], the targets of the per-pixel binary cross-entropy."""
    return x.add(1.0).mul(0.5)


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel binary cross-entropy of decoder ``logits`` against images ``x`` in [-1, 1]."""
    return F.binary_cross_entropy_with_logits(logits, to_unit_range(x))


def fully_connected_stack(sizes: list[int]) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def conv_coder_pair(shape: tuple[int, ...], filters: tuple[int, int]) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """Encoder ``(N, C, H, W) -> (N, f2, H/4, W/4)`` (ReLU code) and decoder back to logits; H, W divisible by 4."""
    c, h, w = shape
    if h % 4 or w % 4:
        raise UserError(f"ae conv/denoise needs image sides divisible by 4, got {h}x{w}: use --image-size")
    f1, f2 = filters
    encoder = nn.Sequential(nn.Conv2d(c, f1, 3, 2, 1), nn.ReLU(), nn.Conv2d(f1, f2, 3, 2, 1), nn.ReLU())
    decoder = nn.Sequential(nn.ConvTranspose2d(f2, f1, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(f1, c, 4, 2, 1))
    return encoder, decoder, (f2, h // 4, w // 4)


class Autoencoder(GANModel):
    """``encode(x (N, C, H, W) in [-1, 1]) -> code (N, *code_shape)``; ``decode_logits(code) -> (N, C, H, W)``."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "ae")
        self.points = data.kind == "points"
        if self.points and cfg.ae_kind == "denoise":
            raise UserError("model ae: ae_kind denoise is invalid with points data: expected mlp or deep")
        # points have no neighbouring pixels to convolve: the default kind, conv, means deep for them
        kind = "deep" if self.points and cfg.ae_kind == "conv" else cfg.ae_kind
        d = math.prod(data.shape)
        if kind == "mlp":
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, cfg.latent_dim), nn.ReLU())
            self.decoder = nn.Sequential(nn.Linear(cfg.latent_dim, d), nn.Unflatten(1, data.shape))
            self.code_shape: tuple[int, ...] = (cfg.latent_dim,)
        elif kind == "deep":
            self.encoder = nn.Sequential(nn.Flatten(), fully_connected_stack([d, 128, 64, cfg.latent_dim]), nn.ReLU())
            self.decoder = nn.Sequential(fully_connected_stack([cfg.latent_dim, 64, 128, d]),
                                         nn.Unflatten(1, data.shape))
            self.code_shape = (cfg.latent_dim,)
        else:
            filters = (32, 32) if cfg.ae_kind == "denoise" else (16, 8)
            self.encoder, self.decoder, self.code_shape = conv_coder_pair(data.shape, filters)
        self.generator = self.decoder  # what `generate` runs: codes -> images
        self.discriminator = None
        self.noise_std = cfg.noise_std if cfg.ae_kind == "denoise" else 0.0

    @classmethod
    def refuse_for_new_run(cls, cfg: TrainConfig) -> None:
        require_normal_prior(cfg, "ae", "samples decode codes drawn from N(0, I): its code space has no prior")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code.view(-1, *self.code_shape))

    def output(self, logits: torch.Tensor) -> torch.Tensor:
        """Decoder outputs -> examples: images sigmoid(l) mapped to [-1, 1] (= tanh(l / 2)); points as they are."""
        return logits if self.points else torch.tanh(0.5 * logits)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, C, H, W)`` in [-1, 1] -> its reconstruction in [-1, 1] (sigmoid(l) mapped to [-1, 1]);
        points ``(N, D)`` -> points."""
        return self.output(self.decode_logits(self.encode(x)))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The denoising autoencoder's input: x plus N(0, noise_std^2) in [0, 1] units (doubled in [-1, 1]),
        clipped to the pixel range; unchanged for the other kinds."""
        if self.noise_std == 0:
            return x
        return (x + 2 * self.noise_std * torch.randn_like(x)).clamp(-1.0, 1.0)

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        return sample_noise(n, math.prod(self.code_shape), "normal", rng, self.device)

    def generate(self, latent: torch.Tensor) -> torch.Tensor:
        return self.output(self.sampling_generator(latent.view(-1, *self.code_shape)))

    def reconstruction_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.decode_logits(self.encode(self.corrupt(batch.x_real)))
        if self.points:
            return F.mse_loss(out, batch.x_real), {}
        return reconstruction_bce(out, batch.x_real), {}

    def phases(self) -> list[Phase]:
        return [Phase("AE", self.reconstruction_loss, list(self.parameters()))]


register_model(ModelSpec("ae", "autoencoder baselines of the lectures: --ae-kind mlp, deep, conv or denoise "
                               "(per-pixel cross-entropy; no discriminator)", Autoencoder, ("image", "points"),
                         defaults=dict(latent_dim=32)))
