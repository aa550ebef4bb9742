"""Remedies for mode collapse and unstable training, as pieces any adversarial model can combine.

``AdversarialGAN`` (models/base.py) applies them from the config; each is a small function or module here so
that it can be tested alone on fixed tensors:

- minibatch discrimination and feature matching (Salimans et al. 2016, "Improved Techniques for Training
  GANs"): :class:`MinibatchDiscrimination`, :class:`MinibatchDiscriminator`, :func:`feature_matching_loss`;
- one-sided label smoothing (Salimans et al. 2016): ``objectives.discriminator_loss_smoothed``;
- historical averaging (Salimans et al. 2016): :class:`HistoricalAverage`;
- unrolled GAN (Metz et al. 2017): :func:`unrolled_parameters`;
- packing (PacGAN, Lin et al. 2018): :class:`PackedDiscriminator`;
- instance noise annealed to zero (Sønderby et al. 2017; Arjovsky & Bottou 2017): :func:`instance_noise_std`;
- generator weight averaging (EMA, Yazıcı et al. 2019; Karras et al. 2018): :func:`ema_decay`, :func:`update_ema_`.

The two-time-scale update rule (TTUR, Heusel et al. 2017) is a learning rate per phase (``Phase.lr``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: Minibatch discrimination's kernel dimension C (Salimans et al. use B = 100 kernels of C = 5 on CIFAR-10).
MINIBATCH_KERNEL_DIM = 5


class MinibatchDiscrimination(nn.Module):
    """``f (N, A) -> o (N, B)``: how close each example's features are to the rest of the minibatch.

    M_i = f_i T reshaped to ``(B, C)``; c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1); o(x_i)_b = sum_j c_b(x_i, x_j)
    over j != i (Salimans et al. 2016, section 3.2). A collapsed minibatch gives every example large o, which
    D can see. ``T`` is ``(A, B * C)``, initialised N(0, 0.1). ``twice_differentiable``: compute the L1
    distances by broadcasting (2.4x slower on CPU than ``torch.cdist``, whose backward has no derivative), for
    a D that is differentiated twice (an input-gradient penalty, unrolling)."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = MINIBATCH_KERNEL_DIM,
                 twice_differentiable: bool = False):
        super().__init__()
        self.kernels, self.kernel_dim, self.twice_differentiable = kernels, kernel_dim, twice_differentiable
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # (B, N, C)
        if self.twice_differentiable:
            l1 = (m[:, :, None] - m[:, None, :]).abs().sum(-1)  # (B, N, N): ||M_i,b - M_j,b||_1
        else:
            l1 = torch.cdist(m, m, p=1)
        return (torch.exp(-l1).sum(2) - 1.0).T  # (N, B); exp(0) = 1 is the j = i term


def discriminator_body(discriminator: nn.Module) -> tuple[nn.Module, nn.Module]:
    """``(body, last)`` of a discriminator whose ``net`` is an ``nn.Sequential`` ending in its map to one logit."""
    net = getattr(discriminator, "net", None)
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"{type(discriminator).__name__} has no sequential .net to take features from")
    return net[:-1], net[-1]


