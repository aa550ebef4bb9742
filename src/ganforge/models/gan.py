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
from ..errors import UserError
from .base import (
    AdversarialGAN,
    Batch,
    DataInfo,
    ModelSpec,
    Phase,
    discriminator_shape,
    refuse_remedies,
    register_model,
    resolved_penalty,
)


class Maxout(nn.Module):
    """``(N, in_features) -> (N, out_features)``: the max over ``pieces`` affine maps per unit."""

    def __init__(self, in_features: int, out_features: int, pieces: int):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.out_features, self.pieces).amax(-1)


class SigmoidPixels(nn.Module):
    """The 2014 code's sigmoid output layer, returned in ganforge's model range: ``2 sigmoid(a) - 1`` in
    [-1, 1] is exactly pixels ``sigmoid(a)`` in [0, 1]."""

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.sigmoid(a) - 1.0


class MLPGenerator(nn.Module):
    """``z (N, latent_dim) -> x (N, *example_shape)``; images in [-1, 1] (tanh, or ``output="sigmoid"``:
    the 2014 code's sigmoid over [0, 1] pixels, mapped to [-1, 1]), points unbounded."""

    def __init__(self, example_shape: tuple[int, ...], latent_dim: int, hidden: int, bounded: bool,
                 output: str = "tanh"):
        super().__init__()
        self.example_shape = tuple(example_shape)
        squash = (SigmoidPixels() if output == "sigmoid" else nn.Tanh()) if bounded else nn.Identity()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, math.prod(example_shape)),
            squash,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.example_shape)


class MaxoutDiscriminator(nn.Module):
    """``x (N, *example_shape) -> logits (N,)`` through two maxout layers with dropout."""

    def __init__(self, example_shape: tuple[int, ...], units: int, pieces: int, dropout: bool,
                 pixels_01: bool = False):
        super().__init__()
        d = math.prod(example_shape)
        self.pixels_01 = pixels_01  # read pixels in [0, 1] (the 2014 code's units) rather than [-1, 1]
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2) if dropout else nn.Identity(),
            Maxout(d, units, pieces), nn.Dropout(0.5) if dropout else nn.Identity(),
            Maxout(units, units, pieces), nn.Dropout(0.5) if dropout else nn.Identity(),
            nn.Linear(units, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pixels_01:
            x = (x + 1.0) * 0.5  # model range [-1, 1] -> pixels in [0, 1]
        return self.net(x).squeeze(1)


class PacGANToyGenerator(nn.Module):
    """``z (N, latent_dim) -> x (N, *example_shape)``, unbounded points: four ReLU layers of ``hidden`` units,
    each after batch norm (Lin et al. 2018's toy generator: 400 units, z in R^2). The last linear layer works
    in standardised units: its output is multiplied by ``data_scale`` (a buffer, 1 until :class:`PacGANToy`
    sets it to the training points' standard deviation)."""

    def __init__(self, example_shape: tuple[int, ...], latent_dim: int, hidden: int):
        super().__init__()
        self.example_shape = tuple(example_shape)
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Linear(latent_dim if i == 0 else hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, math.prod(example_shape)))
        self.register_buffer("data_scale", torch.ones(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z) * self.data_scale).view(-1, *self.example_shape)


class PacGANToyDiscriminator(nn.Module):
    """``x (N, *example_shape) -> logits (N,)`` through three maxout layers of ``units`` units x 5 pieces, no
    dropout (Lin et al. 2018's toy discriminator: 200 units)."""

    def __init__(self, example_shape: tuple[int, ...], units: int):
        super().__init__()
        d = math.prod(example_shape)
        self.net = nn.Sequential(nn.Flatten(), Maxout(d, units, 5), Maxout(units, units, 5), Maxout(units, units, 5),
                                 nn.Linear(units, 1))
        self.register_buffer("data_scale", torch.ones(()))  # D reads x / data_scale (see PacGANToy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / self.data_scale).squeeze(1)


