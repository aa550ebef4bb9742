"""Differentiable augmentation of D's inputs, for training a GAN on little data.

Both follow the same rule: what D sees, real or fake, passes through the same random transformations, each
differentiable in the image (G learns through them) and each applied to an example with probability p < 1,
so that the augmented distribution still determines the clean one ("non-leaking", Karras et al. 2020, ADA):

- ``diffaug`` (Zhao et al. 2020, DiffAugment): translation, cutout and colour at a fixed probability
  ``--augment-p``;
- ``ada`` (Karras et al. 2020, adaptive discriminator augmentation): the same transformations, with p adjusted
  during training from the overfitting heuristic r_t = E[sign D(x_real)] (the share of real images D calls
  real, as a mean of signs in [-1, 1]): every ``--ada-interval`` D steps p moves up when r_t is above
  ``--ada-target`` (0.6 in the paper) and down when below, by a step that lets it cross [0, 1] in
  ``--ada-kimg`` thousand real images.

Images are ``(N, C, H, W)`` floats in the model range [-1, 1]; the random draws come from torch's global
generator (saved in checkpoints, so resumed runs continue bit-identically).
"""

from __future__ import annotations

import torch
from torch import nn

from .distributed import sum_over_ranks_, world_size

#: The largest augmentation probability ADA may reach: every transformation stays applied with p < 1 (the
#: ADA paper finds its pipeline starts to leak above about 0.8).
ADA_P_MAX = 0.8
#: Translation by up to this fraction of the image size, cutout of a square this fraction of it (DiffAugment).
TRANSLATE_FRACTION = 0.125
CUTOUT_FRACTION = 0.5


def translate(x: torch.Tensor, fraction: float = TRANSLATE_FRACTION) -> torch.Tensor:
    """Each image shifted by whole pixels, up to ``fraction`` of its height and width either way, the uncovered
    border zero (mid-grey in [-1, 1]). A gather: differentiable in ``x``."""
    n, _, h, w = x.shape
    sy, sx = max(1, round(h * fraction)), max(1, round(w * fraction))
    dy = torch.randint(-sy, sy + 1, (n, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None] + dy + sy  # (N, H) rows of the padded image
    cols = torch.arange(w, device=x.device)[None] + dx + sx  # (N, W)
    padded = nn.functional.pad(x, (sx, sx, sy, sy))
    out = padded[torch.arange(n, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)  # advanced indexing put the channel axis last: (N, H, W, C) -> (N, C, H, W)


def cutout(x: torch.Tensor, fraction: float = CUTOUT_FRACTION) -> torch.Tensor:
    """Each image with one square of side ``fraction`` of its size, placed at random, set to zero."""
    n, _, h, w = x.shape
    size_y, size_x = max(1, round(h * fraction)), max(1, round(w * fraction))
    top = torch.randint(-(size_y // 2), h - size_y // 2, (n, 1, 1), device=x.device)
    left = torch.randint(-(size_x // 2), w - size_x // 2, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    hole = (ys >= top) & (ys < top + size_y) & (xs >= left) & (xs < left + size_x)  # (N, H, W)
    return x * (~hole)[:, None].to(x.dtype)


def colour(x: torch.Tensor) -> torch.Tensor:
    """Brightness (plus U[-0.5, 0.5]), saturation (distance from the pixel's channel mean times U[0, 2]; no-op
    on grey images) and contrast (distance from the image mean times U[0.5, 1.5]), per image."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (2 * torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype)) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


#: The transformations, in the order they are applied.
TRANSFORMS = (translate, cutout, colour)


def augment(x: torch.Tensor, p: float) -> torch.Tensor:
    """``x (N, C, H, W)`` with each transformation of :data:`TRANSFORMS` applied to each image independently
    with probability ``p`` (0 <= p < 1): at p = 0, ``x`` itself."""
    if p <= 0:
        return x
    for transform in TRANSFORMS:
        chosen = torch.rand(x.shape[0], device=x.device) < p  # (N,)
        x = torch.where(chosen[:, None, None, None], transform(x), x)
    return x


def ada_adjusted_p(p: float, r_t: float, target: float, step: float, p_max: float = ADA_P_MAX) -> float:
    """ADA's update: p + step * sign(r_t - target), kept in [0, p_max]. r_t above the target means D is
    confident on the real images it trains on (overfitting): augment more."""
    sign = (r_t > target) - (r_t < target)
    return min(max(p + step * sign, 0.0), p_max)


class AdaptiveAugment(nn.Module):
    """ADA's state, as buffers that checkpoints save: the current ``p``, the last ``r_t`` and the running sum
    of sign D(x_real) since the last adjustment.

    ``observe(logits_real)`` after each D forward pass on (augmented) reals; ``step_()`` after each D update,
    which every ``interval`` updates sets r_t to the mean sign and adjusts p by ``batch_size * interval /
    (kimg * 1000)`` (p can go from 0 to 1 in ``kimg`` thousand real images)."""

    def __init__(self, target: float, interval: int, kimg: float, batch_size: int):
        super().__init__()
        self.target, self.interval = target, interval
        self.step_size = batch_size * interval / (kimg * 1000.0)
        self.register_buffer("p", torch.zeros((), dtype=torch.float64))
        self.register_buffer("r_t", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sign_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def observe(self, logits_real: torch.Tensor) -> None:
        self.sign_sum += torch.sign(logits_real.detach().float()).sum().double()
        self.seen += logits_real.numel()

    @torch.no_grad()
    def step_(self) -> None:
        self.updates += 1
        if int(self.updates) % self.interval:
            return
        # under torchrun r_t is the mean sign over every rank's reals and p moves by the images of all ranks,
        # so that p stays the same on every rank (as in the ADA authors' code)
        totals = sum_over_ranks_(torch.stack([self.sign_sum, self.seen.double()]))
        if float(totals[1]) == 0:
            return
        self.r_t.fill_(float(totals[0]) / float(totals[1]))
        self.p.fill_(ada_adjusted_p(float(self.p), float(self.r_t), self.target, self.step_size * world_size()))
        self.sign_sum.zero_()
        self.seen.zero_()
