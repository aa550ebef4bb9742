"""The noise prior p_z.

- ``normal``: N(0, I); ``uniform``: U[-1, 1] per coordinate.
- ``mixture``: an equal-weight mixture of ``components`` Gaussians N(mu_c, std^2 I) whose centres mu_c are
  drawn once from N(0, I) by a fixed seed (:func:`mixture_centres`), so every run, resume and export with the
  same ``(components, latent_dim)`` has the same prior. It is DeLiGAN's prior (Gurumurthy et al. 2017) with
  its means and scales fixed instead of learned. Why: a continuous G maps the connected support of N(0, I)
  onto a connected set, so on data with disconnected modes it must leave samples on bridges between them
  (Khayatkhoei et al. 2018, "Disconnected manifold learning for generative adversarial networks"); with
  well-separated components (in 16 dimensions the centres are ~5.7 apart, each component ~1 wide at std 0.25)
  G can send each component to one mode and leave the empty space between components to the tears.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .errors import UserError

#: The seed of the mixture prior's centres: a property of the prior, not of the run.
MIXTURE_CENTRES_SEED = 0


@lru_cache(maxsize=8)
def mixture_centres(components: int, latent_dim: int) -> torch.Tensor:
    """The ``mixture`` prior's centres ``(components, latent_dim)`` float32, N(0, I) draws of a fixed seed
    (read-only: a cached tensor shared by every caller)."""
    return torch.randn(components, latent_dim, generator=torch.Generator().manual_seed(MIXTURE_CENTRES_SEED))


def sample_noise(n: int, latent_dim: int, prior: str, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", components: int = 50, std: float = 0.25) -> torch.Tensor:
    """``z (n, latent_dim)`` float32 from N(0, I) (``prior="normal"``), U[-1, 1] (``"uniform"``), or the
    ``"mixture"`` of ``components`` Gaussians N(mu_c, std^2 I), c uniform (module docstring).

    Drawn on the CPU from ``generator`` (so a seed gives the same z on every device), then moved.
    """
    if prior == "normal":
        z = torch.randn(n, latent_dim, generator=generator)
    elif prior == "mixture":
        which = torch.randint(components, (n,), generator=generator)
        z = mixture_centres(components, latent_dim)[which] + std * torch.randn(n, latent_dim, generator=generator)
    elif prior == "uniform":
        z = torch.rand(n, latent_dim, generator=generator).mul_(2).sub_(1)
    else:
        raise ValueError(f"unknown prior {prior!r}")
    return z.to(device)


def with_temperature(latent: torch.Tensor | tuple[torch.Tensor, ...], temperature: float, prior: str = "normal"
                     ) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The latent with its noise ``z`` scaled by ``temperature`` (a tuple latent's first element, e.g. cgan's
    ``(z, y)``: labels and codes are left alone). ``temperature < 1`` draws from a narrower prior, trading
    diversity for typicality (the "truncation trick" of Brock et al. 2019, in its scaling form; 1 is the prior
    the model was trained with). The ``mixture`` prior refuses any other temperature with a UserError: scaling
    z towards 0 moves it off every component, where G was never trained."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 1:
        return latent
    if prior == "mixture":
        raise UserError(f"--temperature {temperature}: scales z towards 0, which is no typical point of the run's "
                        "mixture prior (its components sit around fixed centres): expected 1 with --prior mixture")
    if isinstance(latent, tuple):
        return (latent[0] * temperature, *latent[1:])
    return latent * temperature
