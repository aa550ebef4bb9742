"""Reconstruction baselines: the ``ae`` and ``vae`` models trained on normal examples, scored by how badly they
reconstruct x: score(x) = mean squared error ||x - x_hat||^2 / d in the model range (images in [-1, 1]; a
table's standardised / one-hot rows as they are)."""

from __future__ import annotations

import torch

from .base import TrainedModelMethod, per_example_mse, register_method


@register_method
class AutoencoderMethod(TrainedModelMethod):
    name = "ae"
    description = "autoencoder reconstruction error (conv for images, deep MLP for points and tables)"
    model = "ae"

    recipes = {"image": {"ae_kind": "conv", "epochs": 5},
               "points": {"ae_kind": "deep", "latent_dim": 2, "steps": 2000},
               # rows of tens of standardised / one-hot entries: a wider code than 2-d points need
               "table": {"ae_kind": "deep", "latent_dim": 8, "steps": 1500}}

    def score_model(self, x: torch.Tensor) -> torch.Tensor:
        return per_example_mse(x, self.run.model.reconstruct(x))

    def reconstruct_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.run.model.reconstruct(x)


@register_method
class VAEMethod(AutoencoderMethod):
    name = "vae"
    description = "VAE reconstruction error of the posterior mean (MLP)"
    model = "vae"

    recipes = {"image": {"epochs": 5}, "points": {"latent_dim": 2, "width": 64, "steps": 2000},
               "table": {"latent_dim": 8, "width": 64, "steps": 1500}}
