"""GMAN (Durugkar et al. 2017, "Generative Multi-Adversarial Networks"): one generator, N discriminators.

Each discriminator D_i is trained on its own, with the usual loss, on the same real and fake minibatches; they
differ by their random initial weights. The generator descends a soft maximum of its N losses L_i (the G loss
of ``--objective`` against D_i):

    F_lambda(L) = sum_i w_i L_i,  w = softmax(lambda * L)

At lambda = 0 this is the mean (every D a forgiving teacher); as lambda grows it tends to max_i L_i (the
harshest critic, the formidable adversary). GMAN* (``--gman-learn-lambda on``) lets G learn lambda >= 0 too,
descending F_lambda - 0.001 lambda: F grows with lambda (dF/dlambda is the w-weighted variance of the L_i), so
without the small reward G would make its task easier by driving lambda to 0.

Networks: the family's (DCGAN for images, the MLP critic for points), one D per ``--n-disc``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from .base import AdversarialGAN, Batch, DataInfo, ModelSpec, Phase, refuse_remedies, register_model, resolved_penalty
from .wgan import build_base_networks

#: GMAN*'s reward on lambda: G descends F_lambda - GMAN_LAMBDA_REWARD * lambda.
GMAN_LAMBDA_REWARD = 0.001


def gman_generator_loss(losses: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """``sum_i softmax(lam * losses)_i * losses_i`` over the N per-discriminator losses ``(N,)``: the mean at
    ``lam`` = 0, tending to the max as ``lam`` grows (and to the min as it falls)."""
    weights = torch.softmax(lam * losses, dim=0)
    return (weights * losses).sum()


class MultiDiscriminator(nn.Module):
    """N discriminators side by side: ``each(x) -> logits (N, m)``; ``forward(x) -> (m,)``, their mean logit
    (what a single-D consumer, such as ``ganforge gam``, sees)."""

    def __init__(self, discriminators: list[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def each(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([d(x) for d in self.discriminators])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.each(x).mean(0)


class GMAN(AdversarialGAN):
    """``n_disc`` discriminators, each trained with the objective's D loss (plus its own penalty); G on
    :func:`gman_generator_loss` of its losses against each, with ``gman_lambda`` fixed or learned (GMAN*)."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        # every D is a plain network: the remedies that rebuild D or read its features do not apply
        refuse_remedies(cfg, "gman", ("unroll", "pack", "minibatch_features", "feature_matching"))
        generator, first = build_base_networks(data, cfg.latent_dim, cfg.width)
        others = [build_base_networks(data, cfg.latent_dim, cfg.width)[1] for _ in range(cfg.n_disc - 1)]
        super().__init__(cfg, data, generator, MultiDiscriminator([first, *others]),
                         penalty=resolved_penalty(cfg), clip=cfg.clip)
        self.learn_lambda = cfg.gman_learn_lambda == "on"
        self.gman_lambda = nn.Parameter(torch.tensor(float(cfg.gman_lambda)), requires_grad=self.learn_lambda)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generate(batch.latent)
        x_real, x_fake = self.d_input(batch.x_real), self.d_input(x_fake)
        total, per_d, logits_real_all = 0.0, [], []
        for d in self.discriminator.discriminators:  # independent parameters: the sum's gradient is each D's own
            logits_real, logits_fake = d(x_real), d(x_fake)
            loss, logs = self.regularised_d_loss(x_real, x_fake, logits_real, logits_fake, discriminator=d)
            total, per_d = total + loss, [*per_d, logs]
            logits_real_all.append(logits_real)
        logs = {k: torch.stack([lg[k] for lg in per_d]).mean() for k in per_d[0]}  # means over the N Ds
        return total, {**logs, **self.augment_logs(torch.stack(logits_real_all).mean(0))}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.discriminator.each(self.d_input(self.generate(batch.latent)))  # (N, m)
        losses = torch.stack([self.objective.g_loss(lg) for lg in logits])  # (N,)
        loss = gman_generator_loss(losses, self.gman_lambda)
        logs = {"G/loss_mean": losses.mean().detach(), "G/loss_max": losses.max().detach()}
        if self.learn_lambda:
            loss = loss - GMAN_LAMBDA_REWARD * self.gman_lambda
            logs["G/gman_lambda"] = self.gman_lambda.detach()
        return loss, logs

    def after_g_step(self) -> None:
        super().after_g_step()
        with torch.no_grad():
            self.gman_lambda.clamp_(min=0.0)  # lambda >= 0: projected after each step

    def phases(self) -> list[Phase]:
        phases = super().phases()
        if self.learn_lambda:
            g = phases[-1]
            g.params = [*g.params, self.gman_lambda]
            g.after_step = self.after_g_step
        return phases


def build(cfg: TrainConfig, data: DataInfo) -> GMAN:
    return GMAN(cfg, data)


register_model(ModelSpec("gman", "Durugkar et al. 2017: N discriminators, G on their softmax-weighted losses "
                         "(GMAN-lambda; GMAN* learns lambda)", build, ("image", "points"), defaults={"n_disc": 2}))
