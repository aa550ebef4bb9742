"""What every model in ganforge is: networks plus the phases of its alternating optimisation.

A model never calls ``backward()`` and never owns an optimizer. It lists :class:`Phase` objects; the shared
loop (``ganforge.train``) runs each phase ``repeats`` times per iteration on a fresh real minibatch and fresh
latents, with only the phase's own parameters trainable, and steps that phase's optimizer. Vanilla GAN
training (Algorithm 1 of Goodfellow et al. 2014) is ``[Phase("D", d_loss, repeats=k), Phase("G", g_loss)]``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from .. import remedies
from ..augment import AdaptiveAugment, augment
from ..config import TrainConfig
from ..distributed import world_size
from ..errors import UserError
from ..noise import sample_noise
from ..objectives import OBJECTIVES, PROBABILISTIC_OBJECTIVES, discriminator_loss_smoothed
from ..penalties import PENALTIES, clip_weights_
from ..registry import Registry


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know of its data: ``kind`` ("image", "points" or "table"), one example's
    ``shape`` (``(C, H, W)`` or ``(D,)``) and the number of classes (None when unlabelled). A table also
    carries its column transformer, a plain dict (``ganforge.data.table``), saved in every checkpoint."""

    kind: str
    shape: tuple[int, ...]
    num_classes: int | None = None
    table: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "shape": list(self.shape), "num_classes": self.num_classes}
        return {**d, "table": self.table} if self.table is not None else d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataInfo:
        return cls(d["kind"], tuple(d["shape"]), d.get("num_classes"), d.get("table"))


@dataclass
class Batch:
    """One phase step's inputs: a real minibatch ``x_real (m, *shape)`` in the model range with labels
    ``y_real (m,)`` (either may be None), fresh latents from :meth:`GANModel.sample_latent`, and what the
    dataset conditions ``x_real`` on (``condition``: SR pairs' low-resolution inputs ``(m, C, H/s, W/s)`` in
    [-1, 1]; None for plain datasets and phases without a real minibatch)."""

    x_real: torch.Tensor | None
    y_real: torch.Tensor | None
    latent: Any
    condition: Any = None


