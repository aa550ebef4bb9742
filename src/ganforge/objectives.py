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


def discriminator_loss_smoothed(logits_real: torch.Tensor, logits_fake: torch.Tensor,
                                smoothing: float) -> torch.Tensor:
    """One-sided label smoothing (Salimans et al. 2016): real examples get the target 1 - a instead of 1, fakes
    keep 0. Cross-entropy: mean[(1 - a) softplus(-l_real) + a softplus(l_real)] + mean softplus(l_fake);
    ``smoothing`` a = 0 is :func:`discriminator_loss`."""
    real = (1.0 - smoothing) * F.softplus(-logits_real) + smoothing * F.softplus(logits_real)
    return real.mean() + F.softplus(logits_fake).mean()


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


# --------------------------------------------------------------------------- beyond the log loss
# For these objectives the discriminator's output is a real-valued score (a "critic" in WGAN), not the
# logit of a probability; the same ``Objective`` pair of functions carries them.


def critic_loss_wasserstein(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """WGAN (Arjovsky et al. 2017): the critic f maximises E f(x) - E f(G(z)), an estimate of the
    Wasserstein-1 distance when f is 1-Lipschitz, so it descends mean f(G(z)) - mean f(x)."""
    return logits_fake.mean() - logits_real.mean()


def generator_loss_wasserstein(logits_fake: torch.Tensor) -> torch.Tensor:
    """G descends -mean f(G(z)) (the only term of the distance that depends on G)."""
    return -logits_fake.mean()


def discriminator_loss_hinge(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): mean relu(1 - D(x)) + mean relu(1 + D(G(z)))."""
    return F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()


def discriminator_loss_least_squares(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN (Mao et al. 2017) with the 0-1 coding a=0 (fake), b=1 (real):
    1/2 mean (D(x) - 1)^2 + 1/2 mean D(G(z))^2."""
    return 0.5 * (logits_real - 1.0).square().mean() + 0.5 * logits_fake.square().mean()


def generator_loss_least_squares(logits_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN's generator, c=1 (G wants D to call its samples real): 1/2 mean (D(G(z)) - 1)^2."""
    return 0.5 * (logits_fake - 1.0).square().mean()


OBJECTIVES.register("wasserstein")(Objective("wasserstein", critic_loss_wasserstein, generator_loss_wasserstein))
OBJECTIVES.register("hinge")(Objective("hinge", discriminator_loss_hinge, generator_loss_wasserstein))
OBJECTIVES.register("least-squares")(
    Objective("least-squares", discriminator_loss_least_squares, generator_loss_least_squares))

#: Objectives whose D output is the logit of a probability (sigmoid(l) = D(x) is meaningful to log).
PROBABILISTIC_OBJECTIVES = ("minimax", "nonsaturating")
