"""``progan``: progressive growing of GANs (Karras, Aila, Laine & Lehtinen, ICLR 2018).

G and D start at 4x4 and grow together, one resolution doubling at a time, until the data's size (any
``4 * 2**L``: 8, 16, 32, 64, ...; sizes ``7 * 2**L`` such as 28 start at 7x7). Each new block is faded in
smoothly: while alpha rises linearly from 0 to 1, G's output is
``(1 - alpha) * up(toRGB_old(h_old)) + alpha * toRGB_new(block_new(h_old))`` (``up``: nearest neighbour)
and D's first features are ``(1 - alpha) * fromRGB_old(pool(x)) + alpha * block_new(fromRGB_new(x))``
(``pool``: 2x2 average); the real images D sees are faded the same way,
``(1 - alpha) * up(pool(x)) + alpha * x``. At alpha = 0 the grown networks compute exactly the smaller ones.

The rest of the paper's recipe: pixelwise feature normalisation after every convolution of G (and on z),
equalised learning rate in every layer, a minibatch standard-deviation feature before D's last block, and the
WGAN-GP loss (lambda = 10) with the drift term ``eps_drift * E[D(x_real)^2]``, eps_drift = 0.001; Adam 0.001,
betas (0, 0.99); one D step per G step (configs/progan.yaml).

The schedule is a pure function of the step (:func:`growth_at`): ``progan_phase_images`` real images at 4x4,
then for each doubling ``progan_fade_images`` images of fade-in and ``progan_phase_images`` images at full
strength; the last resolution stays until the run ends. ``on_step`` writes (level, alpha) into buffers, so a
checkpoint carries them and a resumed run continues in the same phase at the same alpha. Every block's
parameters exist from the start, in one optimizer per player: a block not yet in use gets no gradient, and
Adam leaves a parameter without one untouched (its moments start when the block does). As the authors'
code, the loop clears both optimizers' state (moments and step count) when a new block starts to fade in and
again when its fade-in ends (:meth:`ProGAN.resets_optimizers`), a function of the step like the rest.

ganforge departs from the paper in size (channels ``min(2w, 32w / res)`` for ``--width`` w, 32 by default,
where the paper had 512 at 32x32 for CIFAR-10) and in keeping one minibatch size at every resolution.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from ..objectives import OBJECTIVES
from ..penalties import gradient_penalty
from .base import AugmentedGAN, Batch, DataInfo, ModelSpec, Phase, refuse_remedies, register_model
from .karras_layers import EqualizedConv2d, EqualizedLinear, minibatch_stddev, pixel_norm

#: eps_drift of the paper's drift term, which keeps the critic's output near 0
DRIFT = 0.001
LEAK = 0.2


def base_and_levels(size: int, model: str = "progan") -> tuple[int, int]:
    """``(base, L)`` with ``size = base * 2**L``, base 4 (8 -> (4, 1), 32 -> (4, 3)) or else 7 (28 -> (7, 2));
    a UserError for any other size."""
    for base in (4, 7):
        level, s = 0, base
        while s < size:
            s, level = s * 2, level + 1
        if s == size:
            return base, level
    raise UserError(f"{model} image size {size} is unsupported: expected 4 or 7 times a power of two "
                    "(8, 16, 28, 32, 64, ...; --image-size 32 resizes)")


def channels_at(res: int, width: int) -> int:
    """Feature maps at resolution ``res``: ``min(2 width, 32 width / res)``, at least 8."""
    return max(8, min(2 * width, width * 32 // res))


def growth_at(images: int, levels: int, phase_images: int, fade_images: int) -> tuple[int, float]:
    """``(level, alpha)`` after ``images`` real images: level 0 (4x4) for ``phase_images``, then per doubling
    ``fade_images`` with alpha rising linearly from 0 to 1, then ``phase_images`` at alpha 1; ``levels`` is the
    last level (the data's size)."""
    if images < phase_images or levels == 0:
        return 0, 1.0
    period = fade_images + phase_images
    k, within = divmod(images - phase_images, period)
    level = k + 1
    if level > levels:
        return levels, 1.0
    return level, (min(1.0, within / fade_images) if fade_images > 0 else 1.0)


def upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by ``factor`` of ``(N, C, H, W)``."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """``factor x factor`` average pooling of ``(N, C, H, W)``."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


class ProGANGenerator(nn.Module):
    """``z (N, latent_dim)`` -> images ``(N, channels, base * 2**level, base * 2**level)`` (unbounded, ~[-1, 1])
    at a given ``level`` and fade-in ``alpha`` (:meth:`forward_at`)."""

    def __init__(self, latent_dim: int, channels: int, levels: int, width: int, base: int = 4):
        super().__init__()
        ch = [channels_at(base * 2 ** k, width) for k in range(levels + 1)]
        self.levels, self.base = levels, base
        self.dense = EqualizedLinear(latent_dim, ch[0] * base * base)
        self.conv0 = EqualizedConv2d(ch[0], ch[0], 3)
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.ModuleList([EqualizedConv2d(ch[k - 1], ch[k], 3), EqualizedConv2d(ch[k], ch[k], 3)])
            for k in range(1, levels + 1)])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(ch[k], channels, 1, gain=1.0) for k in range(levels + 1)])

    @staticmethod
    def act(x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(F.leaky_relu(x, LEAK))

    def features(self, z: torch.Tensor, level: int) -> list[torch.Tensor]:
        """Features after each block up to ``level``: ``[h_0 (N, ch0, 4, 4), ..., h_level]``."""
        h = self.act(self.dense(pixel_norm(z)).view(z.shape[0], -1, self.base, self.base))  # traceable batch
        hs = [self.act(self.conv0(h))]
        for k in range(1, level + 1):
            first, second = self.blocks[k]
            hs.append(self.act(second(self.act(first(upsample(hs[-1]))))))
        return hs

    def forward_at(self, z: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        """Images at resolution ``base * 2**level``; below alpha 1 the new block is faded in over the old one."""
        hs = self.features(z, level)
        x = self.to_rgb[level](hs[level])
        if level > 0 and alpha < 1.0:
            x = torch.lerp(upsample(self.to_rgb[level - 1](hs[level - 1])), x, alpha)
        return x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Fully grown: images at the data's size."""
        return self.forward_at(z, self.levels, 1.0)


class ProGANDiscriminator(nn.Module):
    """Images ``(N, channels, base * 2**level, ...)`` -> critic scores ``(N,)`` at a ``level`` and ``alpha``."""

    def __init__(self, channels: int, levels: int, width: int, base: int = 4, group_size: int = 4):
        super().__init__()
        ch = [channels_at(base * 2 ** k, width) for k in range(levels + 1)]
        self.levels, self.group_size = levels, group_size
        self.from_rgb = nn.ModuleList([EqualizedConv2d(channels, ch[k], 1) for k in range(levels + 1)])
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.ModuleList([EqualizedConv2d(ch[k], ch[k], 3), EqualizedConv2d(ch[k], ch[k - 1], 3)])
            for k in range(1, levels + 1)])
        self.conv_last = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.dense = EqualizedLinear(ch[0] * base * base, ch[0])
        self.out = EqualizedLinear(ch[0], 1, gain=1.0)

    def block(self, k: int, h: torch.Tensor) -> torch.Tensor:
        first, second = self.blocks[k]
        return downsample(F.leaky_relu(second(F.leaky_relu(first(h), LEAK)), LEAK))

    def forward_at(self, x: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        h = F.leaky_relu(self.from_rgb[level](x), LEAK)
        if level > 0:
            h = self.block(level, h)
            if alpha < 1.0:
                h = torch.lerp(F.leaky_relu(self.from_rgb[level - 1](downsample(x)), LEAK), h, alpha)
        for k in range(level - 1, 0, -1):
            h = self.block(k, h)
        h = F.leaky_relu(self.conv_last(minibatch_stddev(h, self.group_size)), LEAK)
        return self.out(F.leaky_relu(self.dense(h.flatten(1)), LEAK)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_at(x, self.levels, 1.0)


class ProGAN(AugmentedGAN):
    """The progressively grown WGAN-GP; (level, alpha) live in buffers set by :meth:`on_step`.

    Under ``--augment diffaug|ada`` D sees real and fake images at the current resolution through
    :meth:`AugmentedGAN.augmented`, in D's phase and in G's: the reals after their fade-down
    (:meth:`real_at_level`), so both go through the same pipeline; the gradient penalty is taken on
    interpolates of the augmented images, as ``AdversarialGAN`` does for ``wgan-gp``."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        channels, size = data.shape[0], data.shape[-1]
        if data.shape[1] != size:
            raise UserError(f"progan needs square images, got examples of shape {data.shape}")
        base, self.levels = base_and_levels(size)
        width = cfg.width or 32
        self.generator = ProGANGenerator(cfg.latent_dim, channels, self.levels, width, base)
        self.discriminator = ProGANDiscriminator(channels, self.levels, width, base)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False) if cfg.g_ema else None
        self.register_buffer("level", torch.zeros((), dtype=torch.long))
        self.register_buffer("alpha", torch.ones(()))
        self.objective = OBJECTIVES.get_or_fail("wasserstein")

    def growth(self) -> tuple[int, float]:
        return int(self.level), float(self.alpha)

    def growth_at_step(self, step: int) -> tuple[int, float]:
        """``(level, alpha)`` for iteration ``step``, from the real images D has seen before it, over all ranks
        under torchrun (the schedule is in images)."""
        images = step * self.global_batch * self.cfg.k_disc
        return growth_at(images, self.levels, self.cfg.progan_phase_images, self.cfg.progan_fade_images)

    def on_step(self, step: int, total_steps: int) -> None:
        level, alpha = self.growth_at_step(step)
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def resets_optimizers(self, step: int) -> bool:
        """True at the step a new block starts to fade in and at the step its fade-in ends, as Karras et al.'s
        code resets Adam's state whenever the level of detail crosses an integer (``reset_opt_for_new_lod``,
        on by default there): moments gathered for the old networks do not carry over to the new layers."""
        if step == 0:
            return False
        (level_before, alpha_before), (level, alpha) = self.growth_at_step(step - 1), self.growth_at_step(step)
        return level != level_before or (alpha == 1.0 and alpha_before < 1.0)

    def real_at_level(self, x: torch.Tensor) -> torch.Tensor:
        """Real images ``(N, C, S, S)`` as D sees them now: pooled to the current resolution and, during a
        fade-in, blended with their half-resolution version as the paper does."""
        level, alpha = self.growth()
        x = downsample(x, 2 ** (self.levels - level))
        if level > 0 and alpha < 1.0:
            x = torch.lerp(upsample(downsample(x)), x, alpha)
        return x

    def generate(self, latent: torch.Tensor) -> torch.Tensor:
        """Samples at the data's size: the current resolution, nearest-neighbour upsampled."""
        level, alpha = self.growth()
        return upsample(self.sampling_generator.forward_at(latent, level, alpha), 2 ** (self.levels - level))

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        level, alpha = self.growth()
        x_real = self.augmented(self.real_at_level(batch.x_real))  # faded down first, then augmented like x_fake
        x_fake = self.augmented(self.generator.forward_at(batch.latent, level, alpha))

        def critic(x: torch.Tensor) -> torch.Tensor:
            return self.discriminator.forward_at(x, level, alpha)

        scores_real, scores_fake = critic(x_real), critic(x_fake)
        penalty = gradient_penalty(critic, x_real, x_fake)
        drift = scores_real.square().mean()
        loss = self.objective.d_loss(scores_real, scores_fake) + self.cfg.gp_weight * penalty + DRIFT * drift
        return loss, {"D/score_real": scores_real.mean(), "D/score_fake": scores_fake.mean(), "D/gp": penalty,
                      "D/drift": drift, "progan/level": self.level.float(), "progan/alpha": self.alpha.clone(),
                      **self.augment_logs(scores_real)}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        level, alpha = self.growth()
        x_fake = self.augmented(self.generator.forward_at(batch.latent, level, alpha))
        scores = self.discriminator.forward_at(x_fake, level, alpha)
        return self.objective.g_loss(scores), {}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc,
                      after_step=self.after_d_step_augment if self.ada is not None else None, lr=self.cfg.lr_d),
                Phase("G", self.g_loss, list(self.generator.parameters()), needs_real=False, lr=self.cfg.lr_g)]


def build(cfg: TrainConfig, data: DataInfo) -> ProGAN:
    refuse_remedies(cfg, "progan", ("label_smoothing", "feature_matching", "minibatch_features",
                                    "historical_averaging", "unroll", "pack", "instance_noise"))
    if cfg.objective != "wasserstein" or cfg.penalty not in (None, "gp"):
        raise UserError(f"model progan: objective {cfg.objective} with penalty {cfg.penalty} is invalid: expected "
                        "wasserstein with gp (the paper's WGAN-GP; leave both at the recipe's)")
    if cfg.clip is not None:
        raise UserError("model progan: clip is invalid: the critic is regularised by the gradient penalty")
    return ProGAN(cfg, data)


register_model(ModelSpec("progan", "Karras et al. 2018: progressive growing 4x4 -> data size with fade-in, pixel norm, "
                                   "equalised lr, minibatch stddev, WGAN-GP + drift (configs/progan.yaml)",
                         build, ("image",),
                         defaults=dict(objective="wasserstein", penalty="gp", gp_weight=10.0, optimizer="adam",
                                       lr=1e-3, beta1=0.0, beta2=0.99)))
