"""Discriminator rejection sampling (Azadi et al. 2019, "Discriminator Rejection Sampling", ICLR 2019).

A trained generator puts mass where the data has none (the lines a continuous G draws between the modes of a
mixture, the speckled digits of an undertrained MLP). A discriminator trained to optimality against a *fixed*
G outputs the logit ``D(x) = log p_data(x) / p_g(x)`` (Goodfellow et al. 2014, Proposition 1), so keeping a
sample ``x ~ p_g`` with probability ``exp(D(x) - M)``, ``M = max_x D(x)``, is exact rejection sampling from
``p_data``. DRS makes this practical:

1. :func:`fit_critic`: a copy of the run's discriminator (its own weights when they fit, else the same
   architecture freshly initialised: a packed D judges M examples at once) is trained further, alone, by the
   logistic loss, on the run's training data against samples of the frozen G;
2. :func:`drs_sample`: ``M`` is the largest logit over a burn-in of proposals and is raised whenever a larger
   one is seen; a proposal is kept with probability ``sigmoid(F(x))``,
   ``F(x) = D(x) - M - log(1 - exp(D(x) - M - eps)) - gamma``. With ``gamma = 0`` this is ``exp(D(x) - M)``
   up to ``eps`` (plain rejection sampling under D's density ratio); ``gamma`` set to a quantile of ``F``
   over the burn-in rejects more of what D finds unlikely, trading the exactness for more kept samples.

Everything here works in the model's range (images in [-1, 1]); callers convert with ``to_data_range``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import to_model_range
from .errors import UserError
from .models import GANModel
from .train import build_model


@dataclass
class Critic:
    """A discriminator fitted to a frozen generator: ``model.discriminator_logits(x)`` estimates
    ``log p_data(x) / p_g(x)`` for ``x (N, *shape)`` in the model range. ``start`` says whether it began from
    the run's trained D (``"trained D"``) or a fresh one of the same architecture (``"fresh"``); ``loss`` is
    the mean logistic loss (real + fake, nats) over the last tenth of its steps; ``accuracy`` the share of
    that last tenth's real and generated examples it classified right."""

    model: GANModel
    start: str
    steps: int
    lr: float
    loss: float
    accuracy: float


@dataclass
class RejectionSample:
    """``x (n, *shape)`` accepted samples in the model range (on the CPU), ``proposals`` how many G drew after
    the burn-in to keep them, ``max_logit`` the final ``M`` and ``gamma`` the shift used."""

    x: torch.Tensor
    proposals: int
    max_logit: float
    gamma: float

    @property
    def acceptance(self) -> float:
        return len(self.x) / max(self.proposals, 1)


