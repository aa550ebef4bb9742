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


def with_temperature(latent: torch.Tensor | tuple[torch.Tensor, ...], temperature: float
                     ) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The latent with its noise ``z`` scaled by ``temperature`` (a tuple latent's first element, e.g. cgan's
    ``(z, y)``: labels and codes are left alone). ``temperature < 1`` draws from a narrower prior, trading
    diversity for typicality (the "truncation trick" of Brock et al. 2019, in its scaling form; 1 is the prior
    the model was trained with)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 1:
        return latent
    if isinstance(latent, tuple):
        return (latent[0] * temperature, *latent[1:])
    return latent * temperature
