"""``wgan``, ``wgan-gp``, ``lsgan``, ``sngan``: the GANs that changed the objective or constrained D.

All four are the DCGAN networks (images), or for toy points the 2014 MLP generator beside a ReLU MLP critic
(:class:`MLPCritic`), trained by the shared loop; what differs is D's loss, its regulariser and its
normalisation, each a separate piece:

- ``wgan`` (Arjovsky, Chintala & Bottou 2017): objective ``wasserstein``, weights clipped to [-0.01, 0.01]
  after every critic step, RMSProp 5e-5, 5 critic steps per G step (configs/wgan.yaml).
- ``wgan-gp`` (Gulrajani et al. 2017): objective ``wasserstein`` plus the gradient penalty (lambda = 10) on a
  critic without batch norm; Adam 1e-4, betas (0, 0.9), 5 critic steps (configs/wgan-gp.yaml).
- ``lsgan`` (Mao et al. 2017): objective ``least-squares`` (a=0, b=c=1) (configs/lsgan.yaml).
- ``sngan`` (Miyato et al. 2018): spectral normalisation of every D layer, no batch norm in D; any objective,
  the paper's ``hinge`` in configs/sngan.yaml.

``AdversarialGAN`` (models/base.py, every adversarial model's base) combines ``cfg.objective`` +
``cfg.penalty`` (weighted by ``cfg.gp_weight``) + ``cfg.clip``. Input-gradient penalties need D(x_i) to depend
on x_i alone, so a model with a penalty gets its discriminator's batch norm layers removed.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import TrainConfig
from ..errors import UserError
from . import dcgan, gan
from .base import (
    AdversarialGAN,
    DataInfo,
    ModelSpec,
    refuse_remedies,
    register_model,
    resolved_penalty,
    without_batch_norm,
)

#: WGAN's clipping constant c when ``--clip`` is not given.
WGAN_DEFAULT_CLIP = 0.01


class MLPCritic(nn.Module):
    """``x (N, D) -> scores (N,)``: three ReLU hidden layers of ``hidden`` units and a linear output, the toy
    critic of Gulrajani et al. (2017). Used for points instead of the 2014 maxout discriminator, whose
    5-piece units suit neither spectral normalisation (one sigma for all pieces flattens every slope) nor
    clipping."""

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def build_base_networks(data: DataInfo, latent_dim: int, width: int | None, pack: int = 1
                        ) -> tuple[nn.Module, nn.Module]:
    """The family's networks for ``data``: DCGAN for images; for toy points the 2014 MLP generator beside
    :class:`MLPCritic` (``width`` hidden units each, 128 by default). With ``pack`` M > 1 the critic takes M
    examples at once (PacGAN)."""
    if data.kind == "image":
        generator, critic = dcgan.build_networks(data.shape, latent_dim, width)
        if pack > 1:
            critic = dcgan.DCGANDiscriminator(data.shape[0] * pack, data.shape[-1], width or 64)
        return generator, critic
    generator, _ = gan.build_networks(data.shape, latent_dim, width)
    return generator, MLPCritic(math.prod(data.shape) * pack, width or 128)


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every linear and convolutional layer of ``module`` (W / sigma(W), sigma by one
    power iteration per forward pass in training mode, Miyato et al. 2018). In place; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm(child))
        else:
            with_spectral_norm(child)
    return module


def refuse_unused_options(cfg: TrainConfig, model: str, objective: bool = True, regularisers: bool = True) -> None:
    """A model that defines its own loss (``objective=True``) or has no D to regularise (``regularisers=True``)
    refuses those options rather than ignoring them silently; the default objective passes. The remedy
    options (label smoothing ... G EMA) belong to plain adversarial models: every caller refuses them."""
    refuse_remedies(cfg, model)
    if objective and cfg.objective != "nonsaturating":
        raise UserError(f"model {model}: objective {cfg.objective} is invalid: this model defines its own loss "
                        "(leave --objective at nonsaturating)")
    if regularisers and cfg.penalty not in (None, "none"):
        raise UserError(f"model {model}: penalty {cfg.penalty} is invalid: this model takes no discriminator penalty")
    if regularisers and cfg.clip is not None:
        raise UserError(f"model {model}: clip {cfg.clip} is invalid: this model takes no weight clipping")


def require_normal_prior(cfg: TrainConfig, model: str, why: str) -> None:
    """Models whose loss assumes z ~ N(0, I) (a KL term, or codes matched to it) refuse ``--prior uniform``."""
    if cfg.prior != "normal":
        raise UserError(f"model {model}: prior {cfg.prior} is invalid: expected normal ({why})")


def refuse_prior(cfg: TrainConfig, model: str, inputs: str) -> None:
    """Models that draw no noise (their generator's input is ``inputs``) refuse a ``--prior`` other than the
    default rather than ignoring it."""
    if cfg.prior != "normal":
        raise UserError(f"model {model}: prior {cfg.prior} is invalid: it draws no noise, its input is {inputs} "
                        "(leave --prior unset)")
    usual = TrainConfig.__dataclass_fields__["latent_dim"].default
    if cfg.latent_dim != usual:
        raise UserError(f"model {model}: latent_dim {cfg.latent_dim} is invalid: it draws no noise, its input is "
                        f"{inputs} (leave --latent-dim unset)")


def require_objective(cfg: TrainConfig, model: str, objective: str) -> None:
    if cfg.objective != objective:
        raise UserError(f"model {model}: objective {cfg.objective} is invalid: expected {objective} "
                        f"(the model's default; or train from configs/{model}.yaml)")


def build_wgan(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    require_objective(cfg, "wgan", "wasserstein")
    clip = cfg.clip if cfg.clip is not None else WGAN_DEFAULT_CLIP
    return AdversarialGAN(cfg, data, *build_base_networks(data, cfg.latent_dim, cfg.width, cfg.pack),
                          penalty=resolved_penalty(cfg), clip=clip)


def build_wgan_gp(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    require_objective(cfg, "wgan-gp", "wasserstein")
    penalty = resolved_penalty(cfg, "gp")
    if penalty == "none":
        raise UserError("model wgan-gp: penalty none is invalid: expected gp or r1 (the critic needs a "
                        "Lipschitz regulariser; for weight clipping use --model wgan)")
    return AdversarialGAN(cfg, data, *build_base_networks(data, cfg.latent_dim, cfg.width, cfg.pack),
                          penalty=penalty, clip=cfg.clip)


def build_lsgan(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    require_objective(cfg, "lsgan", "least-squares")
    return AdversarialGAN(cfg, data, *build_base_networks(data, cfg.latent_dim, cfg.width, cfg.pack),
                          penalty=resolved_penalty(cfg), clip=cfg.clip)


def build_sngan(cfg: TrainConfig, data: DataInfo) -> AdversarialGAN:
    generator, discriminator = build_base_networks(data, cfg.latent_dim, cfg.width, cfg.pack)
    discriminator = with_spectral_norm(without_batch_norm(discriminator))
    return AdversarialGAN(cfg, data, generator, discriminator, penalty=resolved_penalty(cfg), clip=cfg.clip)


register_model(ModelSpec("wgan", "Arjovsky et al. 2017: Wasserstein critic, weights clipped to 0.01, RMSProp, "
                                 "5 critic steps (configs/wgan.yaml)", build_wgan, ("image", "points"),
                         defaults=dict(objective="wasserstein", optimizer="rmsprop", lr=5e-5, k_disc=5, clip=0.01)))
register_model(ModelSpec("wgan-gp", "Gulrajani et al. 2017: Wasserstein critic with gradient penalty 10, no batch "
                                    "norm, Adam 1e-4 (0, 0.9), 5 critic steps (configs/wgan-gp.yaml)",
                         build_wgan_gp, ("image", "points", "table"),
                         defaults=dict(objective="wasserstein", penalty="gp", gp_weight=10.0, optimizer="adam",
                                       lr=1e-4, beta1=0.0, beta2=0.9, k_disc=5)))
register_model(ModelSpec("lsgan", "Mao et al. 2017: least-squares GAN, DCGAN networks (configs/lsgan.yaml)",
                         build_lsgan, ("image", "points"),
                         defaults=dict(objective="least-squares")))
register_model(ModelSpec("sngan", "Miyato et al. 2018: spectrally normalised D without batch norm, hinge loss "
                                  "by default, any objective (configs/sngan.yaml)",
                         build_sngan, ("image", "points"),
                         defaults=dict(objective="hinge", optimizer="adam", lr=2e-4, beta1=0.0, beta2=0.9)))
