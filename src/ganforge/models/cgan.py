"""``cgan``: the conditional GAN of Mirza & Osindero (2014), G(z | y) and D(x | y) for labelled data.

G sees the label y as a one-hot vector appended to z. D sees it in one of two ways (``--conditioning``):
- ``concat`` (the paper's): the image with K constant one-hot planes appended as extra channels (or, for
  points, [x, onehot(y)]);
- ``projection`` (Miyato & Koyama 2018): D(x | y) = psi(phi(x)) + embed(y) . phi(x), where phi(x) are D's last
  hidden features and psi its last layer. The label then scores the features D already computed rather than
  being mixed into its first layer, which ties D's judgement to the requested class far more tightly;
- ``auxiliary`` (AC-GAN, Odena, Olah & Shlens 2017): D does not see y; a second head on phi(x) classifies
  every image, real or fake, and both players add the cross-entropy of that head with the label y to their
  losses (D learns the classes on both, G draws images D's head assigns to y). Samples become easier to
  classify, at some cost in diversity within a class.
The networks are the project's DCGAN / 2014 MLPs built for the wider inputs, so the paper's architecture
rules still hold.

The value function is the GAN's with every term conditioned on y:
    min_G max_D E_{x,y}[log D(x | y)] + E_{z,y}[log(1 - D(G(z | y) | y))].
In D's step the fakes are drawn for the real minibatch's labels (so real and fake terms see the same label
distribution, and an input-gradient penalty compares like with like); in G's step y is uniform.
Any objective and penalty combine with it (``--objective hinge --penalty gp``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from .base import (
    AdversarialGAN,
    Batch,
    DataInfo,
    GANModel,
    ModelSpec,
    refuse_remedies,
    register_model,
    resolved_penalty,
    split_last_layer,
)
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .gan import build_networks as build_mlp_networks


def one_hot_planes(y: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """Labels ``y (N,)`` as ``(N, K, H, W)`` constant planes (images) or ``(N, K)`` (points), ``like``'s dtype."""
    onehot = F.one_hot(y, num_classes).to(like.dtype)  # (N, K)
    if like.dim() == 4:
        return onehot[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])
    return onehot


class ConditionalGenerator(nn.Module):
    """``(z (N, latent_dim), y (N,)) -> x (N, *shape)``: the unconditional generator fed ``[z, onehot(y)]``."""

    def __init__(self, base: nn.Module, num_classes: int):
        super().__init__()
        self.base, self.num_classes = base, num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.base(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1))


class ConditionalDiscriminator(nn.Module):
    """``(x (N, *shape), y (N,)) -> logits (N,)``: the unconditional D fed x with one-hot planes appended."""

    def __init__(self, base: nn.Module, num_classes: int):
        super().__init__()
        self.base, self.num_classes = base, num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.base(torch.cat([x, one_hot_planes(y, self.num_classes, x)], 1))