def discriminator_features(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """D's last hidden features ``(N, F)`` of ``x``: the input of its last layer, flattened."""
    if hasattr(discriminator, "features"):
        return discriminator.features(x)
    body, _ = discriminator_body(discriminator)
    return body(x).flatten(1)


class MinibatchDiscriminator(nn.Module):
    """A discriminator with a minibatch-discrimination layer before its last layer: ``x -> logits (N,)``.

    The body's features ``f (N, F)`` and ``o(f) (N, B)`` are concatenated and mapped to one logit by a new
    linear layer (the old last layer, which took ``F`` inputs, is dropped)."""

    def __init__(self, body: nn.Module, features: int, kernels: int, twice_differentiable: bool = False):
        super().__init__()
        self.body = body
        self.minibatch = MinibatchDiscrimination(features, kernels, twice_differentiable=twice_differentiable)
        self.last = nn.Linear(features + kernels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return self.last(torch.cat([f, self.minibatch(f)], 1)).squeeze(1)


def feature_matching_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """||E f(x) - E f(G(z))||_2^2 over D's features ``(N, F)`` (Salimans et al. 2016, section 3.1); the real
    side is a target (detached)."""
    return (features_real.detach().mean(0) - features_fake.mean(0)).square().sum()


class HistoricalAverage(nn.Module):
    """The running mean of past values of ``params``, as buffers (saved in checkpoints).

    :meth:`penalty` is ||theta - mean_t theta_t||^2 summed over the parameters (Salimans et al. 2016, section
    3.3); :meth:`update_` folds the current values in after each step. The mean starts at the initial values
    (count 1)."""

    def __init__(self, params: list[nn.Parameter]):
        super().__init__()
        self.params = list(params)
        for i, p in enumerate(self.params):
            self.register_buffer(f"mean_{i}", p.detach().clone())
        self.register_buffer("count", torch.ones((), dtype=torch.int64))

    def means(self) -> list[torch.Tensor]:
        return [getattr(self, f"mean_{i}") for i in range(len(self.params))]

    def penalty(self) -> torch.Tensor:
        return sum((p - m).square().sum() for p, m in zip(self.params, self.means(), strict=True))

    @torch.no_grad()
    def update_(self) -> None:
        self.count += 1
        for p, m in zip(self.params, self.means(), strict=True):
            m.add_((p - m) / self.count)


class PackedDiscriminator(nn.Module):
    """PacGAN (Lin et al. 2018): D judges ``pack`` examples at once, concatenated along their first axis.

    ``x (N, *shape) -> logits (N / pack,)``: rows ``pack*i .. pack*i + pack - 1`` form pack ``i``; images
    ``(C, H, W)`` become ``(pack * C, H, W)``, points ``(D,)`` become ``(pack * D,)``. ``inner`` is built for
    the packed shape; every pack holds only real or only fake examples."""

    def __init__(self, inner: nn.Module, pack: int):
        super().__init__()
        self.inner, self.pack = inner, pack

    def packed(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"minibatch of {n} cannot be packed by {self.pack}")
        return x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return discriminator_features(self.inner, self.packed(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.packed(x))


def packed_shape(shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The example shape a packed D takes: the first axis (channels, or the point's coordinates) times ``pack``."""
    return (shape[0] * pack, *shape[1:])


def unrolled_parameters(discriminator: nn.Module, d_loss: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                        steps: int, lr: float) -> dict[str, torch.Tensor]:
    """D's parameters after ``steps`` gradient-descent steps of size ``lr`` on ``d_loss(params)``, kept
    differentiable (Metz et al. 2017: G's loss is taken against this look-ahead D, and its gradient flows
    through the unrolled updates). D's own parameters are not modified.

    ``d_loss(params)`` must evaluate D with ``torch.func.functional_call(discriminator, params, ...)``."""
    params = {name: p.detach().requires_grad_(True) for name, p in discriminator.named_parameters()}
    for _ in range(steps):
        loss = d_loss(params)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
        params = {name: p if g is None else p - lr * g for (name, p), g in zip(params.items(), grads, strict=True)}
    return params


def instance_noise_std(initial: float, step: int, total_steps: int) -> float:
    """Instance noise annealed linearly from ``initial`` at step 0 to 0 at ``total_steps``."""
    return initial * max(0.0, 1.0 - step / max(total_steps, 1))


def ema_decay(half_life_images: float, batch_size: int) -> float:
    """Per-step decay beta of a weight average whose half-life is ``half_life_images`` generated images:
    beta ** (half_life / batch_size) = 1/2 (Karras et al. 2018 count it in images as well)."""
    return 0.5 ** (batch_size / half_life_images)


@torch.no_grad()
def update_ema_(average: nn.Module, current: nn.Module, beta: float) -> None:
    """average <- beta * average + (1 - beta) * current, parameter by parameter; buffers (batch-norm
    statistics) are copied."""
    for a, c in zip(average.parameters(), current.parameters(), strict=True):
        a.lerp_(c.detach(), 1.0 - beta)
    for a, c in zip(average.buffers(), current.buffers(), strict=True):
        a.copy_(c)


def update_debiased_average_(average: nn.Module, current: nn.Module, t: int, beta: float) -> None:
    """The ``t``-th update (t >= 1) of a bias-corrected exponential average of ``current``'s weights: a_t = a_{t-1}
    + (1 - beta) / (1 - beta^t) (p_t - a_{t-1}), which makes a_t = sum_s beta^(t-s) p_s / sum_s beta^(t-s), the
    iterates p_1..p_t weighted by beta^age (a_1 = p_1: the starting value never counts). sgan's ``--d-ema``:
    Salimans et al.'s code keeps such an average of D (rate 1e-4 per step, from zero, without the correction)
    and tests with it."""
    update_ema_(average, current, 1.0 - (1.0 - beta) / (1.0 - beta ** t))
