"""The noise prior p_z."""

from __future__ import annotations

import torch


def sample_noise(n: int, latent_dim: int, prior: str, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """``z (n, latent_dim)`` float32 from N(0, I) (``prior="normal"``) or U[-1, 1] (``"uniform"``).

    Drawn on the CPU from ``generator`` (so a seed gives the same z on every device), then moved.
    """
    if prior == "normal":
        z = torch.randn(n, latent_dim, generator=generator)
    elif prior == "uniform":
        z = torch.rand(n, latent_dim, generator=generator).mul_(2).sub_(1)
    else:
        raise ValueError(f"unknown prior {prior!r}")
    return z.to(device)
