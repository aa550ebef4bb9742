"""``stylegan2``: the StyleGAN2 generator and discriminator (Karras et al., CVPR 2020), sized for a CPU.

Generator: a mapping network (``--style-mapping-layers`` equalised fully connected layers, learning rate
multiplier 0.01, z pixel-normalised) turns z into w; a learned constant 4x4 (7x7) input is refined by modulated 3x3
convolutions, each with weight demodulation (:func:`modulated_weights`), per-pixel noise scaled by a learned
strength, a bias and a leaky ReLU; every resolution adds its (modulated, not demodulated) 1x1 toRGB output to
the upsampled image so far (the skip generator). There are ``2 + 2 L`` style inputs for ``size = 4 * 2**L``
(or ``7 * 2**L``: 28x28 starts at 7x7).
Discriminator: residual blocks (two 3x3 convolutions and a 2x downsampling, plus a 1x1 skip, summed and scaled
by 1/sqrt(2)), a minibatch standard-deviation feature, a 3x3 convolution and two dense layers.

Training: the non-saturating loss; lazy R1 on real data (weight gamma = ``--gp-weight``) in D's loss every
``--r1-every`` D steps, multiplied by that interval; style-mixing regularisation (with probability
``--style-mixing`` a minibatch takes its styles from two latents, switching at a random layer); optional lazy
path-length regularisation (``--pl-weight``, every ``--pl-every`` G steps on half the minibatch); an exponential
moving average of G (``--g-ema``, half-life in images, ramped up as 5% of the images generated so far, as the
ADA paper's small-data configurations do) that sampling and evaluation use; the running mean of w
(decay 0.995 per G step) for the truncation trick ``w' = w_avg + psi (w - w_avg)``. ``--augment diffaug|ada``
(the ADA paper's setting) passes every image D sees, real and fake, through ``ganforge.augment``; R1 is then the
gradient of D(augment(x)) in the clean reals x, through the augmentation, as the ADA paper's code computes it.

Noise inputs are random while training and fixed per layer (buffers drawn at build time) in eval mode, so a
given seed gives the same samples every time.

Departures from the paper for CPU budgets: channels ``min(2 w, 32 w / res)`` for ``--width`` w (32 by default;
the paper has 512), bilinear resampling where the paper uses a [1, 3, 3, 1] FIR filter, D downsamples by 2x2
average pooling between its two convolutions, and Adam's betas are not adjusted for the lazy intervals.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import remedies
from ..config import TrainConfig
from ..errors import UserError
from ..noise import sample_noise
from ..objectives import OBJECTIVES
from ..penalties import r1_penalty
from .base import AugmentedGAN, Batch, DataInfo, ModelSpec, Phase, refuse_remedies, register_model
from .karras_layers import RELU_GAIN, EqualizedConv2d, EqualizedLinear, minibatch_stddev, pixel_norm
from .progan import base_and_levels, channels_at

LEAK = 0.2
#: decay per G step of the tracked mean of w (for truncation)
W_AVG_BETA = 0.995
#: decay of the running mean of path lengths the regulariser pulls towards
PL_DECAY = 0.01
#: EMA ramp-up (the ADA paper's small-data setting): the half-life is at most this fraction of the images G
#: has generated so far, so that a short run's average is not dominated by the initial weights
EMA_RAMPUP = 0.05


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU times sqrt(2), which keeps unit-variance signals at unit variance."""
    return F.leaky_relu(x, LEAK) * RELU_GAIN


def up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling of ``(N, C, H, W)``."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def modulated_weights(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                      eps: float = 1e-8) -> torch.Tensor:
    """Per-example kernels ``(N, O, I, k, k)`` from ``weight (O, I, k, k)`` and ``styles (N, I)``: modulation
    ``w'_{oik} = s_i w_{oik}``, then demodulation ``w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'_{oik}^2 + eps)``
    (StyleGAN2 eq. 1 and 3)."""
    w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    return w


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     fused: bool = False, eps: float = 1e-8) -> torch.Tensor:
    """``x (N, I, H, W)`` convolved (same padding) with each example's own modulated kernel -> ``(N, O, H, W)``.

    ``fused``: one grouped convolution with the per-example kernels of :func:`modulated_weights`. Otherwise the
    same result with one shared convolution: scale the input channels by ``s`` and the output channels by the
    demodulation factors ``1 / sqrt(sum_i s_i^2 sum_k w_{oik}^2 + eps)`` (faster on CPUs for a whole minibatch)."""
    n, c, h, w_ = x.shape
    o, _, k, _ = weight.shape
    if fused:
        kernels = modulated_weights(weight, styles, demodulate, eps).reshape(n * o, c, k, k)
        out = F.conv2d(x.reshape(1, n * c, h, w_), kernels, padding=k // 2, groups=n)
        return out.reshape(n, o, *out.shape[2:])
    out = F.conv2d(x * styles[:, :, None, None], weight, padding=k // 2)
    if demodulate:
        d = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).T + eps)  # (N, O)
        out = out * d[:, :, None, None]
    return out


