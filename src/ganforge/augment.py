"""Differentiable augmentation of D's inputs, for training a GAN on little data.

Both follow the same rule: what D sees, real or fake, passes through the same random transformations, each
differentiable in the image (G learns through them) and each applied to an example with probability p < 1,
so that the augmented distribution still determines the clean one ("non-leaking", Karras et al. 2020, ADA):

- ``diffaug`` (Zhao et al. 2020, DiffAugment): translation, cutout and colour at a fixed probability
  ``--augment-p``;
- ``ada`` (Karras et al. 2020, adaptive discriminator augmentation): the paper's own "bgc" pipeline
  (:func:`ada_pipeline`: geometric transformations composed into one affine resampling, then colour ones;
  ``--augment-ops diffaug`` swaps in DiffAugment's three), with p adjusted during training from the
  overfitting heuristic r_t = E[sign D(x_real)] (the share of real images D calls real, as a mean of signs in
  [-1, 1]): every ``--ada-interval`` D steps p moves up when r_t is above
  ``--ada-target`` (0.6 in the paper) and down when below, by a step that lets it cross [0, 1] in
  ``--ada-kimg`` thousand real images.

Images are ``(N, C, H, W)`` floats in the model range [-1, 1]; the random draws come from torch's global
generator (saved in checkpoints, so resumed runs continue bit-identically).
"""

from __future__ import annotations

import math

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


#: DiffAugment's transformations, in the order they are applied.
TRANSFORMS = (translate, cutout, colour)

# ----------------------------------------------------------------- ADA's pipeline ("bgc", Karras et al. 2020)
#: Spreads of ADA's random transformations (the paper's Appendix B): integer and fractional translation as a
#: fraction of the image size, log2 of the isotropic and anisotropic scale, brightness (added), log2 of the
#: contrast (multiplied), log2 of the saturation.
ADA_TRANSLATE, ADA_FRACTION_STD, ADA_SCALE_STD, ADA_ROTATE_MAX = 0.125, 0.125, 0.2, math.pi
ADA_BRIGHTNESS_STD, ADA_CONTRAST_STD, ADA_SATURATION_STD = 0.2, 0.5, 1.0


def _gated(values: torch.Tensor, p: float) -> torch.Tensor:
    """``values (..., N)``, one draw per image, kept for the images a transformation is applied to (each with
    probability p) and 0 (the transformation's identity parameter) for the others."""
    return values * (torch.rand(values.shape[-1], device=values.device) < p)