LossFn = Callable[[Batch], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Phase:
    """One alternating step: minimise ``loss(batch)`` over ``params``, ``repeats`` times per iteration.

    ``name`` keys the phase's optimizer (and its log entries); ``after_step`` runs after each update
    (e.g. WGAN's weight clipping); ``needs_real`` says whether the phase consumes a real minibatch; ``lr``
    replaces the config's learning rate for this phase's optimizer (TTUR's separate D and G rates).
    """

    name: str
    loss: LossFn
    params: list[nn.Parameter]
    repeats: int = 1
    needs_real: bool = True
    after_step: Callable[[], None] | None = None
    lr: float | None = None


class GANModel(nn.Module):
    """Base class: a generator, optionally a discriminator, and the phases that train them.

    Subclasses set ``self.generator`` (and ``self.discriminator``) and implement :meth:`phases`;
    they may override :meth:`sample_latent` and :meth:`generate` when G takes more than ``z``.
    """

    generator: nn.Module
    discriminator: nn.Module | None  # None for models without one (e.g. a VAE)
    #: What G reads when it draws no noise (``sample_latent`` returns kept inputs), in words with its shape and
    #: range; None for the models whose latents come from ``--prior`` with ``--latent-dim`` numbers.
    noiseless_input: str | None = None

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__()
        self.cfg, self.data = cfg, data

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @classmethod
    def refuse_for_new_run(cls, cfg: TrainConfig) -> None:
        """Refuse (a UserError) options a new run of this model would ignore. Called when training starts, not
        by ``__init__``: a run saved before such a check existed must still load, sample and resume."""

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> Any:
        """Latents for ``n`` samples, drawn from ``rng`` on the CPU then moved: here ``z (n, latent_dim)``."""
        return sample_noise(n, self.cfg.latent_dim, self.cfg.prior, rng, self.device,
                            self.cfg.prior_components, self.cfg.prior_std)

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator samples come from: G's weight average (``generator_ema``) when the model keeps one
        and is in eval mode (sampling, evaluation, reports), else G itself (training)."""
        ema = getattr(self, "generator_ema", None)
        return ema if ema is not None and not self.training else self.generator

    def generate(self, latent: Any) -> torch.Tensor:
        """Samples ``(n, *shape)`` in the model range ([-1, 1] for images) from latents."""
        return self.sampling_generator(latent)

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        """Called once by the loop before training, with the whole training split (``x (N, *shape)`` as stored:
        uint8 images or float points, on the model's device; labels ``y (N,)`` or None) and a generator seeded
        from ``--seed``. A model that keeps a fixed part of the data (sgan's labelled subset) draws it here into
        buffers, which checkpoints save and resuming restores. Default: nothing."""

    def on_step(self, step: int, total_steps: int) -> None:
        """Called by the loop before each iteration (``step`` from 0) with the run's length: models with a
        schedule (annealed instance noise; progressive growing) derive their state from it here. The state
        must be a function of ``step``, so that resumed runs continue bit-identically."""

    def resets_optimizers(self, step: int) -> bool:
        """Whether the loop clears every optimizer's state (Adam's moments and step count) before iteration
        ``step``: for networks that change during training (progan: when a new block starts to fade in and
        when its fade-in ends). A function of ``step``, like :meth:`on_step`. Default: never."""
        return False

    def discriminator_logits(self, x: torch.Tensor) -> torch.Tensor:
        """D's verdict on ``x (N, *shape)`` in the model range: logits ``(N,)``, > 0 meaning "real", for commands
        that judge with a trained D (``ganforge gam``). Models without a D of x alone refuse."""
        raise UserError(f"model {self.cfg.model}: has no discriminator of x alone to judge with: expected a GAN "
                        "whose D maps an example alone to one output (such as gan, dcgan, lsgan, sngan, gman, "
                        "stylegan2; not a D that also reads a label, nor a model without a D)")

    # ----------------------------------------------------------------- G's weight average (--g-ema), every model
    def keep_generator_ema(self) -> None:
        """``--g-ema HALF_LIFE``: keep ``generator_ema``, a frozen copy of ``generator`` that
        :meth:`after_iteration` averages G's weights into and that eval mode samples from. ``build_model`` calls
        this for every model once its networks exist; a model that made its own copy keeps it."""
        if self.cfg.g_ema and getattr(self, "generator_ema", None) is None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)

    def fit_ema_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A checkpoint's model state made to fit this model's ``--g-ema``, which ``--resume`` may turn on or
        off (the average only shadows G: training is the same either way). Turned on, the average starts at
        the checkpoint's G (``generator_ema.*`` copied from ``generator.*``); turned off, the saved average
        is dropped; otherwise ``state`` as it is."""
        keeps = getattr(self, "generator_ema", None) is not None
        saved = any(k.startswith("generator_ema.") for k in state)
        if keeps and not saved:
            copies = {"generator_ema." + k.removeprefix("generator."): v.clone()
                      for k, v in state.items() if k.startswith("generator.")}
            return {**state, **copies}
        if saved and not keeps:
            return {k: v for k, v in state.items() if not k.startswith("generator_ema.")}
        return state

    def begin_training(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        """Called by the loop once before training: :meth:`on_train_data`, then the average restarts from G as
        data-dependent initialisation left it (a resumed run then loads the saved average over it)."""
        self.on_train_data(x, y, rng)
        ema = getattr(self, "generator_ema", None)
        if ema is not None:
            ema.load_state_dict(self.generator.state_dict())

    @property
    def global_batch(self) -> int:
        """Examples one phase update sees over all ranks: ``batch_size`` times the ranks under torchrun (the
        unit of every schedule counted in images: EMA half-lives, ProGAN's growth)."""
        return self.cfg.batch_size * world_size()

    def after_iteration(self) -> None:
        """Called by the loop after each iteration's phases: generator_ema <- beta generator_ema + (1 - beta) G,
        beta from the half-life in generated images (``remedies.ema_decay``)."""
        ema = getattr(self, "generator_ema", None)
        if ema is not None:
            remedies.update_ema_(ema, self.generator, remedies.ema_decay(self.cfg.g_ema, self.global_batch))


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


def discriminator_shape(cfg: TrainConfig, data: DataInfo) -> tuple[int, ...]:
    """The example shape D must be built for: ``data.shape``, or under ``--pack M`` (PacGAN) M examples
    concatenated along the first axis. Models that support packing build their D for this shape."""
    return remedies.packed_shape(data.shape, cfg.pack)


def refuse_remedies(cfg: TrainConfig, model: str, names: tuple[str, ...] | None = None) -> None:
    """A model refuses remedy options it cannot apply (``names``; all of them when None), in one line."""
    for name in cfg.remedies_in_use():
        if name == "g_ema":  # every model keeps a weight average of G (GANModel.keep_generator_ema)
            continue
        if names is None or name in names:
            refused = ("it takes no remedy but g_ema" if names is None else
                       f"it does not take {', '.join(names)}")
            raise UserError(f"model {model}: option {name}={getattr(cfg, name)!r} is invalid: {refused} (every "
                            "remedy applies to gan, dcgan, wgan, wgan-gp, lsgan and sngan; docs/models.md, Remedies)")


class AugmentedGAN(GANModel):
    """A GAN whose D sees every image, real and fake, in D's phase and in G's, through ``--augment``'s
    differentiable transformations (``ganforge.augment``) at the current probability p, and which logs ADA's
    overfitting heuristic. The one place augmentation lives: :class:`AdversarialGAN` and the models with their
    own D (``stylegan2``, ``progan``) build on it. A subclass passes what D would see through
    :meth:`augmented`, logs :meth:`augment_logs` of D's output on the (augmented) reals in its D loss, and runs
    :meth:`after_d_step_augment` after each D update (ADA's adjustment of p; ``ada`` is None otherwise).
    ADA's p, last r_t and running sums are buffers of ``ada``, so checkpoints save them and resuming restores p
    exactly."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        if cfg.augment != "none" and data.kind != "image":
            raise UserError(f"augment={cfg.augment} is invalid with {data.kind} data: expected image data "
                            "(it translates, cuts out and recolours images)")
        self.ada = (AdaptiveAugment(cfg.ada_target, cfg.ada_interval, cfg.ada_kimg, cfg.batch_size)
                    if cfg.augment == "ada" else None)

    @property
    def augment_p(self) -> float:
        """The probability with which each augmentation is applied now: ADA's current p, ``augment_p`` under
        ``diffaug``, 0 without augmentation."""
        if self.ada is not None:
            return float(self.ada.p)
        return self.cfg.augment_p if self.cfg.augment == "diffaug" else 0.0

    def augmented(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, C, H, W)`` in [-1, 1] through ``--augment``'s transformations at p (differentiable in ``x``,
        so G learns through them); ``x`` itself without ``--augment`` or at p = 0."""
        return augment(x, self.augment_p, self.augment_ops) if self.cfg.augment != "none" else x

    @property
    def augment_ops(self) -> str:
        """The transformations ``--augment`` applies: ``--augment-ops``, or under ``auto`` the method's own."""
        return self.cfg.augment if self.cfg.augment_ops == "auto" else self.cfg.augment_ops

    def augment_logs(self, logits_real: torch.Tensor) -> dict[str, torch.Tensor]:
        """``D/r_t`` = mean sign D(x_real), ADA's overfitting heuristic (logged for every run), and under
        ``--augment`` the probability ``augment/p``; ADA also counts the signs toward its next adjustment."""
        logs = {"D/r_t": torch.sign(logits_real.detach()).mean()}
        if self.ada is not None:
            self.ada.observe(logits_real)
        if self.cfg.augment != "none":
            logs["augment/p"] = torch.tensor(self.augment_p, device=logits_real.device)
        return logs

    def after_d_step_augment(self) -> None:
        """After each D update: ADA adjusts p every ``--ada-interval`` updates (nothing without ADA)."""
        if self.ada is not None:
            self.ada.step_()


class AdversarialGAN(AugmentedGAN):
    """The GAN of Goodfellow et al. (2014): D takes ``k_disc`` steps, then G one, on the chosen objective
    computed from D's logits (``minimax``/``nonsaturating`` by default; any registered objective), plus an
    optional input-gradient penalty on D (``penalty`` weighted by ``cfg.gp_weight``; D then loses its batch
    norm) and optional weight clipping after each D step (``clip``). Every adversarial model builds on it.

    The remedies of ``ganforge.remedies`` combine with all of this from the config: one-sided label smoothing,
    feature matching, minibatch discrimination, historical averaging, unrolled D, packing (D built by the
    model for :func:`discriminator_shape`), annealed instance noise, a learning rate per player (TTUR) and a
    weight average of G (``generator_ema``)."""

    def __init__(self, cfg: TrainConfig, data: DataInfo, generator: nn.Module, discriminator: nn.Module,
                 penalty: str = "none", clip: float | None = None):
        super().__init__(cfg, data)
        if penalty != "none":
            without_batch_norm(discriminator)
        if cfg.label_smoothing and cfg.objective not in PROBABILISTIC_OBJECTIVES:
            raise UserError(f"label_smoothing={cfg.label_smoothing} is invalid with objective {cfg.objective}: "
                            f"expected one of {', '.join(PROBABILISTIC_OBJECTIVES)} (it smooths a probability)")
        if cfg.minibatch_features:
            body, _, features = split_last_layer(discriminator.net, discriminator_shape(cfg, data))
            discriminator = remedies.MinibatchDiscriminator(body, features, cfg.minibatch_features,
                                                            twice_differentiable=penalty != "none" or cfg.unroll > 0)
        if cfg.pack > 1:
            discriminator = remedies.PackedDiscriminator(discriminator, cfg.pack)
        self.generator, self.discriminator = generator, discriminator
        self.objective = OBJECTIVES.get_or_fail(cfg.objective)
        self.penalty_name, self.clip = penalty, clip
        self.penalty = PENALTIES.get_or_fail(penalty) if penalty != "none" else None
        self.instance_noise = cfg.instance_noise  # current std; on_step anneals it
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False) if cfg.g_ema else None
        if cfg.historical_averaging:
            self.history_d = remedies.HistoricalAverage(list(self.discriminator.parameters()))
            self.history_g = remedies.HistoricalAverage(list(self.generator.parameters()))

    def on_step(self, step: int, total_steps: int) -> None:
        self.instance_noise = remedies.instance_noise_std(self.cfg.instance_noise, step, total_steps)

    def discriminator_logits(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits ``(N,)`` for ``x``; a packed D (``--pack M``) judges packs of M, so ``(N // M,)``."""
        pack = self.cfg.pack
        return self.discriminator(x[:len(x) - len(x) % pack]).flatten()

    def noisy(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus N(0, sigma^2) instance noise while sigma > 0 (annealed to 0 over the run)."""
        return x + self.instance_noise * torch.randn_like(x) if self.instance_noise > 0 else x

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        """D's view of real or fake ``x``: instance noise, then ``--augment``'s transformations (both
        differentiable in ``x``, so G learns through them)."""
        return self.augmented(self.noisy(x))

    def objective_d_loss(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
        """The objective's D loss; with ``label_smoothing`` a, real targets are 1 - a."""
        if self.cfg.label_smoothing:
            return discriminator_loss_smoothed(logits_real, logits_fake, self.cfg.label_smoothing)
        return self.objective.d_loss(logits_real, logits_fake)

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
        loss = self.objective_d_loss(logits_real, logits_fake)
        logs = self.discriminator_logs(logits_real, logits_fake)
        if self.penalty is not None:
            penalty = self.penalty(discriminator or self.discriminator, x_real, x_fake)
            loss = loss + self.cfg.gp_weight * penalty
            logs[f"D/{self.penalty_name}"] = penalty
        return loss, logs

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generate(batch.latent)  # (m, *shape); G's parameters are frozen: no graph through G
        x_real, x_fake = self.d_input(batch.x_real), self.d_input(x_fake)
        logits_real, logits_fake = self.discriminator(x_real), self.discriminator(x_fake)  # (m,), (m,) [/ pack]
        loss, logs = self.regularised_d_loss(x_real, x_fake, logits_real, logits_fake)
        return loss, {**logs, **self.augment_logs(logits_real)}

    def unrolled_discriminator(self, x_real: torch.Tensor, x_fake: torch.Tensor
                               ) -> Callable[[torch.Tensor], torch.Tensor]:
        """D after ``cfg.unroll`` look-ahead steps on this minibatch (Metz et al. 2017), as a function of x;
        differentiable in G through ``x_fake``; D's own parameters and buffers are left as they are."""
        buffers = {name: b.clone() for name, b in self.discriminator.named_buffers()}  # BN statistics: a copy

        def d_loss(params: dict[str, torch.Tensor]) -> torch.Tensor:
            def d(x: torch.Tensor) -> torch.Tensor:
                return functional_call(self.discriminator, {**params, **buffers}, (x,))
            return self.objective_d_loss(d(self.d_input(x_real)), d(self.d_input(x_fake)))

        params = remedies.unrolled_parameters(self.discriminator, d_loss, self.cfg.unroll, self.cfg.unroll_lr)
        return lambda x: functional_call(self.discriminator, {**params, **buffers}, (x,))

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generate(batch.latent)
        discriminator = (self.unrolled_discriminator(batch.x_real, x_fake) if self.cfg.unroll
                         else self.discriminator)
        x_seen = self.d_input(x_fake)
        loss, logs = self.objective.g_loss(discriminator(x_seen)), {}
        if self.cfg.feature_matching:
            matching = remedies.feature_matching_loss(
                remedies.discriminator_features(self.discriminator, self.d_input(batch.x_real)),
                remedies.discriminator_features(self.discriminator, x_seen))
            loss = loss + self.cfg.feature_matching * matching
            logs["G/feature_matching"] = matching
        return loss, logs

    def with_history(self, loss_fn: LossFn, history: remedies.HistoricalAverage, player: str) -> LossFn:
        """``loss_fn`` plus ``historical_averaging`` times ||theta - mean of past theta||^2 of one player."""
        def loss_with_history(batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            loss, logs = loss_fn(batch)
            penalty = history.penalty()
            return loss + self.cfg.historical_averaging * penalty, {**logs, f"{player}/historical_average": penalty}
        return loss_with_history

    def clip_discriminator(self) -> None:
        clip_weights_(self.discriminator, self.clip)

    def after_d_step(self) -> None:
        if self.clip is not None:
            self.clip_discriminator()
        if self.cfg.historical_averaging:
            self.history_d.update_()
        self.after_d_step_augment()

    def after_g_step(self) -> None:
        if self.cfg.historical_averaging:
            self.history_g.update_()

    def phases(self) -> list[Phase]:
        d_loss, g_loss = self.d_loss, self.g_loss
        if self.cfg.historical_averaging:
            d_loss = self.with_history(d_loss, self.history_d, "D")
            g_loss = self.with_history(g_loss, self.history_g, "G")
        d_after = (self.after_d_step if self.clip is not None or self.cfg.historical_averaging or self.ada is not None
                   else None)
        g_after = self.after_g_step if self.cfg.historical_averaging else None
        return [Phase("D", d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc,
                      after_step=d_after, lr=self.cfg.lr_d),
                Phase("G", g_loss, list(self.generator.parameters()),
                      needs_real=bool(self.cfg.unroll or self.cfg.feature_matching), after_step=g_after,
                      lr=self.cfg.lr_g)]


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
    #: what ``ganforge eval RUN`` measures by default for this model (None: the sample metrics)
    eval_metrics: str | None = None


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
