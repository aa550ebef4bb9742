"""Latent inversion: find the latent a trained generator maps closest to given examples.

For examples ``x`` and a generator G, :func:`invert_latents` minimises per example

    L(z) = mean_pixels (G(z) - x)^2  +  feature_weight * mean_f (phi(G(z)) - phi(x))^2  +  prior_weight * R(z)

over z with Adam (G, phi fixed; each example's latent its own problem: the loss summed over examples, so one
example's gradient never depends on the others). phi is an optional fixed feature network (``feature_fn``, e.g.
the shipped domain classifier's penultimate layer), the perceptual term of Zhu et al. (2016) and Lipton &
Tripathi (2017).

Where the search starts: a model with an encoder (``bigan``, ``aae`` and ``ae`` through ``encode``; ``vae`` and
``vaegan`` through the mean of ``encoder``) starts from E(x), which is what these models learnt for; any other
model starts from ``restarts`` draws of the prior and keeps, per example, the latent with the lowest final
loss (Creswell & Bharath 2018 use a few restarts the same way).

Keeping z near the prior (without it, Adam finds latents far in the tails where G was never trained, whose
images match x but which the model would never sample):

- normal prior: R(z) = ||z||^2 / (2 k) (the Gaussian's negative log density per dimension: a MAP estimate),
  and after every step a latent whose norm exceeds ``sqrt(k) + 4`` is scaled back onto that sphere (||z|| of
  z ~ N(0, I_k) has mean ~ sqrt(k) and standard deviation ~ 0.71, so this is > 5 standard deviations out);
- uniform prior on [-1, 1]^k: z is clamped to the cube after every step (R = 0 inside it);
- mixture prior (``noise.mixture_centres``, std s): R(z) = -log sum_c exp(-||z - mu_c||^2 / (2 s^2)) / k, the
  mixture's negative log density per dimension up to a constant, and no projection (R grows quadratically away
  from every centre);
- ``stylegan2``: the search runs over w, the mapping network's output, broadcast to every style input
  (``w`` space, Abdal et al. 2019 call it W), from ``w_avg`` (plus ``restarts - 1`` mapped prior draws);
  R(w) = ||w - w_avg||^2 / (2 k) and no clamp. ``InversionResult.space`` then says ``"w"``, and
  ``latent`` holds w (feed it to ``synthesis``, not to ``generate``).

Models whose generator takes more than one latent tensor (cgan, infogan, sgan's classes, ctgan, tvae) or an
image (srresnet, srgan) are refused with a :class:`UserError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .errors import UserError
from .noise import mixture_centres

#: A normal prior's latents are kept within this many units of norm beyond sqrt(k) (see the module docstring).
NORM_MARGIN = 4.0


@dataclass
class InversionResult:
    """What :func:`invert_latents` found for ``x (N, *shape)``: ``latent (N, latent_dim)`` (z, or w for
    stylegan2: ``space``), ``reconstruction (N, *shape)`` = G(latent) in the model range ([-1, 1] for images),
    ``error (N,)`` the mean squared pixel error of the reconstruction against x, in the same range, and how the
    search started (``start``: ``"encoder"``, ``"init"``, ``"random"`` or ``"w_avg"``)."""

    latent: torch.Tensor
    reconstruction: torch.Tensor
    error: torch.Tensor
    space: str = "z"
    start: str = "random"


@dataclass
class LatentSpace:
    """How to search one model's latents: ``decode(latent (N, k)) -> (N, *shape)``, a regulariser
    ``penalty(latent) -> (N,)``, a projection applied in place after each step, and the starting points."""

    name: str
    dim: int
    decode: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[[torch.Tensor], torch.Tensor]
    project_: Callable[[torch.Tensor], None]
    draw: Callable[[int, torch.Generator], torch.Tensor]
    center: torch.Tensor | None = None  # w_avg for stylegan2


def latent_space(model: nn.Module) -> LatentSpace:
    """The space :func:`invert_latents` searches for ``model`` (a ``GANModel``); a UserError when it has none."""
    name = model.cfg.model
    probe = model.sample_latent(2, torch.Generator().manual_seed(0))
    if not isinstance(probe, torch.Tensor) or probe.ndim != 2 or not probe.is_floating_point():
        raise UserError(f"model {name}: has no single latent vector to invert (its generator takes "
                        f"{'several inputs' if isinstance(probe, (tuple, list)) else 'an image'}): expected an "
                        "unconditional generator of z (dcgan, gan, wgan, wgan-gp, lsgan, sngan, bigan, aae, vaegan, "
                        "stylegan2, ...)")
    k = probe.shape[1]
    if name == "stylegan2":
        g = model.sampling_generator
        w_avg = g.mapping.w_avg.detach().clone()

        def draw_w(n: int, rng: torch.Generator) -> torch.Tensor:
            with torch.no_grad():
                return g.mapping(model.sample_latent(n, rng))

        return LatentSpace("w", g.w_dim, lambda w: g.synthesis(g.broadcast(w)),
                           lambda w: (w - w_avg).square().sum(1) / (2 * g.w_dim), lambda w: None, draw_w, w_avg)
    if model.cfg.prior == "uniform":
        return LatentSpace("z", k, model.generate, lambda z: z.new_zeros(len(z)), lambda z: z.clamp_(-1.0, 1.0),
                           model.sample_latent)
    if model.cfg.prior == "mixture":
        centres = mixture_centres(model.cfg.prior_components, k).to(probe.device)  # once, not every step
        s = model.cfg.prior_std

        def mixture_penalty(z: torch.Tensor) -> torch.Tensor:
            sq = (z[:, None, :] - centres).square().sum(2)  # (N, components)
            return -torch.logsumexp(-sq / (2 * s * s), dim=1) / k

        return LatentSpace("z", k, model.generate, mixture_penalty, lambda z: None, model.sample_latent)
    radius = math.sqrt(k) + NORM_MARGIN

    def onto_ball_(z: torch.Tensor) -> None:
        norm = z.norm(dim=1, keepdim=True)
        z.mul_(torch.where(norm > radius, radius / norm.clamp_min(1e-12), torch.ones_like(norm)))

    return LatentSpace("z", k, model.generate, lambda z: z.square().sum(1) / (2 * k), onto_ball_, model.sample_latent)


def has_encoder(model: nn.Module) -> bool:
    """Whether :func:`encoder_start` has an encoder to start from (and its latent is z, which it encodes)."""
    encoder = hasattr(model, "encode") or isinstance(getattr(model, "encoder", None), nn.Module)
    return encoder and latent_space(model).name == "z"


def encoder_start(model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """E(x) ``(N, k)`` for a model with an encoder: ``encode`` (bigan, aae, ae), else the mean of a Gaussian
    ``encoder`` returning ``(mu, logvar)`` (vae, vaegan); None for models without one."""
    with torch.no_grad():
        if hasattr(model, "encode"):
            return model.encode(x).flatten(1)
        encoder = getattr(model, "encoder", None)
        if isinstance(encoder, nn.Module):
            out = encoder(x)
            return (out[0] if isinstance(out, (tuple, list)) else out).flatten(1)
    return None


def per_example_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference per example: ``(N, ...) , (N, ...) -> (N,)``."""
    return (a - b).square().flatten(1).mean(1)