class ModulatedConv2d(nn.Module):
    """``(x (N, I, H, W), w (N, w_dim)) -> (N, O, H, W)``: styles ``s = A(w)`` (an equalised affine map whose
    bias starts at 1), weights ~ N(0, 1) scaled by ``1 / sqrt(I k k)``, demodulated unless told otherwise."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        return modulated_conv2d(x, self.weight * self.scale, self.affine(w), self.demodulate, fused)


class StyleLayer(nn.Module):
    """Optional 2x upsampling, a modulated 3x3 convolution, per-pixel noise times a learned strength (0 at
    first), a bias and a leaky ReLU; ``(N, I, res/2 or res, ...) -> (N, O, res, res)``."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, res: int, up: bool):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))  # the noise of eval mode
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(up2(x) if self.up else x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        return lrelu(x + noise * self.noise_strength + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """A modulated 1x1 convolution without demodulation, plus a bias: ``(N, I, H, W) -> (N, channels, H, W)``."""

    def __init__(self, in_channels: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class MappingNetwork(nn.Module):
    """``z (N, z_dim) -> w (N, w_dim)``: pixel norm, then ``layers`` equalised dense layers with leaky ReLU and
    learning rate multiplier 0.01; keeps ``w_avg``, the running mean of w, for truncation."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        self.net = nn.ModuleList([EqualizedLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul)
                                  for i in range(layers)])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, track_w_avg: bool = False) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.net:
            x = F.leaky_relu(layer(x), LEAK)
        if track_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(x.detach().mean(0).to(self.w_avg.dtype), 1.0 - W_AVG_BETA)
        return x


class StyleGAN2Generator(nn.Module):
    """``z (N, latent_dim) -> x (N, channels, size, size)`` (unbounded, ~[-1, 1]); ``synthesis(ws)`` takes one
    w per style input, ``ws (N, num_ws, w_dim)``."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int, mapping_layers: int):
        super().__init__()
        base, levels = base_and_levels(size, "stylegan2")
        ch = [channels_at(base * 2 ** k, width) for k in range(levels + 1)]
        self.levels, self.w_dim, self.num_ws = levels, latent_dim, 2 + 2 * levels
        self.mapping = MappingNetwork(latent_dim, latent_dim, mapping_layers)
        self.const = nn.Parameter(torch.randn(ch[0], base, base))
        layers = [StyleLayer(ch[0], ch[0], latent_dim, base, up=False)]
        for k in range(1, levels + 1):
            res = base * 2 ** k
            layers += [StyleLayer(ch[k - 1], ch[k], latent_dim, res, up=True),
                       StyleLayer(ch[k], ch[k], latent_dim, res, up=False)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList([ToRGB(ch[k], channels, latent_dim) for k in range(levels + 1)])

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Style input i of ``ws (N, num_ws, w_dim)``: the 4x4 convolution takes 0; block k's convolutions take
        2k - 1 and 2k, and each toRGB takes the index after its block's last convolution (shared with the next
        block's first), as in the paper's code."""
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0])
        img = self.to_rgb[0](x, ws[:, 1])
        for k in range(1, self.levels + 1):
            x = self.layers[2 * k - 1](x, ws[:, 2 * k - 1])
            x = self.layers[2 * k](x, ws[:, 2 * k])
            img = up2(img) + self.to_rgb[k](x, ws[:, 2 * k + 1])
        return img

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """``w (N, w_dim) -> ws (N, num_ws, w_dim)``: the same w for every style input."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """The truncation trick: ``w_avg + psi (w - w_avg)`` (psi = 1: unchanged)."""
        return w if psi == 1.0 else torch.lerp(self.mapping.w_avg.to(w.dtype), w, psi)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.broadcast(self.mapping(z)))


class ResidualBlock(nn.Module):
    """``(N, I, H, W) -> (N, O, H/2, W/2)``: ``(main + skip) / sqrt(2)``, main = conv3x3, leaky ReLU, 2x2 average
    pool, conv3x3, leaky ReLU; skip = pool then a 1x1 convolution without bias."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, gain=1.0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.leaky_relu(self.conv2(F.avg_pool2d(F.leaky_relu(self.conv1(x), LEAK), 2)), LEAK)
        return (main + self.skip(F.avg_pool2d(x, 2))) * math.sqrt(0.5)


class StyleGAN2Discriminator(nn.Module):
    """``x (N, channels, size, size)`` in [-1, 1] -> logits ``(N,)``."""

    def __init__(self, channels: int, size: int, width: int, group_size: int = 4):
        super().__init__()
        base, levels = base_and_levels(size, "stylegan2")
        ch = [channels_at(base * 2 ** k, width) for k in range(levels + 1)]
        self.from_rgb = EqualizedConv2d(channels, ch[levels], 1)
        self.blocks = nn.Sequential(*[ResidualBlock(ch[k], ch[k - 1]) for k in range(levels, 0, -1)])
        self.conv = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.dense = EqualizedLinear(ch[0] * base * base, ch[0])
        self.out = EqualizedLinear(ch[0], 1, gain=1.0)
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(F.leaky_relu(self.from_rgb(x), LEAK))
        h = F.leaky_relu(self.conv(minibatch_stddev(h, self.group_size)), LEAK)
        return self.out(F.leaky_relu(self.dense(h.flatten(1)), LEAK)).squeeze(1)


class StyleGAN2(AugmentedGAN):
    """StyleGAN2 trained with the non-saturating loss, lazy R1, style mixing and optional path-length
    regularisation. ``truncation_psi`` (1 by default) truncates w when sampling in eval mode.

    Under ``--augment diffaug|ada`` every image D sees, real or fake, in D's phase (R1's pass included) and in
    G's, goes through :meth:`AugmentedGAN.augmented` (ADA was designed for this model)."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        channels, size = data.shape[0], data.shape[-1]
        if data.shape[1] != size:
            raise UserError(f"stylegan2 needs square images, got examples of shape {data.shape}")
        width = cfg.width or 32
        self.generator = StyleGAN2Generator(cfg.latent_dim, channels, size, width, cfg.style_mapping_layers)
        self.discriminator = StyleGAN2Discriminator(channels, size, width)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False) if cfg.g_ema else None
        self.register_buffer("pl_mean", torch.zeros(()))
        self.objective = OBJECTIVES.get_or_fail("nonsaturating")
        self.r1_gamma = cfg.gp_weight if cfg.penalty in (None, "r1") else 0.0
        self.truncation_psi = 1.0
        self.d_index = self.g_index = 0  # D and G steps taken before the current one (from on_step)

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        return sample_noise(n, self.cfg.latent_dim, "normal", rng, self.device)

    def on_step(self, step: int, total_steps: int) -> None:
        self.d_index, self.g_index = step * self.cfg.k_disc, step

    def mixed_ws(self, z: torch.Tensor, track_w_avg: bool = False) -> torch.Tensor:
        """Training styles ``(N, num_ws, w_dim)`` for ``z (N, latent_dim)``: with probability ``style_mixing``
        the inputs from a random crossover index on take the w of a second latent (one draw per minibatch)."""
        g = self.generator
        ws = g.broadcast(g.mapping(z, track_w_avg))
        if self.cfg.style_mixing > 0 and float(torch.rand(())) < self.cfg.style_mixing:
            cutoff = int(torch.randint(1, g.num_ws, ()))
            w2 = g.mapping(torch.randn_like(z))
            ws = torch.cat([ws[:, :cutoff], g.broadcast(w2)[:, cutoff:]], dim=1)
        return ws

    def generate(self, latent: torch.Tensor) -> torch.Tensor:
        """Samples ``(N, C, H, W)`` from the sampling generator (G's average in eval mode), w truncated by
        ``truncation_psi`` in eval mode."""
        g = self.sampling_generator
        w = g.mapping(latent)
        if not self.training:
            w = g.truncate(w, self.truncation_psi)
        return g.synthesis(g.broadcast(w))

    def style_mix(self, z_coarse: torch.Tensor, z_fine: torch.Tensor, cutoff: int) -> torch.Tensor:
        """Images whose style inputs ``0 .. cutoff - 1`` come from ``z_coarse`` and the rest from ``z_fine``
        (both ``(N, latent_dim)``), truncated by ``truncation_psi``; sampling generator."""
        g = self.sampling_generator
        psi = 1.0 if self.training else self.truncation_psi
        w_coarse = g.broadcast(g.truncate(g.mapping(z_coarse), psi))
        w_fine = g.broadcast(g.truncate(g.mapping(z_fine), psi))
        return g.synthesis(torch.cat([w_coarse[:, :cutoff], w_fine[:, cutoff:]], dim=1))

    def discriminator_logits(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits ``(N,)`` for ``x (N, C, H, W)`` in [-1, 1] (``ganforge gam``); the minibatch-stddev layer
        groups the batch in fours, so verdicts depend on the batch they are judged in, as in training."""
        return self.discriminator(x)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generator.synthesis(self.mixed_ws(batch.latent))  # G is frozen: no graph through it
        logits_real = self.augmented_discriminator(batch.x_real)  # (N,)
        logits_fake = self.augmented_discriminator(x_fake)  # (N,)
        loss = self.objective.d_loss(logits_real, logits_fake)
        logs = {"D/real": torch.sigmoid(logits_real).mean(), "D/fake": torch.sigmoid(logits_fake).mean(),
                **self.augment_logs(logits_real)}
        if self.r1_gamma > 0 and self.d_index % self.cfg.r1_every == 0:  # lazy R1, scaled by its interval
            # as the ADA paper's code: the gradient of D(augment(x)) in the clean reals x, through the
            # augmentation, on a view drawn afresh (its lazy regularisation pass augments anew too)
            r1 = r1_penalty(self.augmented_discriminator, batch.x_real)
            loss = loss + self.r1_gamma * self.cfg.r1_every * r1
            logs["D/r1"] = r1
        self.d_index += 1
        return loss, logs

    def augmented_discriminator(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits ``(N,)`` for ``x (N, C, H, W)`` as D sees it: through ``--augment`` (x itself without)."""
        return self.discriminator(self.augmented(x))

    def path_length_penalty(self, z: torch.Tensor) -> torch.Tensor:
        """``(|J_w^T y| - a)^2`` averaged over ``z``: J the Jacobian of G's image in w (all style inputs),
        ``y ~ N(0, I) / sqrt(H W)``, ``a`` the running mean of the lengths (updated here)."""
        ws = self.mixed_ws(z)
        img = self.generator.synthesis(ws)
        y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()  # (N,)
        with torch.no_grad():
            self.pl_mean.lerp_(lengths.detach().mean(), PL_DECAY)
        return (lengths - self.pl_mean).square().mean()

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generator.synthesis(self.mixed_ws(batch.latent, track_w_avg=True))
        loss, logs = self.objective.g_loss(self.augmented_discriminator(x_fake)), {}
        if self.cfg.pl_weight > 0 and self.g_index % self.cfg.pl_every == 0:
            pl = self.path_length_penalty(batch.latent[: max(1, len(batch.latent) // 2)])
            loss = loss + self.cfg.pl_weight * self.cfg.pl_every * pl
            logs["G/path_length"] = pl
        self.g_index += 1
        return loss, logs

    def after_iteration(self) -> None:
        """G's average (the loop calls this once per iteration, after G's step) with half-life
        ``min(g_ema, EMA_RAMPUP * images generated)``, a function of the step; replaces the base class's
        constant half-life."""
        if self.generator_ema is None:
            return
        images = self.g_index * self.global_batch  # g_index already counts this iteration's G step
        half_life = min(self.cfg.g_ema, max(EMA_RAMPUP * images, 1.0))
        remedies.update_ema_(self.generator_ema, self.generator, remedies.ema_decay(half_life, self.global_batch))

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc,
                      after_step=self.after_d_step_augment if self.ada is not None else None, lr=self.cfg.lr_d),
                Phase("G", self.g_loss, list(self.generator.parameters()), needs_real=False, lr=self.cfg.lr_g)]


def build(cfg: TrainConfig, data: DataInfo) -> StyleGAN2:
    refuse_remedies(cfg, "stylegan2", ("label_smoothing", "feature_matching", "minibatch_features",
                                       "historical_averaging", "unroll", "pack", "instance_noise"))
    if cfg.objective != "nonsaturating" or cfg.penalty not in (None, "r1", "none"):
        raise UserError(f"model stylegan2: objective {cfg.objective} with penalty {cfg.penalty} is invalid: "
                        "expected nonsaturating with r1 or none (the paper's loss)")
    if cfg.clip is not None:
        raise UserError("model stylegan2: clip is invalid: D is regularised by R1")
    if cfg.prior != "normal":
        raise UserError(f"model stylegan2: prior {cfg.prior} is invalid: expected normal (z is pixel-normalised "
                        "onto a sphere)")
    return StyleGAN2(cfg, data)


register_model(ModelSpec("stylegan2", "Karras et al. 2020: mapping network, modulated/demodulated convs, noise, "
                                      "skip G, residual D, lazy R1, style mixing, G EMA (configs/stylegan2.yaml)",
                         build, ("image",),
                         defaults=dict(penalty="r1", gp_weight=0.01, optimizer="adam", lr=2e-3, beta1=0.0,
                                       beta2=0.99, latent_dim=128, g_ema=10_000.0)))