def _affine(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
            tx: torch.Tensor | None = None, ty: torch.Tensor | None = None) -> torch.Tensor:
    """``(N, 3, 3)`` matrices [[a, b, tx], [c, d, ty], [0, 0, 1]] from ``(N,)`` entries."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    tx = zero if tx is None else tx
    ty = zero if ty is None else ty
    return torch.stack([torch.stack([a, b, tx], -1), torch.stack([c, d, ty], -1),
                        torch.stack([zero, zero, one], -1)], -2)


def _rotation(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(theta), torch.sin(theta)
    return _affine(cos, -sin, sin, cos)


def ada_geometric_matrix(n: int, p: float, size: int, device: torch.device) -> torch.Tensor:
    """``(N, 3, 3)`` maps from output to input coordinates in ``[-1, 1]`` (``affine_grid``'s), composed as ADA
    composes its geometric transformations, each drawn per image and applied with probability p: x-flip and
    rotation by a multiple of 90 degrees (half / three quarters of the images drawn actually change), integer
    translation (up to 1/8 of the ``size``-pixel image, whole pixels), isotropic scaling (2^N(0, 0.2^2)),
    rotation (uniform angle, with probability 1 - sqrt(1 - p), before and after the anisotropic scaling, so
    that some rotation happens with probability p), anisotropic scaling (2^N(0, 0.2^2) in x, its inverse in y)
    and fractional translation (N(0, 0.125^2) of the size). An image drawn none of them gets the identity."""
    one, zero = torch.ones(n, device=device), torch.zeros(n, device=device)
    flip = 1 - 2 * _gated(torch.floor(torch.rand(n, device=device) * 2), p)
    matrix = _affine(flip, zero, zero, one)
    quarter_turns = _gated(torch.floor(torch.rand(n, device=device) * 4), p)
    matrix = matrix @ _rotation(quarter_turns * (math.pi / 2)).round()  # exact 0 / +-1 entries
    shift = _gated(torch.round((torch.rand(2, n, device=device) * 2 - 1) * ADA_TRANSLATE * size) * (2 / size), p)
    matrix = matrix @ _affine(one, zero, zero, one, shift[0], shift[1])
    scale = torch.exp2(_gated(torch.randn(n, device=device) * ADA_SCALE_STD, p))
    matrix = matrix @ _affine(scale, zero, zero, scale)
    p_rotate = 1 - math.sqrt(max(0.0, 1 - p))
    matrix = matrix @ _rotation(_gated((torch.rand(n, device=device) * 2 - 1) * ADA_ROTATE_MAX, p_rotate))
    aniso = torch.exp2(_gated(torch.randn(n, device=device) * ADA_SCALE_STD, p))
    matrix = matrix @ _affine(aniso, zero, zero, 1 / aniso)
    matrix = matrix @ _rotation(_gated((torch.rand(n, device=device) * 2 - 1) * ADA_ROTATE_MAX, p_rotate))
    frac = _gated(torch.randn(2, n, device=device) * (ADA_FRACTION_STD * 2), p)  # of the size, in [-1, 1] units
    return matrix @ _affine(one, zero, zero, one, frac[0], frac[1])


def ada_geometric(x: torch.Tensor, p: float) -> torch.Tensor:
    """``x (N, C, H, W)`` resampled through :func:`ada_geometric_matrix` (bilinear, reflected at the border as
    ADA pads). Whole-pixel moves (flips, quarter turns, integer shifts) of a square image land on pixel
    centres and copy pixels; an image drawn no transformation comes back equal to itself up to float rounding."""
    n, _, h, w = x.shape
    matrix = ada_geometric_matrix(n, p, max(h, w), x.device).to(x.dtype)
    grid = nn.functional.affine_grid(matrix[:, :2], list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def ada_colour_matrix(n: int, p: float, channels: int, device: torch.device) -> torch.Tensor:
    """``(N, 4, 4)`` affine maps of the colour (r, g, b, 1), composed as ADA composes them, each drawn per image
    and applied with probability p: brightness (+N(0, 0.2^2)), contrast (x 2^N(0, 0.5^2), about mid-grey 0),
    luma flip (the component along the grey axis negated, in half the images drawn), and for 3 channels hue
    rotation about the grey axis (uniform angle) and saturation (x 2^N(0, 1) away from the grey axis)."""
    eye = torch.eye(4, device=device)
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)  # the grey axis
    vv = torch.outer(v, v)
    matrix = eye.repeat(n, 1, 1)
    matrix[:, :3, 3] = _gated(torch.randn(n, device=device) * ADA_BRIGHTNESS_STD, p)[:, None]
    contrast = torch.exp2(_gated(torch.randn(n, device=device) * ADA_CONTRAST_STD, p))
    matrix = torch.diag_embed(torch.stack([contrast, contrast, contrast, torch.ones_like(contrast)], -1)) @ matrix
    flip = _gated(torch.floor(torch.rand(n, device=device) * 2), p)
    matrix = (eye - 2 * vv * flip.view(n, 1, 1)) @ matrix
    if channels == 3:
        theta = _gated((torch.rand(n, device=device) * 2 - 1) * math.pi, p).view(n, 1, 1)
        cross = torch.zeros(4, 4, device=device)
        cross[:3, :3] = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], device=device) / math.sqrt(3)
        rest = eye - vv - torch.diag(torch.tensor([0.0, 0, 0, 1], device=device))  # (I - vv^T) on rgb only
        hue = eye - rest + torch.cos(theta) * rest + torch.sin(theta) * cross  # Rodrigues about v
        matrix = hue @ matrix
        saturation = torch.exp2(_gated(torch.randn(n, device=device) * ADA_SATURATION_STD, p)).view(n, 1, 1)
        matrix = (eye - rest + rest * saturation) @ matrix
    return matrix


def ada_colour(x: torch.Tensor, p: float) -> torch.Tensor:
    """``x (N, C, H, W)`` in [-1, 1] through :func:`ada_colour_matrix`. On one channel (or any count but 3)
    every channel is treated as grey, as ADA treats grey images: hue and saturation are the identity there and
    the luma flip negates."""
    n, c = x.shape[:2]
    matrix = ada_colour_matrix(n, p, c, x.device).to(x.dtype)
    if c == 3:
        return torch.einsum("nij,njhw->nihw", matrix[:, :3, :3], x) + matrix[:, :3, 3, None, None]
    grey = matrix[:, :3, :].mean(dim=1)  # (N, 4): what a grey pixel's value becomes, as ADA computes it
    return x * grey[:, :3].sum(-1).view(n, 1, 1, 1) + grey[:, 3].view(n, 1, 1, 1)


def ada_pipeline(x: torch.Tensor, p: float) -> torch.Tensor:
    """ADA's "bgc" pipeline: the geometric transformations, then the colour ones, each with probability p."""
    return ada_colour(ada_geometric(x, p), p)


def augment(x: torch.Tensor, p: float, ops: str = "diffaug") -> torch.Tensor:
    """``x (N, C, H, W)`` through the transformations ``ops`` names, each applied to each image independently
    with probability ``p`` (0 <= p < 1): ``diffaug``, DiffAugment's :data:`TRANSFORMS`; ``ada``, ADA's
    :func:`ada_pipeline`. At p = 0, ``x`` itself."""
    if p <= 0:
        return x
    if ops == "ada":
        return ada_pipeline(x, p)
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
