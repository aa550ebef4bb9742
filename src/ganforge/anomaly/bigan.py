"""BiGAN as an anomaly detector (Zenati et al. 2018, "Efficient GAN-Based Anomaly Detection"): the ``bigan``
model (``ganforge.models.bigan``) trained by the shared loop on normal examples; its encoder gives each x a
latent in one pass (no per-image search, the paper's point against AnoGAN), and the score is

    A(x) = alpha * ||x - G(E(x))||_1 / n  +  (1 - alpha) * ||f(x, E(x)) - f(G(E(x)), E(x))||_1 / n_f

with f the discriminator's layer before its logit (its "feature-matching" discrimination loss), n pixels and
n_f features (means instead of the paper's sums, so that alpha weighs two terms of the same scale), and
alpha = 0.9 as the paper uses for MNIST.
"""

from __future__ import annotations

import torch

from .base import TrainedModelMethod, register_method

#: Zenati et al.'s weight of the residual term (their MNIST setting).
ALPHA = 0.9


def bigan_score(x: torch.Tensor, x_hat: torch.Tensor, f_x: torch.Tensor, f_x_hat: torch.Tensor,
                alpha: float = ALPHA) -> torch.Tensor:
    """``(N,)``: alpha times the mean absolute residual plus (1 - alpha) times the mean absolute feature
    difference, per example."""
    residual = (x - x_hat).abs().flatten(1).mean(1)
    discrimination = (f_x - f_x_hat).abs().flatten(1).mean(1)
    return alpha * residual + (1 - alpha) * discrimination


@register_method
class BiGANMethod(TrainedModelMethod):
    name = "bigan"
    description = "BiGAN (Zenati et al. 2018): encoder in one pass; score = 0.9 L1 residual + 0.1 D-feature L1"
    model = "bigan"

    recipes = {"image": {"width": 16, "latent_dim": 32, "steps": 300, "batch_size": 64},
               "points": {"width": 64, "latent_dim": 2, "steps": 2000},
               "table": {"width": 64, "latent_dim": 8, "steps": 1500}}

    def score_model(self, x: torch.Tensor) -> torch.Tensor:
        model = self.run.model
        z = model.encode(x)
        x_hat = model.generate(z)
        d = model.discriminator
        return bigan_score(x, x_hat, d.features(x, z), d.features(x_hat, z))

    def reconstruct_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.run.model.reconstruct(x)
