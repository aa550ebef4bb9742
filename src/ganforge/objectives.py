"""GAN objectives as pure functions of discriminator logits; they return losses and never call backward.

With D(x) = sigmoid(l), the value function of Goodfellow et al. (2014) is
    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],
computed in numerically stable form: log sigmoid(l) = -softplus(-l), log(1 - sigmoid(l)) = -softplus(l).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .registry import Registry


def value_function(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """V(D, G) estimated on a minibatch: mean log D(x) + mean log(1 - D(G(z)))."""
    return -F.softplus(-logits_real).mean() - F.softplus(logits_fake).mean()


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """D ascends V, i.e. descends -V = mean softplus(-l_real) + mean softplus(l_fake)."""
    return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()


def generator_loss_minimax(logits_fake: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 exactly: G descends mean log(1 - D(G(z))) = -mean softplus(l_fake) (saturates
    when D rejects the samples confidently, as the paper warns)."""
    return -F.softplus(logits_fake).mean()


def generator_loss_nonsaturating(logits_fake: torch.Tensor) -> torch.Tensor:
    """The paper's practical fix: G ascends mean log D(G(z)), i.e. descends mean softplus(-l_fake)."""
    return F.softplus(-logits_fake).mean()


@dataclass(frozen=True)
class Objective:
    """A pair of losses over logits: ``d_loss(logits_real, logits_fake)`` and ``g_loss(logits_fake)``."""

    name: str
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]


OBJECTIVES: Registry[Objective] = Registry("objective")
OBJECTIVES.register("minimax")(Objective("minimax", discriminator_loss, generator_loss_minimax))
OBJECTIVES.register("nonsaturating")(Objective("nonsaturating", discriminator_loss, generator_loss_nonsaturating))