class ProjectionDiscriminator(nn.Module):
    """``(x (N, *shape), y (N,)) -> logits (N,)`` = ``head(phi) + <embed(y), phi>`` with ``phi = body(x)``.

    ``body`` is an unconditional D without its last layer and ``head`` that last layer (a linear map of phi,
    e.g. DCGAN's full-size final convolution); the class embedding has one weight per feature of phi.
    """

    def __init__(self, body: nn.Module, head: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.body, self.head = body, head
        self.embed = nn.Embedding(num_classes, feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # the DCGAN initialisation of the rest of D

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.body(x)
        return self.head(phi).flatten() + (self.embed(y) * phi.flatten(1)).sum(1)


class AuxiliaryClassifierDiscriminator(nn.Module):
    """AC-GAN's D: :meth:`scores` maps ``x (N, *shape)`` to ``(logits (N,), class_logits (N, K))``, both from
    ``phi = body(x)``; ``forward(x, y)`` is the adversarial logit alone (y unused: D does not see the label)."""

    def __init__(self, body: nn.Module, head: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.body, self.head = body, head
        self.classes = nn.Linear(feature_dim, num_classes)

    def scores(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.body(x)
        return self.head(phi).flatten(), self.classes(phi.flatten(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.scores(x)[0]


def build_conditional_networks(data: DataInfo, latent_dim: int, width: int | None, conditioning: str = "concat"
                               ) -> tuple[ConditionalGenerator, nn.Module]:
    k = data.num_classes
    extra_inputs = k if conditioning == "concat" else 0
    if data.kind == "image":
        channels, size = data.shape[0], data.shape[-1]
        g = DCGANGenerator(latent_dim + k, channels, size, width or 64)
        d = DCGANDiscriminator(channels + extra_inputs, size, width or 64)
    else:
        g, _ = build_mlp_networks(data.shape, latent_dim + k, width)
        _, d = build_mlp_networks((data.shape[0] + extra_inputs,), latent_dim, width)
    if conditioning == "concat":
        return ConditionalGenerator(g, k), ConditionalDiscriminator(d, k)
    wrapper = ProjectionDiscriminator if conditioning == "projection" else AuxiliaryClassifierDiscriminator
    return ConditionalGenerator(g, k), wrapper(*split_last_layer(d.net, data.shape), k)


class ConditionalGAN(AdversarialGAN):
    """Latents are pairs ``(z (n, latent_dim), y (n,) int64)``; :meth:`latent_for_labels` fixes y."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        if not data.num_classes:
            raise UserError(f"model cgan needs labelled data: {cfg.data} has no class labels (use digits, mnist, "
                            "fashion-mnist, cifar10, a folder:PATH with a subfolder per class, or ring8/grid25, "
                            "labelled by their modes)")
        # D(x, y) takes the label, so the remedies that change D's input or read its features are refused
        refuse_remedies(cfg, "cgan", ("unroll", "pack", "minibatch_features", "feature_matching", "instance_noise",
                                  "augment"))
        super().__init__(cfg, data, *build_conditional_networks(data, cfg.latent_dim, cfg.width, cfg.conditioning),
                         penalty=resolved_penalty(cfg), clip=cfg.clip)
        self.num_classes = data.num_classes

    def latent_for_labels(self, y: torch.Tensor, rng: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Latents that ask for the classes ``y (n,)``: fresh z from ``rng``, the given labels."""
        z = super().sample_latent(len(y), rng)
        return z, y.to(device=z.device, dtype=torch.int64)

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        z = super().sample_latent(n, rng)
        y = torch.randint(self.num_classes, (n,), generator=rng).to(z.device)  # uniform over classes
        return z, y

    def generate(self, latent: tuple[torch.Tensor, ...]) -> torch.Tensor:
        z, y = latent
        return self.sampling_generator(z, y)

    def discriminator_logits(self, x: torch.Tensor) -> torch.Tensor:
        return GANModel.discriminator_logits(self, x)  # D(x, y) needs the label: it cannot judge x alone

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, _ = batch.latent
        y = batch.y_real  # (m,): fakes are asked for the real minibatch's labels
        x_fake = self.generator(z, y)

        def discriminator_given_y(x: torch.Tensor) -> torch.Tensor:
            return self.discriminator(x, y)

        if not isinstance(self.discriminator, AuxiliaryClassifierDiscriminator):
            return self.regularised_d_loss(batch.x_real, x_fake, self.discriminator(batch.x_real, y),
                                           self.discriminator(x_fake, y), discriminator_given_y)
        logits_real, classes_real = self.discriminator.scores(batch.x_real)
        logits_fake, classes_fake = self.discriminator.scores(x_fake)
        loss, logs = self.regularised_d_loss(batch.x_real, x_fake, logits_real, logits_fake, discriminator_given_y)
        class_loss = F.cross_entropy(classes_real, y) + F.cross_entropy(classes_fake, y)  # AC-GAN's L_C
        logs.update({"D/class_loss": class_loss, "D/class_accuracy_real": (classes_real.argmax(1) == y).float().mean()})
        return loss + class_loss, logs

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = batch.latent
        x_fake = self.generator(z, y)
        if not isinstance(self.discriminator, AuxiliaryClassifierDiscriminator):
            return self.objective.g_loss(self.discriminator(x_fake, y)), {}
        logits, classes = self.discriminator.scores(x_fake)
        class_loss = F.cross_entropy(classes, y)
        return self.objective.g_loss(logits) + class_loss, {"G/class_loss": class_loss}


register_model(ModelSpec("cgan", "Mirza & Osindero 2014: conditional GAN, G(z|y) and D(x|y) with one-hot labels "
                                 "(DCGAN nets for images; --conditioning projection or auxiliary for "
                                 "Miyato & Koyama's or AC-GAN's D); "
                                 "labelled data only", ConditionalGAN,
                         ("image", "points")))
