"""AnoGAN (Schlegl et al. 2017): a GAN trained on normal examples, then for each test example x a search for
the latent z whose G(z) is closest to x, by Adam on z for Gamma steps minimising

    L(z) = (1 - lambda) R(z) + lambda D(z),   R(z) = sum |x - G(z)|,   D(z) = sum |f(x) - f(G(z))|

(residual loss and discrimination loss, f = D's last hidden features: the paper's feature-matching variant),
lambda = 0.1. The anomaly score is L at the last z. The GAN is DCGAN for images (as in the paper) and
WGAN-GP with the MLP critic for toy points and tables.

The search is expensive (Gamma forward and backward passes per example), hence ``--anogan-steps`` and, for the
table, a stratified subset of the test split. :func:`search_latents` is a plain function of a generator and a
feature map, shared by anything that inverts a generator this way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data import to_data_range, to_model_range
from ..remedies import discriminator_features
from .base import TrainedModelMethod, register_method


def search_latents(generator: Callable[[torch.Tensor], torch.Tensor],
                   feature_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int = 100,
                   lr: float = 0.05, lam: float = 0.1, seed: int = 0, latent_dim: int = 100
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """AnoGAN's latent search. ``x (N, *shape)`` in the model range; ``generator(z (N, latent_dim))`` gives
    ``(N, *shape)``; ``feature_fn(x) -> (N, F)``. Starting from z ~ N(0, I) drawn from ``seed``, ``steps`` Adam
    steps (learning rate ``lr``) on every z_i at once: each loss term depends on its own z_i alone and Adam is
    elementwise, so this is N independent searches (batch norm must be in eval mode). Returns ``(z (N,
    latent_dim), loss (N,))``, the loss (1 - lam) R + lam D at the returned z. Networks' weights are not changed
    (no gradient reaches them)."""
    z = torch.randn(len(x), latent_dim, generator=torch.Generator().manual_seed(seed)).to(x.device)
    z.requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    with torch.no_grad():
        f_x = feature_fn(x)

    def losses(z: torch.Tensor) -> torch.Tensor:
        x_g = generator(z)
        residual = (x - x_g).abs().flatten(1).sum(1)
        discrimination = (f_x - feature_fn(x_g)).abs().flatten(1).sum(1)
        return (1 - lam) * residual + lam * discrimination

    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = losses(z).sum()
            (grad,) = torch.autograd.grad(loss, [z])
            z.grad = grad
            optimizer.step()
    with torch.no_grad():
        return z.detach(), losses(z.detach())


@register_method
class AnoGANMethod(TrainedModelMethod):
    name = "anogan"
    description = "AnoGAN (Schlegl et al. 2017): Adam search for z per example, (1-l) residual + l D-features"

    def model_for(self, kind: str) -> str:
        return "dcgan" if kind == "image" else "wgan-gp"

    recipes = {"image": {"width": 16, "latent_dim": 32, "steps": 300, "batch_size": 32},
               "points": {"width": 64, "latent_dim": 2, "steps": 2000},
               "table": {"width": 64, "latent_dim": 8, "steps": 500}}

    def search(self, x: np.ndarray, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss (N,), G(z*) (N, *shape) in the model range)`` for stored examples ``x``."""
        model, cfg = self.run.model, self.cfg
        losses, images = [], []
        for start in range(0, len(x), batch_size):
            xb = to_model_range(torch.as_tensor(x[start:start + batch_size])).to(model.device)
            z, loss = search_latents(model.generate, lambda v: discriminator_features(model.discriminator, v), xb,
                                     cfg.anogan_steps, cfg.anogan_lr, cfg.anogan_lambda, cfg.seed + start,
                                     model.cfg.latent_dim)
            with torch.no_grad():
                images.append(model.generate(z).cpu())
            losses.append(loss.cpu())
        return torch.cat(losses), torch.cat(images)

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.search(x)[0].double().numpy()

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return to_data_range(self.search(x)[1], self.kind).numpy()
