"""What every model in ganforge is: networks plus the phases of its alternating optimisation.

A model never calls ``backward()`` and never owns an optimizer. It lists :class:`Phase` objects; the shared
loop (``ganforge.train``) runs each phase ``repeats`` times per iteration on a fresh real minibatch and fresh
latents, with only the phase's own parameters trainable, and steps that phase's optimizer. Vanilla GAN
training (Algorithm 1 of Goodfellow et al. 2014) is ``[Phase("D", d_loss, repeats=k), Phase("G", g_loss)]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..noise import sample_noise
from ..objectives import OBJECTIVES, PROBABILISTIC_OBJECTIVES
from ..penalties import PENALTIES, clip_weights_
from ..registry import Registry


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know of its data: ``kind`` ("image" or "points"), one example's ``shape``
    (``(C, H, W)`` or ``(D,)``) and the number of classes (None when unlabelled)."""

    kind: str
    shape: tuple[int, ...]
    num_classes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": list(self.shape), "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataInfo:
        return cls(d["kind"], tuple(d["shape"]), d.get("num_classes"))


@dataclass
class Batch:
    """One phase step's inputs: a real minibatch ``x_real (m, *shape)`` in the model range with labels
    ``y_real (m,)`` (either may be None), and fresh latents from :meth:`GANModel.sample_latent`."""

    x_real: torch.Tensor | None
    y_real: torch.Tensor | None
    latent: Any


LossFn = Callable[[Batch], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Phase:
    """One alternating step: minimise ``loss(batch)`` over ``params``, ``repeats`` times per iteration.

    ``name`` keys the phase's optimizer (and its log entries); ``after_step`` runs after each update
    (e.g. WGAN's weight clipping); ``needs_real`` says whether the phase consumes a real minibatch.
    """

    name: str
    loss: LossFn
    params: list[nn.Parameter]
    repeats: int = 1
    needs_real: bool = True
    after_step: Callable[[], None] | None = None


class GANModel(nn.Module):
    """Base class: a generator, optionally a discriminator, and the phases that train them.

    Subclasses set ``self.generator`` (and ``self.discriminator``) and implement :meth:`phases`;
    they may override :meth:`sample_latent` and :meth:`generate` when G takes more than ``z``.
    """

    generator: nn.Module
    discriminator: nn.Module | None  # None for models without one (e.g. a VAE)

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__()
        self.cfg, self.data = cfg, data

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> Any:
        """Latents for ``n`` samples, drawn from ``rng`` on the CPU then moved: here ``z (n, latent_dim)``."""
        return sample_noise(n, self.cfg.latent_dim, self.cfg.prior, rng, self.device)

    def generate(self, latent: Any) -> torch.Tensor:
        """Samples ``(n, *shape)`` in the model range ([-1, 1] for images) from latents."""
        return self.generator(latent)

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def init_from_data(self, x_train: torch.Tensor) -> None:
        """Data-dependent initialisation, called once before a fresh run's first step (not on resume) with up to
        10,000 training examples as stored: uint8 ``(n, C, H, W)`` images or float ``(n, D)`` points. No-op here."""


def split_last_layer(net: nn.Sequential, example_shape: tuple[int, ...]) -> tuple[nn.Sequential, nn.Module, int]:
    """A discriminator's ``net`` as ``(body, last, F)``: its layers but the last, the last layer (the map to
    one logit), and the number of features ``F`` the body gives one example of ``example_shape``. Models that
    put their own heads on D's last features (a class head, a Q head, a class projection) start from this."""
    body, last = net[:-1], net[-1]
    was_training = body.training
    with torch.no_grad():  # eval: two zero images must not move batch-norm running statistics
        features = body.eval()(torch.zeros(2, *example_shape)).flatten(1).shape[1]
    body.train(was_training)
    return body, last, features


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


def resolved_penalty(cfg: TrainConfig, model_default: str = "none") -> str:
    """``cfg.penalty``, or the model's own regulariser when the config leaves it unset."""
    return cfg.penalty if cfg.penalty is not None else model_default


class AdversarialGAN(GANModel):
    """The GAN of Goodfellow et al. (2014): D takes ``k_disc`` steps, then G one, on the chosen objective
    computed from D's logits (``minimax``/``nonsaturating`` by default; any registered objective), plus an
    optional input-gradient penalty on D (``penalty`` weighted by ``cfg.gp_weight``; D then loses its batch
    norm) and optional weight clipping after each D step (``clip``). Every adversarial model builds on it."""

    def __init__(self, cfg: TrainConfig, data: DataInfo, generator: nn.Module, discriminator: nn.Module,
                 penalty: str = "none", clip: float | None = None):
        super().__init__(cfg, data)
        if penalty != "none":
            without_batch_norm(discriminator)
        self.generator, self.discriminator = generator, discriminator
        self.objective = OBJECTIVES.get_or_fail(cfg.objective)
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
        x_fake = self.generate(batch.latent)  # (m, *shape); G's parameters are frozen: no graph through G
        logits_real, logits_fake = self.discriminator(batch.x_real), self.discriminator(x_fake)  # (m,), (m,)
        return self.regularised_d_loss(batch.x_real, x_fake, logits_real, logits_fake)

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits_fake = self.discriminator(self.generate(batch.latent))
        return self.objective.g_loss(logits_fake), {}

    def clip_discriminator(self) -> None:
        clip_weights_(self.discriminator, self.clip)

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc,
                      after_step=self.clip_discriminator if self.clip is not None else None),
                Phase("G", self.g_loss, list(self.generator.parameters()), needs_real=False)]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: ``build(cfg, data) -> GANModel``; ``data_kinds`` lists what it can model.

    ``defaults`` are the model's recipe (e.g. WGAN's objective, optimizer and critic steps): they replace
    TrainConfig's defaults for this model, and anything the user sets (YAML or flags) replaces them.
    """

    name: str
    description: str
    build: Callable[[TrainConfig, DataInfo], GANModel]
    data_kinds: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.name)(spec)


def config_for(**values: Any) -> TrainConfig:
    """A validated TrainConfig for ``values["model"]`` (default dcgan): the dataclass defaults, then the
    model's recipe defaults, then ``values``. The CLI resolves configs the same way."""
    spec = MODELS.get_or_fail(values.get("model", TrainConfig.model))
    return TrainConfig.from_dict({**spec.defaults, **values}, source="options").validate()


def init_normal_002(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