def invert_latents(model: nn.Module, x: torch.Tensor, *, steps: int = 300, lr: float = 0.05,
                   feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, feature_weight: float = 0.0,
                   prior_weight: float = 1e-3, init: torch.Tensor | None = None, restarts: int = 4,
                   use_encoder: bool = True, seed: int = 0) -> InversionResult:
    """Latents whose images match ``x (N, *shape)`` (model range: images float in [-1, 1]) under ``model``.

    ``steps`` Adam steps of learning rate ``lr`` on the loss of the module docstring; ``feature_fn`` maps
    ``(N, *shape)`` in the model range to ``(N, F)`` features (fixed; gradients pass through it) and is weighted
    by ``feature_weight``; ``prior_weight`` weighs the prior regulariser. The start is ``init (N, k)`` when
    given, else the model's encoder (``use_encoder``), else ``restarts`` prior draws from ``seed`` (the best
    per example kept). The model is used in eval mode and its parameters are left untouched (no gradients are
    stored on them). ``steps=0`` returns the start as it is."""
    if x.shape[1:] != tuple(model.data.shape):
        raise UserError(f"examples of shape {tuple(x.shape[1:])}: the run models examples of shape "
                        f"{tuple(model.data.shape)}: expected the same shape")
    if steps < 0 or restarts < 1 or not lr > 0:
        raise UserError(f"inversion steps={steps}, restarts={restarts}, lr={lr}: expected steps >= 0, restarts >= 1, "
                        "lr > 0")
    was_training = model.training
    model.eval()
    try:
        space = latent_space(model)
        x = x.to(model.device, torch.float32)
        start_name = "random"
        if init is not None:
            if init.shape != (len(x), space.dim):
                raise UserError(f"init of shape {tuple(init.shape)}: expected ({len(x)}, {space.dim})")
            starts, start_name = [init.to(x.device, torch.float32)], "init"
        elif use_encoder and space.name == "z" and (z0 := encoder_start(model, x)) is not None:
            starts, start_name = [z0], "encoder"
        else:
            rng = torch.Generator().manual_seed(seed)
            starts = [space.draw(len(x), rng) for _ in range(restarts)]
            if space.center is not None:
                starts[0], start_name = space.center.expand(len(x), -1).clone(), "w_avg"
        r = len(starts)
        latent = torch.cat(starts).detach().clone().to(x.device)  # (r N, k): every start its own problem
        with torch.no_grad():
            space.project_(latent)
        target = x.repeat(r, *([1] * (x.ndim - 1)))  # (r N, *shape)
        target_features = None
        if feature_fn is not None and feature_weight > 0:
            with torch.no_grad():
                target_features = feature_fn(target)

        def losses(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(per-example loss (r N,), reconstructions)."""
            recon = space.decode(z)
            loss = per_example_mse(recon, target) + prior_weight * space.penalty(z)
            if target_features is not None:
                loss = loss + feature_weight * per_example_mse(feature_fn(recon), target_features)
            return loss, recon

        latent.requires_grad_(True)
        optimizer = torch.optim.Adam([latent], lr=lr)
        for _ in range(steps):
            loss, _ = losses(latent)
            latent.grad = torch.autograd.grad(loss.sum(), [latent])[0]  # only z: the model's .grad stay as they were
            optimizer.step()
            with torch.no_grad():
                space.project_(latent)
        with torch.no_grad():
            latent = latent.detach()
            loss, recon = losses(latent)
            best = loss.view(r, len(x)).argmin(0)  # (N,) the restart kept per example
            pick = best * len(x) + torch.arange(len(x), device=x.device)
            latent, recon = latent[pick], recon[pick]
            return InversionResult(latent, recon, per_example_mse(recon, x), space.name, start_name)
    finally:
        model.train(was_training)
