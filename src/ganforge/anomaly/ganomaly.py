"""GANomaly (Akcay et al. 2018) as an anomaly method: the ``ganomaly`` model (``ganforge.models.ganomaly``)
trained by the shared loop; score = ||G_E(x) - E(G(x))||^2, min-max normalised over the examples scored
together (as the paper does over its test set; a monotone map, so AUROC and AUPRC are unchanged)."""

from __future__ import annotations

import numpy as np
import torch

from .base import TrainedModelMethod, register_method


def min_max_normalise(s: np.ndarray) -> np.ndarray:
    """``(s - min s) / (max s - min s)`` in [0, 1]; all zeros when every score is equal."""
    span = s.max() - s.min() if len(s) else 0.0
    return (s - s.min()) / span if span > 0 else np.zeros_like(s)


@register_method
class GANomalyMethod(TrainedModelMethod):
    name = "ganomaly"
    description = "GANomaly (Akcay et al. 2018): latent distance ||G_E(x) - E(G(x))||^2, min-max normalised"
    model = "ganomaly"

    recipes = {"image": {"width": 16, "latent_dim": 100, "epochs": 2},
               "points": {"width": 64, "latent_dim": 2, "steps": 2000},
               "table": {"width": 64, "latent_dim": 8, "steps": 1500}}

    def score_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.run.model.anomaly_score(x)

    def score(self, x: np.ndarray) -> np.ndarray:
        return min_max_normalise(super().score(x))

    def reconstruct_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.run.model.reconstruct(x)
