"""``wgan``, ``wgan-gp``, ``lsgan``, ``sngan``: the GANs that changed the objective or constrained D.

All four are the DCGAN networks (images) or the 2014 MLPs (toy points) trained by the shared loop; what
differs is D's loss, its regulariser and its normalisation, each a separate piece:

- ``wgan`` (Arjovsky, Chintala & Bottou 2017): objective ``wasserstein``, weights clipped to [-0.01, 0.01]
  after every critic step, RMSProp 5e-5, 5 critic steps per G step (configs/wgan.yaml).
- ``wgan-gp`` (Gulrajani et al. 2017): objective ``wasserstein`` plus the gradient penalty (lambda = 10) on a
  critic without batch norm; Adam 1e-4, betas (0, 0.9), 5 critic steps (configs/wgan-gp.yaml).
- ``lsgan`` (Mao et al. 2017): objective ``least-squares`` (a=0, b=c=1) (configs/lsgan.yaml).
- ``sngan`` (Miyato et al. 2018): spectral normalisation of every D layer, no batch norm in D; any objective,
  the paper's ``hinge`` in configs/sngan.yaml.

:class:`RegularisedGAN` is the combination any model can reuse: ``cfg.objective`` + ``cfg.penalty`` (weighted
by ``cfg.gp_weight``) + ``cfg.clip``. Input-gradient penalties need D(x_i) to depend on x_i alone, so a model
with a penalty gets its discriminator's batch norm layers removed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import TrainConfig
from ..errors import UserError
from ..objectives import PROBABILISTIC_OBJECTIVES
from ..penalties import PENALTIES, clip_weights_
from . import dcgan, gan
from .base import AdversarialGAN, Batch, DataInfo, ModelSpec, Phase, register_model

#: WGAN's clipping constant c when ``--clip`` is not given.
WGAN_DEFAULT_CLIP = 0.01


def build_base_networks(data: DataInfo, latent_dim: int, width: int | None) -> tuple[nn.Module, nn.Module]:
    """The project's reference networks for ``data``: DCGAN for images, the 2014 MLPs for toy points."""
    if data.kind == "image":
        return dcgan.build_networks(data.shape, latent_dim, width)
    return gan.build_networks(data.shape, latent_dim, width)


def without_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm`` layer inside ``module`` by the identity (in place; returns ``module``).

    A critic whose output for x_i depends on the rest of the batch has no per-example input gradient, which
    both the gradient penalty and spectral normalisation's Lipschitz argument assume."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            without_batch_norm(child)
    return module


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every linear and convolutional layer of ``module`` (W / sigma(W), sigma by one
    power iteration per forward pass in training mode, Miyato et al. 2018). In place; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm(child))
        else:
            with_spectral_norm(child)
    return module


