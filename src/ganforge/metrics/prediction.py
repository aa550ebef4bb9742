"""Video prediction measures (next-frame prediction): PSNR and SSIM per future step, and sharpness.

Frames are float ``(N, C, H, W)`` in [0, 1]; roll-outs ``(N, T, C, H, W)``, step t + 1 being the (t + 1)-th
predicted frame. PSNR and SSIM are :mod:`ganforge.metrics.restoration`'s (per image, then the mean; an exact
prediction's infinite PSNR is left out of the mean, as there). Two sharpness scores compare image gradients,
``grad_y[i, j] = |x[i, j] - x[i-1, j]|`` and ``grad_x[i, j] = |x[i, j] - x[i, j-1]|`` (on luminance for colour):

- **sharpness difference** (Mathieu et al. 2016's sharpness measure): ``10 log10(1 / mean |(gy_t + gx_t) - (gy_p +
  gx_p)|)`` in dB over the pixels with both neighbours (i, j >= 1): higher means the predicted gradients are
  closer to the true ones;
- **gradient ratio**: ``sum(gy_p + gx_p) / sum(gy_t + gx_t)`` per image: 1 is as much edge as the true frame,
  below 1 blurrier (averaging with non-negative weights never increases total variation), above 1 noisier.
"""

from __future__ import annotations

import math

import torch

from .restoration import luminance, restoration_measures


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gy, gx)`` of ``x (N, C, H, W)``: absolute differences with the upper and the left neighbour on the
    common ``(N, C, H - 1, W - 1)`` grid of pixels that have both."""
    gy = (x[..., 1:, 1:] - x[..., :-1, 1:]).abs()
    gx = (x[..., 1:, 1:] - x[..., 1:, :-1]).abs()
    return gy, gx


def sharpness_difference(pred: torch.Tensor, true: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Sharpness difference per image ``(N,)`` in dB (module docstring); infinite when the gradients agree."""
    gy_p, gx_p = image_gradients(luminance(pred.double()))
    gy_t, gx_t = image_gradients(luminance(true.double()))
    err = ((gy_t + gx_t) - (gy_p + gx_p)).abs().flatten(1).mean(1)
    return (10.0 * torch.log10(data_range ** 2 / err)).float()


def gradient_ratio(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Total gradient magnitude of ``pred`` over that of ``true`` per image ``(N,)`` (module docstring)."""
    gy_p, gx_p = image_gradients(luminance(pred.double()))
    gy_t, gx_t = image_gradients(luminance(true.double()))
    return ((gy_p + gx_p).flatten(1).sum(1) / (gy_t + gx_t).flatten(1).sum(1).clamp_min(1e-12)).float()


def _finite_mean(v: torch.Tensor) -> float:
    finite = torch.isfinite(v)
    return float(v[finite].mean()) if bool(finite.any()) else math.inf


def prediction_measures(predicted: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """``psnr_t``, ``ssim_t``, ``sharpness_t``, ``grad_ratio_t`` for steps ``t = 1..T`` of roll-outs
    ``predicted`` and ``true`` (both ``(N, T, C, H, W)`` in [0, 1]): means over the N sequences."""
    values: dict[str, float] = {}
    for t in range(true.shape[1]):
        p, y = predicted[:, t], true[:, t]
        r = restoration_measures(p, y)
        values[f"psnr_{t + 1}"], values[f"ssim_{t + 1}"] = r["psnr"], r["ssim"]
        values[f"sharpness_{t + 1}"] = _finite_mean(sharpness_difference(p, y))
        values[f"grad_ratio_{t + 1}"] = float(gradient_ratio(p, y).mean())
    return values