def build_networks(example_shape: tuple[int, ...], latent_dim: int, width: int | None,
                   recipe: str = "default") -> tuple[nn.Module, nn.Module]:
    """``width`` is the generator's hidden size (1200 for images, 128 for points by default);
    the discriminator has ``width // 5`` maxout units of 5 pieces (240 for images). ``output="sigmoid"``
    ``recipe="2014-code"`` gives images the 2014 code's units: G's sigmoid over pixels in [0, 1], which D reads.
    ``recipe="pacgan"`` (points only) gives PacGAN's deeper toy MLPs: G four batch-normed ReLU layers of
    ``width`` (400 by default), D three maxout layers of ``width // 2`` units x 5 pieces."""
    images = len(example_shape) == 3
    if recipe == "pacgan":
        if images:
            raise UserError("gan_recipe pacgan: toy point data (its MLPs are PacGAN's for 2-d mixtures)")
        hidden = width or 400
        return (PacGANToyGenerator(example_shape, latent_dim, hidden),
                PacGANToyDiscriminator(example_shape, max(hidden // 2, 8)))
    hidden = width or (1200 if images else 128)
    sigmoid = images and recipe == "2014-code"
    generator = MLPGenerator(example_shape, latent_dim, hidden, bounded=images, output="sigmoid" if sigmoid else "tanh")
    discriminator = MaxoutDiscriminator(example_shape, max(hidden // 5, 8), 5, dropout=images, pixels_01=sigmoid)
    return generator, discriminator


def init_uniform_(module: nn.Module, irange: float) -> None:
    """pylearn2's ``irange`` initialisation: every linear weight ~ U(-irange, irange), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)


class GAN2014(AdversarialGAN):
    """``--gan-recipe 2014-code``: the MLPs as the authors' pylearn2 code trained them (goodfeli/adversarial,
    ``mnist.yaml`` and ``AdversaryCost2``): pixels in [0, 1] (G's sigmoid output, D's input), G's weights
    ~ U(±0.05) and D's ~ U(±0.005), G's output bias the logit of each pixel's training mean (G starts at the
    mean image), D's loss ``0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0))``, G's the non-saturating ``BCE(D(G(z)), 1)``,
    and both networks stepped together by one optimizer on the gradients taken at the same parameters
    (one phase, ``GD``), where Algorithm 1 alternates."""

    def __init__(self, cfg: TrainConfig, data: DataInfo, generator: nn.Module, discriminator: nn.Module, **kw):
        refuse_remedies(cfg, "gan --gan-recipe 2014-code")  # its one simultaneous phase is the 2014 code's, as is
        super().__init__(cfg, data, generator, discriminator, **kw)
        init_uniform_(self.generator, 0.05)
        init_uniform_(self.discriminator, 0.005)

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        """G's output bias from the first 10,000 training images (on resume the checkpoint overwrites it)."""
        mean = (x[:10_000].float() / 255.0).mean(0).flatten()  # (C*H*W,) pixel means in [0, 1]
        mean = mean.clamp(1e-3, 1 - 1e-3)  # an always-black pixel's logit is -inf; the 2014 code clips too
        output_layer = self.generator.net[-2]
        with torch.no_grad():
            output_layer.bias.copy_(torch.log(mean / (1 - mean)).to(output_layer.bias))

    def simultaneous_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``d_obj + g_obj`` built so that D's parameters get exactly the gradient of ``d_obj`` and G's exactly
        that of ``g_obj``: D's loss sees the samples detached, and G's loss reads D through detached copies of
        its parameters (the same weights, fresh dropout masks)."""
        x_fake = self.generate(batch.latent)  # (m, *shape), graph into G
        logits_real = self.discriminator(batch.x_real)
        logits_fake = self.discriminator(x_fake.detach())
        d_obj = 0.5 * self.objective.d_loss(logits_real, logits_fake)
        frozen = {k: v.detach() for k, v in self.discriminator.state_dict(keep_vars=True).items()}
        logits_fake_for_g = torch.func.functional_call(self.discriminator, frozen, (x_fake,))
        g_obj = self.objective.g_loss(logits_fake_for_g)
        logs = {**self.discriminator_logs(logits_real, logits_fake), "loss/D": d_obj.detach(),
                "loss/G": g_obj.detach()}
        return d_obj + g_obj, logs

    def phases(self) -> list[Phase]:
        params = list(self.discriminator.parameters()) + list(self.generator.parameters())
        return [Phase("GD", self.simultaneous_loss, params)]


class PacGANToy(AdversarialGAN):
    """``--gan-recipe pacgan`` on points: both networks work in standardised units, as if the points were
    divided by their standard deviation ``s`` (one number over all coordinates of the training split): D reads
    ``x / s``, G's last layer is multiplied by ``s``. Default initialisations then spread D's first-layer
    kinks and G's first outputs over the data's extent (grid25: s = 2.83) instead of the unit square."""

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        """``data_scale`` of G, G's average and D from the training points ``x (N, D)`` (resuming restores the
        same value from the checkpoint)."""
        scale = x.float().std()
        inner = getattr(self.discriminator, "inner", self.discriminator)  # under --pack, the packed D's net
        for net in (self.generator, self.generator_ema, inner):
            if net is not None:
                net.data_scale.fill_(scale)


def build(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    """The paper's GAN by default; ``--objective``, ``--penalty`` and ``--clip`` combine as for any GAN."""
    generator, discriminator = build_networks(data.shape, cfg.latent_dim, cfg.width, cfg.gan_recipe)
    if cfg.pack > 1:  # PacGAN: D takes M examples at once (G's width sets D's, as without packing)
        discriminator = build_networks(discriminator_shape(cfg, data), cfg.latent_dim, cfg.width, cfg.gan_recipe)[1]
    cls = GAN2014 if cfg.gan_recipe == "2014-code" and data.kind == "image" else AdversarialGAN
    cls = PacGANToy if cfg.gan_recipe == "pacgan" else cls
    return cls(cfg, data, generator, discriminator, penalty=resolved_penalty(cfg), clip=cfg.clip)


register_model(ModelSpec("gan", "Goodfellow et al. 2014: MLP generator, maxout discriminator with dropout",
                         build, ("image", "points", "table")))