class RegularisedGAN(AdversarialGAN):
    """:class:`AdversarialGAN` with any registered objective, an optional input-gradient penalty on D
    (``penalty`` weighted by ``gp_weight``) and optional weight clipping after each D step (``clip``)."""

    def __init__(self, cfg: TrainConfig, data: DataInfo, generator: nn.Module, discriminator: nn.Module,
                 penalty: str = "none", clip: float | None = None):
        if penalty != "none":
            without_batch_norm(discriminator)
        super().__init__(cfg, data, generator, discriminator)
        self.penalty_name, self.clip = penalty, clip
        self.penalty = PENALTIES.get_or_fail(penalty) if penalty != "none" else None

    def discriminator_logs(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """D(x) and D(G(z)) as probabilities for the log-loss objectives, raw scores for the others."""
        if self.cfg.objective in PROBABILISTIC_OBJECTIVES:
            return {"D/real": torch.sigmoid(logits_real).mean(), "D/fake": torch.sigmoid(logits_fake).mean()}
        return {"D/score_real": logits_real.mean(), "D/score_fake": logits_fake.mean()}

    def regularised_d_loss(self, x_real: torch.Tensor, x_fake: torch.Tensor,
                           logits_real: torch.Tensor, logits_fake: torch.Tensor,
                           discriminator: nn.Module | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective's D loss plus ``gp_weight`` times the penalty (computed on ``discriminator``,
        D itself unless a model conditions it, e.g. ``lambda x: D(x, y)``)."""
        loss = self.objective.d_loss(logits_real, logits_fake)
        logs = self.discriminator_logs(logits_real, logits_fake)
        if self.penalty is not None:
            penalty = self.penalty(discriminator or self.discriminator, x_real, x_fake)
            loss = loss + self.cfg.gp_weight * penalty
            logs[f"D/{self.penalty_name}"] = penalty
        return loss, logs

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generate(batch.latent)  # (m, *shape); G is frozen in this phase
        logits_real, logits_fake = self.discriminator(batch.x_real), self.discriminator(x_fake)  # (m,), (m,)
        return self.regularised_d_loss(batch.x_real, x_fake, logits_real, logits_fake)

    def clip_discriminator(self) -> None:
        clip_weights_(self.discriminator, self.clip)

    def phases(self) -> list[Phase]:
        d_phase, g_phase = super().phases()
        if self.clip is not None:
            d_phase.after_step = self.clip_discriminator
        return [d_phase, g_phase]


def resolved_penalty(cfg: TrainConfig, model_default: str = "none") -> str:
    """``cfg.penalty``, or the model's own regulariser when the config leaves it unset."""
    return cfg.penalty if cfg.penalty is not None else model_default


def refuse_unused_options(cfg: TrainConfig, model: str, objective: bool = True, regularisers: bool = True) -> None:
    """A model that defines its own loss (``objective=True``) or has no D to regularise (``regularisers=True``)
    refuses those options rather than ignoring them silently; the default objective passes."""
    if objective and cfg.objective != "nonsaturating":
        raise UserError(f"model {model}: objective {cfg.objective} is invalid: this model defines its own loss "
                        "(leave --objective at nonsaturating)")
    if regularisers and cfg.penalty not in (None, "none"):
        raise UserError(f"model {model}: penalty {cfg.penalty} is invalid: this model takes no discriminator penalty")
    if regularisers and cfg.clip is not None:
        raise UserError(f"model {model}: clip {cfg.clip} is invalid: this model takes no weight clipping")


def require_objective(cfg: TrainConfig, model: str, objective: str) -> None:
    if cfg.objective != objective:
        raise UserError(f"model {model}: objective {cfg.objective} is invalid: expected {objective} "
                        f"(the model's default; or train from configs/{model}.yaml)")


def build_wgan(cfg: TrainConfig, data: DataInfo) -> RegularisedGAN:
    require_objective(cfg, "wgan", "wasserstein")
    clip = cfg.clip if cfg.clip is not None else WGAN_DEFAULT_CLIP
    return RegularisedGAN(cfg, data, *build_base_networks(data, cfg.latent_dim, cfg.width),
                          penalty=resolved_penalty(cfg), clip=clip)


def build_wgan_gp(cfg: TrainConfig, data: DataInfo) -> RegularisedGAN:
    require_objective(cfg, "wgan-gp", "wasserstein")
    penalty = resolved_penalty(cfg, "gp")
    if penalty == "none":
        raise UserError("model wgan-gp: penalty none is invalid: expected gp or r1 (the critic needs a "
                        "Lipschitz regulariser; for weight clipping use --model wgan)")
    return RegularisedGAN(cfg, data, *build_base_networks(data, cfg.latent_dim, cfg.width),
                          penalty=penalty, clip=cfg.clip)


def build_lsgan(cfg: TrainConfig, data: DataInfo) -> RegularisedGAN:
    require_objective(cfg, "lsgan", "least-squares")
    return RegularisedGAN(cfg, data, *build_base_networks(data, cfg.latent_dim, cfg.width),
                          penalty=resolved_penalty(cfg), clip=cfg.clip)


def build_sngan(cfg: TrainConfig, data: DataInfo) -> RegularisedGAN:
    generator, discriminator = build_base_networks(data, cfg.latent_dim, cfg.width)
    discriminator = with_spectral_norm(without_batch_norm(discriminator))
    return RegularisedGAN(cfg, data, generator, discriminator, penalty=resolved_penalty(cfg), clip=cfg.clip)


register_model(ModelSpec("wgan", "Arjovsky et al. 2017: Wasserstein critic, weights clipped to 0.01, RMSProp, "
                                 "5 critic steps (configs/wgan.yaml)", build_wgan, ("image", "points"),
                         defaults=dict(objective="wasserstein", optimizer="rmsprop", lr=5e-5, k_disc=5, clip=0.01)))
register_model(ModelSpec("wgan-gp", "Gulrajani et al. 2017: Wasserstein critic with gradient penalty 10, no batch "
                                    "norm, Adam 1e-4 (0, 0.9), 5 critic steps (configs/wgan-gp.yaml)",
                         build_wgan_gp, ("image", "points"),
                         defaults=dict(objective="wasserstein", penalty="gp", gp_weight=10.0, optimizer="adam",
                                       lr=1e-4, beta1=0.0, beta2=0.9, k_disc=5)))
register_model(ModelSpec("lsgan", "Mao et al. 2017: least-squares GAN, DCGAN networks (configs/lsgan.yaml)",
                         build_lsgan, ("image", "points"),
                         defaults=dict(objective="least-squares")))
register_model(ModelSpec("sngan", "Miyato et al. 2018: spectrally normalised D without batch norm, hinge loss "
                                  "by default, any objective (configs/sngan.yaml)",
                         build_sngan, ("image", "points"),
                         defaults=dict(objective="hinge", optimizer="adam", lr=2e-4, beta1=0.0, beta2=0.9)))
