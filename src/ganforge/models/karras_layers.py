"""Layers shared by ``progan`` (Karras et al. 2018) and ``stylegan2`` (Karras et al. 2020).

- Equalised learning rate (ProGAN section 4.1): weights are stored ~ N(0, 1) and scaled at run time by He's
  constant ``c = gain / sqrt(fan_in)`` (gain sqrt(2) before a (leaky) ReLU, 1 before a linear output), so that
  Adam's scale-invariant updates move every layer at the same relative speed. ``lr_mul`` (StyleGAN's mapping
  network, 0.01) stores ``w ~ N(0, 1/lr_mul^2)`` and multiplies both weight and bias by ``lr_mul`` at run time,
  which divides those layers' effective learning rate by 1/lr_mul.
- Pixelwise feature normalisation (ProGAN section 4.2): ``b_xy = a_xy / sqrt(mean_j a_xy,j^2 + 1e-8)``.
- Minibatch standard deviation (ProGAN section 3): the standard deviation of every feature at every position
  over a group of examples, averaged to one number per group and appended as one constant feature map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: gain of He's initialiser before a (leaky) ReLU
RELU_GAIN = math.sqrt(2.0)


def equalised_scale(fan_in: int, gain: float = RELU_GAIN, lr_mul: float = 1.0) -> float:
    """The run-time weight multiplier of an equalised layer: ``gain * lr_mul / sqrt(fan_in)``."""
    return gain * lr_mul / math.sqrt(fan_in)


class EqualizedLinear(nn.Module):
    """``x (N, in) -> (N, out)``: ``x @ (c W)^T + lr_mul b`` with ``W ~ N(0, 1/lr_mul^2)``, ``c`` from
    :func:`equalised_scale`; ``bias_init`` sets the effective bias (StyleGAN's style affines start at 1)."""

    def __init__(self, in_features: int, out_features: int, gain: float = RELU_GAIN, lr_mul: float = 1.0,
                 bias: bool = True, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul)) if bias else None
        self.scale, self.lr_mul = equalised_scale(in_features, gain, lr_mul), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class EqualizedConv2d(nn.Module):
    """``x (N, in, H, W) -> (N, out, H, W)`` (same padding): a convolution with weights ``c W``, ``W ~ N(0, 1)``,
    ``c = gain / sqrt(in * k * k)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = RELU_GAIN,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = equalised_scale(in_channels * kernel_size * kernel_size, gain)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each position's feature vector to unit root mean square: ``x / sqrt(mean over dim 1 of x^2 + eps)``;
    ``x (N, C, ...)`` (or ``(N, C)``)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """``x (N, C, H, W) -> (N, C + 1, H, W)``: one feature map appended, for every example the mean over
    (C, H, W) of the standard deviation (biased, ``sqrt(var + eps)``) of each feature at each position over
    the example's group. Groups are examples ``i, i + N/G, i + 2N/G, ...`` with ``G`` the largest divisor of N
    not above ``group_size``; with ``group_size >= N`` the whole minibatch is one group, as in the paper."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.reshape(g, n // g, c, h, w)  # y[j, m] is example j * (n/g) + m; group m = {y[:, m]}
    std = (y.var(dim=0, unbiased=False) + eps).sqrt()  # (n/g, C, H, W)
    per_group = std.mean(dim=(1, 2, 3))  # (n/g,)
    feature = per_group.repeat(g)[:, None, None, None].expand(n, 1, h, w)  # example i is in group i % (n/g)
    return torch.cat([x, feature.to(x.dtype)], dim=1)
