"""Regularisers of the discriminator, separate from the objective so that any model can combine them.

A penalty is a pure function ``penalty(discriminator, x_real, x_fake) -> scalar`` added to D's loss (it
differentiates D's output with respect to its input, with ``create_graph=True`` so that the penalty itself
is differentiable in D's parameters; it never calls ``backward``). Weight clipping is not a loss but a
projection after each D step: :func:`clip_weights_`.

- ``gp`` (Gulrajani et al. 2017, WGAN-GP): E_x^[(||grad_x^ D(x^)||_2 - 1)^2] on random interpolates
  x^ = eps x_real + (1 - eps) x_fake, eps ~ U[0, 1] per example (two-sided penalty, weight lambda = 10).
- ``r1`` (Mescheder et al. 2018): 1/2 E_x[||grad_x D(x)||_2^2] on real data only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .registry import Registry


def input_gradient(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``grad_x sum_i D(x_i)`` with shape ``(N, *example_shape)``; the graph is kept (``create_graph``) so a
    penalty on it can be minimised over D's parameters. Each D(x_i) depends on x_i only when D has no
    batch statistics (batch norm couples examples; use a critic without it)."""
    x = x.detach().requires_grad_(True)
    scores = discriminator(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad


def random_interpolates(x_real: torch.Tensor, x_fake: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """x^ = eps x_real + (1 - eps) x_fake with one eps ~ U[0, 1] per example; shape of ``x_real``."""
    eps = torch.rand(x_real.shape[0], *([1] * (x_real.dim() - 1)), generator=generator).to(x_real.device)
    return eps * x_real.detach() + (1.0 - eps) * x_fake.detach()


def gradient_penalty(discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's E[(||grad D(x^)||_2 - 1)^2] on random interpolates of real and fake (unweighted)."""
    grad = input_gradient(discriminator, random_interpolates(x_real, x_fake, generator))
    return (grad.flatten(1).norm(dim=1) - 1.0).square().mean()


def r1_penalty(discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor | None = None) -> torch.Tensor:
    """R1: 1/2 E_x[||grad_x D(x)||_2^2] on real data (unweighted; ``x_fake`` is ignored)."""
    grad = input_gradient(discriminator, x_real)
    return 0.5 * grad.flatten(1).square().sum(1).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, clip: float) -> None:
    """WGAN's crude Lipschitz constraint: clamp every parameter of ``module`` into [-clip, clip] in place."""
    for p in module.parameters():
        p.clamp_(-clip, clip)


Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

PENALTIES: Registry[Penalty] = Registry("penalty")
PENALTIES.register("gp")(gradient_penalty)
PENALTIES.register("r1")(r1_penalty)