def fit_critic(model: GANModel, train_x: torch.Tensor, steps: int = 1000, batch_size: int = 512,
               lr: float | None = None, seed: int = 0) -> Critic:
    """Train a per-example copy of ``model``'s discriminator (``--pack 1``) to tell ``train_x`` (the run's
    training split as stored: uint8 images ``(N, C, H, W)`` or float points ``(N, D)``) from samples of
    ``model``'s frozen sampling generator (G's average when it keeps one), by Adam (``lr``, default the run's
    D learning rate; betas 0.5 / 0.999) on the logistic loss for ``steps`` minibatches of ``batch_size`` real
    and as many generated examples.
    Models without a discriminator of x alone (``vae``, ``cgan``, ...) raise :class:`UserError`."""
    lr = lr if lr is not None else (model.cfg.lr_d or model.cfg.resolved_lr)
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise UserError(f"critic steps={steps}, batch_size={batch_size}, lr={lr}: expected integers >= 1 and "
                        "a learning rate > 0")
    device = model.device
    critic = build_model(dataclasses.replace(model.cfg, pack=1), model.data).to(device)
    rng = torch.Generator().manual_seed(seed)
    critic.on_train_data(train_x.to(device), None, rng)  # data-dependent state (standardised units, ...)
    probe = to_model_range(train_x[:2]).to(device)
    critic.eval()
    critic.discriminator_logits(probe)  # refuses models whose D cannot judge x alone
    try:
        critic.discriminator.load_state_dict(model.discriminator.state_dict())
        start = "trained D"
    except (RuntimeError, AttributeError):  # a packed D's first layer reads M examples: same nets, fresh weights
        start = "fresh"
    params = [p for p in critic.discriminator.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    model.eval()
    critic.train()
    tail = max(steps // 10, 1)
    losses, right = [], []
    for step in range(steps):
        real = to_model_range(train_x[torch.randint(len(train_x), (batch_size,), generator=rng)]).to(device)
        with torch.no_grad():
            fake = model.generate(model.sample_latent(batch_size, rng))
        logits_real, logits_fake = critic.discriminator_logits(real), critic.discriminator_logits(fake)
        loss = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= steps - tail:
            losses.append(float(loss.detach()))
            right.append(float(((logits_real > 0).float().mean() + (logits_fake < 0).float().mean()) / 2))
    critic.eval().requires_grad_(False)
    return Critic(critic, start, steps, lr, sum(losses) / len(losses), sum(right) / len(right))


def acceptance_probability(logits: torch.Tensor, max_logit: float, gamma: float = 0.0,
                           eps: float = 1e-6) -> torch.Tensor:
    """DRS's ``sigmoid(F(x))`` for critic ``logits (N,)`` with every logit ``<= max_logit``:
    ``F = a - log(1 - exp(a - eps)) - gamma``, ``a = logits - max_logit``. For ``gamma = 0`` it equals
    ``exp(a) / (1 + exp(a) (1 - exp(-eps)))``, i.e. ``exp(a)`` to within ``eps``; values in (0, 1]."""
    return torch.sigmoid(acceptance_score(logits, max_logit, eps) - gamma)


def acceptance_score(logits: torch.Tensor, max_logit: float, eps: float = 1e-6) -> torch.Tensor:
    """``F(x) + gamma`` of :func:`acceptance_probability` (``(N,)``, finite for logits <= max_logit)."""
    a = (logits - max_logit).clamp(max=0.0)
    return a - torch.log1p(-torch.exp(a - eps))


@torch.no_grad()
def drs_sample(model: GANModel, critic: GANModel, n: int, seed: int = 0, burn_in: int = 10_000,
               gamma_quantile: float | None = None, eps: float = 1e-6, batch_size: int = 1024,
               max_proposals: int | None = None) -> RejectionSample:
    """``n`` samples of ``model``'s sampling generator kept by discriminator rejection sampling under
    ``critic`` (a :class:`Critic`'s model): ``M`` starts as the largest logit of ``burn_in`` proposals (which
    are not kept) and rises with every larger logit seen after; each proposal is kept with probability
    :func:`acceptance_probability`; ``gamma`` is 0, or with ``gamma_quantile`` in [0, 1) that quantile of
    ``F`` over the burn-in. Raises :class:`UserError` when ``max_proposals`` (default ``max(10,000 n,
    1,000,000)``) draws keep fewer than ``n``."""
    if n < 1 or burn_in < 1:
        raise UserError(f"rejection sampling n={n}, burn_in={burn_in}: expected integers >= 1")
    if gamma_quantile is not None and not 0.0 <= gamma_quantile < 1.0:
        raise UserError(f"gamma quantile {gamma_quantile}: expected a number in [0, 1) (or none: gamma = 0)")
    model.eval()
    critic.eval()
    rng = torch.Generator().manual_seed(seed)

    def propose(m: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = model.generate(model.sample_latent(m, rng))
        return x, critic.discriminator_logits(x).float().flatten()

    burn = torch.cat([propose(min(batch_size, burn_in - s))[1].cpu() for s in range(0, burn_in, batch_size)])
    max_logit = float(burn.max())
    gamma = 0.0 if gamma_quantile is None else float(torch.quantile(acceptance_score(burn, max_logit, eps),
                                                                   gamma_quantile))
    limit = max_proposals or max(10_000 * n, 1_000_000)
    kept, count, proposals = [], 0, 0
    while count < n:
        if proposals >= limit:
            raise UserError(f"rejection sampling kept {count} of {proposals:,} proposals (max logit "
                            f"{max_logit:.2f}): expected at least {n}; the critic finds almost every sample "
                            "unlike the data (train the GAN longer, or keep more with a gamma quantile, "
                            "--drs-quantile, at the cost of exactness)")
        x, logits = propose(batch_size)
        proposals += len(x)
        max_logit = max(max_logit, float(logits.max()))
        p = acceptance_probability(logits.cpu(), max_logit, gamma, eps)
        keep = torch.rand(len(p), generator=rng) < p
        kept.append(x[keep.to(x.device)].cpu())
        count += int(keep.sum())
    return RejectionSample(torch.cat(kept)[:n], proposals, max_logit, gamma)

