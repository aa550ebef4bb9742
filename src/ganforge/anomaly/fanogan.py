"""f-AnoGAN (Schlegl et al. 2019): a WGAN-GP trained on normal examples (the ``wgan-gp`` model, shared loop),
then, with G and D frozen, an encoder E trained to map x to a z with G(z) close to x, by the izi_f loss

    L(x) = 1/n ||x - G(E(x))||^2 + kappa / n_d ||f(x) - f(G(E(x)))||^2

(n pixels, n_d features, f = the critic's last hidden features, kappa = 1). The anomaly score is L(x) itself.

The encoder stage is a small fit function (:func:`fit_izi_encoder`, Adam on minibatches of the normal training
examples), not a second model in the loop: it trains one network against two frozen ones and keeps no
state but the encoder's weights, written to ``RUN_DIR/encoder.pt`` (read with ``weights_only=True``).
Encoder: the GANomaly conv encoder (a DCGAN discriminator ending in ``latent_dim`` channels) for images, an
MLP for points and tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import FORMAT, atomic_torch_save, load_checkpoint
from ..data import ArrayDataset, to_model_range
from ..models.aae import mlp
from ..models.ganomaly import ConvEncoder
from ..remedies import discriminator_features
from .base import TrainedModelMethod, register_method

ENCODER_FILE = "encoder.pt"


def build_encoder(kind: str, shape: tuple[int, ...], latent_dim: int, width: int | None) -> nn.Module:
    """``x (N, *shape)`` in the model range -> ``z (N, latent_dim)``."""
    if kind == "image":
        return ConvEncoder(shape[0], shape[-1], width or 64, latent_dim)
    return nn.Sequential(nn.Flatten(), mlp([math.prod(shape), width or 64, width or 64, latent_dim]))


def izi_f_loss(x: torch.Tensor, x_hat: torch.Tensor, f_x: torch.Tensor, f_x_hat: torch.Tensor,
               kappa: float) -> torch.Tensor:
    """``(N,)``: mean squared image residual plus kappa times the mean squared feature residual, per example."""
    return (x - x_hat).square().flatten(1).mean(1) + kappa * (f_x - f_x_hat).square().flatten(1).mean(1)


def fit_izi_encoder(encoder: nn.Module, generator: Callable[[torch.Tensor], torch.Tensor],
                    feature_fn: Callable[[torch.Tensor], torch.Tensor], x_train: torch.Tensor, steps: int,
                    lr: float, kappa: float, batch_size: int = 64, seed: int = 0,
                    step_hook: Callable[[str], None] | None = None) -> list[float]:
    """Train ``encoder`` in place on ``x_train (N, *shape)`` (model range) by the izi_f loss, with ``generator``
    and ``feature_fn`` frozen (no gradient reaches their weights: only the encoder's are optimised). Adam,
    betas (0.5, 0.999); minibatches drawn with replacement from ``seed``. ``step_hook(where)``, if given, is
    called after every update (the command's thread governor). Returns the loss per step."""
    rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr, betas=(0.5, 0.999))
    encoder.train()
    history = []
    for step in range(steps):
        x = x_train[torch.randint(len(x_train), (batch_size,), generator=rng)]
        x_hat = generator(encoder(x))
        loss = izi_f_loss(x, x_hat, feature_fn(x), feature_fn(x_hat), kappa).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
        if step_hook is not None:
            step_hook(f"encoder step {step + 1}/{steps}")
    encoder.eval()
    return history


@register_method
class FAnoGANMethod(TrainedModelMethod):
    name = "fanogan"
    description = "f-AnoGAN (Schlegl et al. 2019): WGAN-GP, then an izi_f encoder; score = izi_f loss"
    model = "wgan-gp"

    recipes = {"image": {"width": 16, "latent_dim": 32, "steps": 150, "batch_size": 32},
               "points": {"width": 64, "latent_dim": 2, "steps": 2000},
               "table": {"width": 64, "latent_dim": 8, "steps": 500}}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return discriminator_features(self.run.model.discriminator, x)

    def after_fit(self, data: ArrayDataset, run_dir: Path) -> None:
        from ..run import load_run
        from ..threads import governed_step_hook

        self.run = load_run(run_dir)  # eval mode: G's batch norm uses its running statistics
        model = self.run.model
        model.requires_grad_(False)
        torch.manual_seed(self.cfg.seed + 7)
        encoder = build_encoder(data.kind, data.shape, model.cfg.latent_dim, model.cfg.width)
        x_train = to_model_range(torch.as_tensor(data.split("train")))
        fit_izi_encoder(encoder, model.generate, self.features, x_train, self.cfg.encoder_steps, self.cfg.encoder_lr,
                        self.cfg.fanogan_kappa, seed=self.cfg.seed + 8,
                        step_hook=governed_step_hook(self.command_args))
        saved = {"format": FORMAT, "encoder": encoder.state_dict(), "kind": data.kind, "shape": list(data.shape)}
        atomic_torch_save(saved, Path(run_dir) / ENCODER_FILE)

    def load(self, run_dir: Path, data: ArrayDataset) -> None:
        super().load(run_dir, data)
        saved = load_checkpoint(Path(run_dir) / ENCODER_FILE, "cpu", required=("encoder", "kind", "shape"))
        cfg = self.run.model.cfg
        self.encoder = build_encoder(saved["kind"], tuple(saved["shape"]), cfg.latent_dim, cfg.width)
        self.encoder.load_state_dict(saved["encoder"])
        self.encoder.eval()

    def reconstruct_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.run.model.generate(self.encoder(x))

    def score_model(self, x: torch.Tensor) -> torch.Tensor:
        x_hat = self.reconstruct_model(x)
        return izi_f_loss(x, x_hat, self.features(x), self.features(x_hat), self.cfg.fanogan_kappa)
