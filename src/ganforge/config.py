"""Training configuration: one typed dataclass, validated once at the edge (CLI or YAML).

Precedence when a run starts: dataclass defaults < ``--config FILE.yaml`` < flags given on the command
line. The resolved config is written to ``RUN_DIR/config.yaml`` and stored inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

OBJECTIVES = ("nonsaturating", "minimax", "wasserstein", "hinge", "least-squares")
#: Discriminator regularisers added to its loss (``ganforge.penalties``); "none" adds nothing.
PENALTIES = ("none", "gp", "r1")
#: The four autoencoders compared in the lectures (``ganforge.models.ae``).
AE_KINDS = ("mlp", "deep", "conv", "denoise")
#: How ``cgan``'s D uses the label: one-hot planes on its input (Mirza & Osindero 2014), an inner product of a
#: class embedding with its last hidden features (projection discriminator, Miyato & Koyama 2018), or not at
#: all but through a class head trained on real and fake images (AC-GAN, Odena et al. 2017).
CONDITIONINGS = ("concat", "projection", "auxiliary")
SGAN_NETWORKS = ("dcgan", "mlp", "conv")
#: ``gan`` as ganforge builds it (tanh pixels, torch's initialisation, Algorithm 1's alternating steps), or as
#: its authors' pylearn2 code did: sigmoid pixels in [0, 1], uniform initial weights, G's output bias from the
#: data's pixel means, D's loss halved, and G and D updated simultaneously from one minibatch.
GAN_RECIPES = ("default", "2014-code", "pacgan")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
PRIORS = ("normal", "uniform", "mixture")
DEVICES = ("auto", "cpu", "cuda")
#: Speed options (issue 6): bf16 autocast, torch.compile, channels_last memory, sync batch norm under DDP.
AMP_MODES = ("off", "bf16")
ON_OFF = ("on", "off")
#: What may change when a run is resumed; anything else would make a different run. The one list: --help,
#: the error message and the README (checked by a test) are made from it.
RESUMABLE = ("steps", "epochs", "sample_every", "checkpoint_every", "keep_every", "device", "data_dir",
             "max_image_pixels", "eval_every", "eval_metrics", "eval_n", "compile", "amp", "channels_last",
             "early_stop", "time_budget", "log", "g_ema")
#: Options that only shape another option's feature: name -> (that option, whether its value uses them, the value
#: in words); a new run refuses them otherwise rather than ignoring them (``refuse_ignored_options``).
OPTION_NEEDS = {
    "augment_p": ("augment", lambda v: v == "diffaug", "diffaug"),
    "augment_ops": ("augment", lambda v: v != "none", "diffaug or ada"),
    "ada_target": ("augment", lambda v: v == "ada", "ada"),
    "ada_interval": ("augment", lambda v: v == "ada", "ada"),
    "ada_kimg": ("augment", lambda v: v == "ada", "ada"),
    "pair_blur": ("pairs", lambda v: v is not None, "SPEC"),
    "pair_noise": ("pairs", lambda v: v is not None, "SPEC"),
    "pair_augment": ("pairs", lambda v: v is not None, "SPEC"),
}
#: Bounds of values whose larger settings are nonsense rather than slow: a seed (32 bits, as numpy's legacy seeds;
#: the sampler's per-epoch seeds are derived from it and must stay within 64 bits), D updates per G update
#: (WGAN's critic takes 5, 100 in its first steps).
MAX_SEED = 2**32 - 1
MAX_K_DISC = 1000
CHANNELS_LAST_MODES = ("auto", "on", "off")
#: Where the loop logs besides metrics.jsonl (always written): nothing else, or TensorBoard event files.
LOG_MODES = ("jsonl", "tensorboard")
#: D's input augmentation (issue 11, ``ganforge.augment``): none, DiffAugment at a fixed p, or ADA's adaptive p.
AUGMENTS = ("none", "diffaug", "ada")
#: ``--augment-ops``: the transformations: DiffAugment's, ADA's, or (auto) each method's own.
AUGMENT_OPS = ("auto", "diffaug", "ada")
#: ``--pairs``: super-resolution pairs, bicubic x2 or x4 (``ganforge.data.pairs``).
PAIR_KINDS = ("sr2", "sr4")
#: ``--sequences``: moving-sprite clips for next-frame prediction (``ganforge.data.sequences``).
SEQUENCE_KINDS = ("moving2", "action")

#: ``--keep-best``: the metrics it can watch (each gives one number under its own name), and whether lower is
#: better (FID, KID) or higher (IS, Parzen, accuracies, table shape, trend and efficacy scores).
KEEP_BEST_LOWER_IS_BETTER = {"fid": True, "kid": True, "is": False, "parzen": False, "accuracy": False,
                             "val_accuracy": False, "cas": False, "shape": False, "trends": False,
                             "efficacy": False}

#: Default learning rates: DCGAN's Adam (Radford et al. 2016), the 2014 paper's SGD with momentum,
#: WGAN's RMSProp (Arjovsky et al. 2017).
DEFAULT_LR = {"adam": 2e-4, "sgd": 0.1, "rmsprop": 5e-5}
#: Length of a run when neither ``steps`` nor ``epochs`` is given.
DEFAULT_STEPS = 2000


#: Options only some optimizers read (``train.build_optimizer`` and the momentum schedule): another value than
#: the default (the model recipe's, if it sets one) with another optimizer is refused for a new run.
OPTIMIZER_OPTIONS: dict[str, tuple[str, ...]] = {
    "beta1": ("adam",), "beta2": ("adam",), "momentum": ("sgd",), "momentum_final": ("sgd",),
    "momentum_ramp_epochs": ("sgd",)}

#: Options only some models read: given another value than the default for any other model, the option is
#: refused (one line) rather than ignored. ``tests/test_models_family.py`` checks that no other model's module
#: reads them.
MODEL_OPTIONS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("labels", "dropout", "sgan_network"), ("sgan",)),
    **dict.fromkeys(("info_categories", "info_continuous", "info_weight"), ("infogan",)),
    **dict.fromkeys(("ae_kind", "noise_std"), ("ae",)),
    "margin": ("ebgan",),
    "conditioning": ("cgan",),
    "gan_recipe": ("gan",),
    **dict.fromkeys(("sr_blocks", "init_from", "sr_skip", "sr_norm", "sr_upsample_init"), ("srresnet", "srgan")),
    "content_features": ("srgan",),
    "adversarial_weight": ("srgan", "nextframe"),
    **dict.fromkeys(("progan_phase_images", "progan_fade_images"), ("progan",)),
    **dict.fromkeys(("style_mapping_layers", "style_mixing", "r1_every", "pl_weight", "pl_every"), ("stylegan2",)),
    **dict.fromkeys(("ganomaly_w_adv", "ganomaly_w_con", "ganomaly_w_enc"), ("ganomaly",)),
    **dict.fromkeys(("context_frames", "canvas", "frame_scales", "l2_weight", "gdl_weight"), ("nextframe",)),
}


@dataclass
class TrainConfig:
    """Everything that defines a training run. Field docs double as ``--help`` text."""

    model: str = "dcgan"
    data: str = "digits"
    data_dir: str | None = None
    image_size: int | None = None
    max_image_pixels: int | None = None
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 64
    k_disc: int = 1
    objective: str = "nonsaturating"
    optimizer: str = "adam"
    lr: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0  # L2 added to the gradients (Adam's weight_decay, as the ctgan package uses it)
    momentum: float = 0.5
    # schedules of the 2014 code (pylearn2's ExponentialDecay and MomentumAdjustor)
    lr_decay: float = 1.0
    min_lr: float = 0.0
    momentum_final: float | None = None
    momentum_ramp_epochs: float = 250.0
    latent_dim: int = 100
    prior: str = "normal"
    prior_components: int = 50
    prior_std: float = 0.25
    width: int | None = None
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_every: int = 0
    device: str = "auto"
    eval_every: int = 0
    eval_metrics: str = "fid,kid"
    eval_n: int = 2000
    # the GAN family (issue 4): regularisers, semi-supervised labels, InfoGAN codes, autoencoders
    penalty: str | None = None
    gp_weight: float = 10.0
    clip: float | None = None
    labels: int | None = None
    dropout: float = 0.0
    sgan_network: str = "dcgan"
    d_ema: float = 0.0
    info_categories: int = 10
    info_continuous: int = 2
    info_weight: float = 1.0
    ae_kind: str = "conv"
    noise_std: float = 0.5
    margin: float = 1.0
    conditioning: str = "concat"
    gan_recipe: str = "default"
    # speed and scale (issue 6)
    amp: str = "off"
    compile: str = "off"
    channels_last: str = "auto"
    sync_bn: str = "off"
    # remedies for collapse and instability (issue 15), applied by AdversarialGAN to every adversarial model
    label_smoothing: float = 0.0
    feature_matching: float = 0.0
    minibatch_features: int = 0
    historical_averaging: float = 0.0
    unroll: int = 0
    unroll_lr: float = 0.05
    pack: int = 1
    instance_noise: float = 0.0
    lr_d: float | None = None
    lr_g: float | None = None
    g_ema: float = 0.0
    # stopping rule (issue 15): keep checkpoints/best.pt by an --eval-every metric, stop when it stalls
    keep_best: str | None = None
    early_stop: int = 0
    # working with other tools (issue 17)
    time_budget: str | None = None
    log: str = "jsonl"
    # milestones after DCGAN (issue 11): D's input augmentation, a fixed training subset, GMAN
    augment: str = "none"
    augment_p: float = 0.3
    augment_ops: str = "auto"
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 100.0
    subset: int = 0
    subset_seed: int = 0
    n_disc: int = 1
    gman_lambda: float = 0.0
    gman_learn_lambda: str = "off"
    # super-resolution (issue 14): low/high-resolution pairs from any image dataset, srresnet and srgan
    pairs: str | None = None
    pair_blur: float = 0.0
    pair_noise: float = 0.0
    sr_blocks: int = 16
    init_from: str | None = None
    content_features: str | None = None
    adversarial_weight: float = 1e-3
    sr_skip: str = "none"
    # tables (issue 13): column kinds a csv:PATH table overrides (comma-separated names)
    discrete_columns: str | None = None
    continuous_columns: str | None = None
    # progressive growing and StyleGAN2 (issue 11): progan's schedule; stylegan2's mapping, mixing, lazy regularisers
    progan_phase_images: int = 800_000
    progan_fade_images: int = 800_000
    style_mapping_layers: int = 8
    style_mixing: float = 0.9
    r1_every: int = 16
    pl_weight: float = 0.0
    pl_every: int = 4
    # anomaly detection (issue 12): GANomaly's loss weights (adversarial, contextual, encoder)
    ganomaly_w_adv: float = 1.0
    ganomaly_w_con: float = 50.0
    ganomaly_w_enc: float = 1.0
    # next-frame prediction (issue 14): moving-sprite sequences from any image dataset, nextframe
    sequences: str | None = None
    context_frames: int = 4
    canvas: int = 64
    frame_scales: int = 3
    l2_weight: float = 1.0
    gdl_weight: float = 1.0
    # super-resolution training as SR codes train (issue 14, photos): pair augmentation, norm, ICNR
    pair_augment: str = "none"
    sr_norm: str = "batch"
    sr_upsample_init: str = "default"
    # ctgan's speed (issue 13): Adam as one fused kernel on the CPU too, a lazy gradient penalty
    adam_fused: str = "auto"
    gp_every: int = 1

    def refuse_ignored_options(self) -> TrainConfig:
        """A new run's request must not carry an option its model or prior would ignore (``MODEL_OPTIONS``; the
        mixture prior's shape). Checked when a run starts, not in :meth:`validate`: runs saved before these
        checks existed may hold such values, and must still load and resume."""
        def default(name: str) -> Any:
            return TrainConfig.__dataclass_fields__[name].default

        for name in ("prior_components", "prior_std"):  # the mixture's own: not silently ignored by another prior
            if self.prior != "mixture" and getattr(self, name) != default(name):
                raise UserError(f"config value {name}={getattr(self, name)!r} is invalid: expected its default "
                                f"with prior {self.prior} (it shapes --prior mixture only)")
        if self.keep_best is not None and self.keep_best not in KEEP_BEST_LOWER_IS_BETTER:  # new runs only: a
            # run saved with another keep_best still resumes (and fails at its evaluation as it always did)
            raise UserError(f"config value keep_best={self.keep_best!r} is invalid: expected one of "
                            f"{', '.join(KEEP_BEST_LOWER_IS_BETTER)} (a metric that gives one number whose better "
                            "direction is known)")
        def need(ok: bool, name: str, expected: str) -> None:
            if not ok:
                raise UserError(f"config value {name}={getattr(self, name)!r} is invalid: expected {expected}")

        # bounds past which a value is a slip, not a request (new runs only, as everything here)
        need(self.k_disc <= MAX_K_DISC, "k_disc", f"an integer in [1, {MAX_K_DISC}] (D updates per G update)")
        for name in ("seed", "subset_seed"):
            need(0 <= getattr(self, name) <= MAX_SEED, name, f"an integer in [0, {MAX_SEED}]")
        if self.min_lr > 0:  # a floor for the decay: it must not raise the lr nor be ignored without one
            need(self.lr_decay > 1, "min_lr", "0 without --lr-decay (it floors a decaying lr)")
            used = [self.lr_d, self.lr_g] if None not in (self.lr_d, self.lr_g) else [
                self.resolved_lr, *(lr for lr in (self.lr_d, self.lr_g) if lr is not None)]
            need(self.min_lr <= min(used), "min_lr", f"at most the learning rate it floors ({min(used):g})")
        for name, (switch, needs, said) in OPTION_NEEDS.items():  # options that shape another option's feature
            if getattr(self, name) == default(name) or needs(getattr(self, switch)):
                continue
            if getattr(self, switch) == default(switch):  # a sweep's baseline arm (--augment {none,ada} --ada-kimg
                print(f"ganforge: note: --{name.replace('_', '-')} shapes --{switch.replace('_', '-')} {said} "
                      f"only: ignored without it", file=sys.stderr)  # 50): said, not refused
                continue
            raise UserError(f"config value {name}={getattr(self, name)!r} is invalid: expected its default "
                            f"({default(name)}) with {switch}={getattr(self, switch)!r} (it shapes "
                            f"--{switch.replace('_', '-')} {said} only)")
        for name, models in MODEL_OPTIONS.items():
            if self.model not in models and getattr(self, name) != default(name):
                raise UserError(f"config value {name}={getattr(self, name)!r} is invalid: expected its default "
                                f"({default(name)}) unless --model {' or '.join(models)} (no other model reads it)")
        from .models import MODELS  # the model's recipe may set them (e.g. tvae's beta1 0.9): not the user's

        recipe = MODELS.get_or_fail(self.model).defaults if self.model in MODELS else {}
        for name, optimizers in OPTIMIZER_OPTIONS.items():
            usual = recipe.get(name, default(name))
            if self.optimizer not in optimizers and getattr(self, name) != usual and not (
                    self.model == "sgan" and name in ("beta1", "beta2")):  # sgan's baseline is an Adam network
                raise UserError(f"config value {name}={getattr(self, name)!r} is invalid: expected its default "
                                f"({usual}) with --optimizer {self.optimizer} (only {' or '.join(optimizers)} "
                                "reads it)")
        return self

    def validate(self) -> TrainConfig:
        """Check every value once; raise :class:`UserError` naming the first bad one."""

        def need(ok: bool, name: str, expected: str) -> None:
            if not ok:
                raise UserError(f"config value {name}={getattr(self, name)!r} is invalid: expected {expected}")

        need(self.objective in OBJECTIVES, "objective", " or ".join(OBJECTIVES))
        need(self.optimizer in OPTIMIZERS, "optimizer", " or ".join(OPTIMIZERS))
        need(self.prior in PRIORS, "prior", " or ".join(PRIORS))
        need(isinstance(self.prior_components, int) and self.prior_components >= 1, "prior_components",
             "an integer >= 1")
        need(self.prior_std > 0 and math.isfinite(self.prior_std), "prior_std", "a number > 0")
        need(self.device in DEVICES, "device", " or ".join(DEVICES))
        for name in ("batch_size", "k_disc", "latent_dim", "sample_every", "checkpoint_every"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "an integer >= 1")
        need(isinstance(self.keep_every, int) and self.keep_every >= 0, "keep_every", "an integer >= 0")
        need(isinstance(self.eval_every, int) and self.eval_every >= 0, "eval_every", "an integer >= 0")
        need(isinstance(self.eval_n, int) and self.eval_n >= 2, "eval_n", "an integer >= 2")
        need(self.steps is None or (isinstance(self.steps, int) and self.steps >= 1), "steps", "an integer >= 1")
        need(self.epochs is None or (self.epochs > 0 and math.isfinite(self.epochs)), "epochs", "a number > 0")
        if self.steps is not None and self.epochs is not None:
            raise UserError("give either steps or epochs, not both")
        need(self.lr is None or (self.lr > 0 and math.isfinite(self.lr)), "lr", "a number > 0")
        need(0 <= self.beta1 < 1, "beta1", "a number in [0, 1)")
        need(0 <= self.beta2 < 1, "beta2", "a number in [0, 1)")
        need(0 <= self.weight_decay < 1, "weight_decay", "a number in [0, 1)")
        need(0 <= self.momentum < 1, "momentum", "a number in [0, 1)")
        need(self.lr_decay >= 1 and math.isfinite(self.lr_decay), "lr_decay", "a number >= 1 (1: constant lr)")
        need(self.min_lr >= 0 and math.isfinite(self.min_lr), "min_lr", "a number >= 0")
        need(self.momentum_final is None or 0 <= self.momentum_final < 1, "momentum_final", "a number in [0, 1)")
        need(self.momentum_ramp_epochs > 0 and math.isfinite(self.momentum_ramp_epochs), "momentum_ramp_epochs",
             "a number > 0")
        need(self.width is None or (isinstance(self.width, int) and self.width >= 1), "width", "an integer >= 1")
        need(self.max_image_pixels is None or (isinstance(self.max_image_pixels, int) and self.max_image_pixels >= 1),
             "max_image_pixels", "an integer >= 1")
        need(self.image_size is None or (isinstance(self.image_size, int) and self.image_size >= 4),
             "image_size", "an integer >= 4")
        need(self.penalty is None or self.penalty in PENALTIES, "penalty", " or ".join(PENALTIES))
        need(self.gp_weight >= 0 and math.isfinite(self.gp_weight), "gp_weight", "a number >= 0")
        need(self.clip is None or (self.clip > 0 and math.isfinite(self.clip)), "clip", "a number > 0")
        need(self.labels is None or (isinstance(self.labels, int) and self.labels >= 1), "labels",
             "an integer >= 1")
        need(0 <= self.dropout < 1, "dropout", "a number in [0, 1)")
        need(isinstance(self.info_categories, int) and self.info_categories >= 0 and self.info_categories != 1,
             "info_categories", "0 (no categorical code) or an integer >= 2")
        need(isinstance(self.info_continuous, int) and self.info_continuous >= 0, "info_continuous",
             "an integer >= 0")
        need(self.info_weight >= 0 and math.isfinite(self.info_weight), "info_weight", "a number >= 0")
        need(self.ae_kind in AE_KINDS, "ae_kind", " or ".join(AE_KINDS))
        need(self.noise_std >= 0 and math.isfinite(self.noise_std), "noise_std", "a number >= 0")
        need(self.margin > 0 and math.isfinite(self.margin), "margin", "a number > 0")
        need(self.conditioning in CONDITIONINGS, "conditioning", " or ".join(CONDITIONINGS))
        need(self.sgan_network in SGAN_NETWORKS, "sgan_network", " or ".join(SGAN_NETWORKS))
        need(self.gan_recipe in GAN_RECIPES, "gan_recipe", " or ".join(GAN_RECIPES))
        need(self.amp in AMP_MODES, "amp", " or ".join(AMP_MODES))
        need(self.compile in ON_OFF, "compile", " or ".join(ON_OFF))
        twice = self.double_backward_terms()
        need(self.compile == "off" or not twice, "compile",
             f"off with {' and '.join(twice)} (model {self.model}): it differentiates a gradient again (a double "
             "backward), which torch.compile does not support (pytorch/pytorch#92348)")
        need(self.channels_last in CHANNELS_LAST_MODES, "channels_last", " or ".join(CHANNELS_LAST_MODES))
        need(self.sync_bn in ON_OFF, "sync_bn", " or ".join(ON_OFF))
        need(0 <= self.label_smoothing < 1, "label_smoothing", "a number in [0, 1)")
        for name in ("feature_matching", "historical_averaging", "instance_noise", "g_ema", "d_ema"):
            need(getattr(self, name) >= 0 and math.isfinite(getattr(self, name)), name, "a number >= 0")
        need(not self.d_ema or self.model == "sgan", "d_ema", "0 unless --model sgan (D's weight average "
             "classifies)")
        for name in ("minibatch_features", "unroll", "early_stop"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name, "an integer >= 0")
        need(self.unroll_lr > 0 and math.isfinite(self.unroll_lr), "unroll_lr", "a number > 0")
        need(isinstance(self.pack, int) and self.pack >= 1, "pack", "an integer >= 1")
        need(self.batch_size % self.pack == 0, "pack", f"a divisor of batch_size {self.batch_size}")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            need(value is None or (value > 0 and math.isfinite(value)), name, "a number > 0")
        if self.keep_best is not None:
            metrics = [m.strip() for m in self.eval_metrics.split(",")]
            need(self.keep_best in metrics, "keep_best", f"one of --eval-metrics ({self.eval_metrics})")
            need(self.eval_every >= 1, "eval_every", "an integer >= 1 (--keep-best needs evaluations)")
        if self.early_stop:
            need(self.keep_best is not None, "early_stop", "0 unless --keep-best names the metric to watch")
        need(self.time_budget is None or parse_duration(self.time_budget) is not None, "time_budget",
             "a duration such as 90s, 25m, 2h or 1h30m (0 for none)")
        need(self.log in LOG_MODES, "log", " or ".join(LOG_MODES))
        self._validate_milestones(need)
        need(self.pairs is None or self.pairs in PAIR_KINDS, "pairs", " or ".join(PAIR_KINDS))
        for name in ("pair_blur", "pair_noise", "adversarial_weight"):
            need(getattr(self, name) >= 0 and math.isfinite(getattr(self, name)), name, "a number >= 0")
        need(isinstance(self.sr_blocks, int) and self.sr_blocks >= 1, "sr_blocks", "an integer >= 1")
        need(self.sr_skip in ("none", "bicubic"), "sr_skip", "none or bicubic")
        for name in ("progan_phase_images", "progan_fade_images"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name, "an integer >= 0")
        for name in ("style_mapping_layers", "r1_every", "pl_every"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "an integer >= 1")
        need(0 <= self.style_mixing <= 1, "style_mixing", "a probability in [0, 1]")
        need(self.pl_weight >= 0 and math.isfinite(self.pl_weight), "pl_weight", "a number >= 0")
        self._validate_sequences(need)
        need(self.pair_augment in ("none", "dihedral"), "pair_augment", "none or dihedral")
        need(self.sr_norm in ("batch", "none"), "sr_norm", "batch or none")
        need(self.sr_upsample_init in ("default", "icnr"), "sr_upsample_init", "default or icnr")
        need(self.adam_fused in ("auto", *ON_OFF), "adam_fused", "auto, on or off")
        need(isinstance(self.gp_every, int) and self.gp_every >= 1, "gp_every", "an integer >= 1")
        need(self.gp_every == 1 or self.model == "ctgan", "gp_every", "1 unless --model ctgan (its lazy penalty)")
        return self

    def _validate_sequences(self, need: Any) -> None:
        """Next-frame prediction's options (issue 14)."""
        need(self.sequences is None or self.sequences in SEQUENCE_KINDS, "sequences", " or ".join(SEQUENCE_KINDS))
        need(isinstance(self.context_frames, int) and self.context_frames >= 2, "context_frames",
             "an integer >= 2 (motion needs two frames)")
        need(isinstance(self.canvas, int) and self.canvas >= 16, "canvas", "an integer >= 16")
        need(isinstance(self.frame_scales, int) and 1 <= self.frame_scales <= 4, "frame_scales", "an integer 1 to 4")
        for name in ("l2_weight", "gdl_weight"):
            need(getattr(self, name) >= 0 and math.isfinite(getattr(self, name)), name, "a number >= 0")
        if self.sequences is not None:
            need(self.pairs is None, "pairs", "none with --sequences (pairs or sequences, not both)")
            need(self.model == "nextframe", "sequences", "none unless --model nextframe")

    def _validate_milestones(self, need: Any) -> None:
        """Issue 11's options: augmentation, the training subset, GMAN's discriminators."""
        need(self.augment in AUGMENTS, "augment", " or ".join(AUGMENTS))
        need(self.augment_ops in AUGMENT_OPS, "augment_ops", " or ".join(AUGMENT_OPS))
        from .augment import ADA_P_MAX

        need(0 <= self.augment_p <= ADA_P_MAX, "augment_p", f"a number in [0, {ADA_P_MAX}] (each augmentation "
             "must be applied with probability < 1)")
        need(-1 < self.ada_target < 1, "ada_target", "a number in (-1, 1) (a mean of signs)")
        need(isinstance(self.ada_interval, int) and self.ada_interval >= 1, "ada_interval", "an integer >= 1")
        need(self.ada_kimg > 0 and math.isfinite(self.ada_kimg), "ada_kimg", "a number > 0")
        for name in ("subset", "subset_seed"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name, "an integer >= 0")
        need(isinstance(self.n_disc, int) and self.n_disc >= 1, "n_disc", "an integer >= 1")
        need(self.gman_lambda >= 0 and math.isfinite(self.gman_lambda), "gman_lambda", "a number >= 0")
        need(self.gman_learn_lambda in ON_OFF, "gman_learn_lambda", " or ".join(ON_OFF))
        if self.model != "gman":
            for name, off in (("n_disc", 1), ("gman_lambda", 0.0), ("gman_learn_lambda", "off")):
                need(getattr(self, name) == off, name, f"{off!r} unless --model gman")

    @property
    def time_budget_s(self) -> float | None:
        """``time_budget`` in seconds, or None for no budget (unset or 0)."""
        seconds = parse_duration(self.time_budget) if self.time_budget is not None else None
        return seconds or None

    def double_backward_terms(self) -> list[str]:
        """The options of this config whose loss differentiates a gradient (gradient penalties, unrolled D,
        path length), as flags: torch.compile cannot take their double backward."""
        terms = [f"--penalty {self.penalty}"] if self.penalty in ("gp", "r1") else []
        if self.unroll:
            terms.append("--unroll")
        if self.pl_weight:
            terms.append("--pl-weight")
        return terms

    @property
    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    #: Remedy options (issue 15) and their "off" values: models that are not plain adversarial refuse the others.
    REMEDIES_OFF = {"label_smoothing": 0.0, "feature_matching": 0.0, "minibatch_features": 0,
                    "historical_averaging": 0.0, "unroll": 0, "pack": 1, "instance_noise": 0.0, "lr_d": None,
                    "lr_g": None, "g_ema": 0.0, "augment": "none"}

    def remedies_in_use(self) -> list[str]:
        """Names of the remedy options set away from "off", in field order."""
        return [name for name, off in self.REMEDIES_OFF.items() if getattr(self, name) != off]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a mapping; unknown keys are an error (a misspelled option must not pass silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"{source}: unknown key {unknown[0]!r}: expected one of {', '.join(sorted(known))}")
        return cls(**{k: _coerce(cls, k, v, source) for k, v in values.items()})


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str | int | float) -> float | None:
    """``"90s"``, ``"25m"``, ``"2h"``, ``"1h30m"``, ``"1.5h"`` or a bare number of seconds -> seconds (>= 0);
    None if the text is not a duration."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) and text >= 0 else None
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d*)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d*)?)([hms])", s)
    if not parts or "".join(a + u for a, u in parts) != s or len({u for _, u in parts}) != len(parts):
        return None
    return sum(float(a) * _DURATION_UNITS[u] for a, u in parts)


def _coerce(cls: type, name: str, value: Any, source: str) -> Any:
    """Check a YAML value's type against the field's annotation (int, float, str, bool, or None)."""
    annotation = str({f.name: f.type for f in fields(cls)}[name])
    if value is None:
        if "None" in annotation:
            return None
        raise UserError(f"{source}: {name} must not be empty")
    if annotation.startswith("int") and not (isinstance(value, int) and not isinstance(value, bool)):
        raise UserError(f"{source}: {name}={value!r} is invalid: expected an integer")
    if annotation.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{source}: {name}={value!r} is invalid: expected a number")
        return float(value)
    if annotation.startswith("str") and isinstance(value, bool):  # YAML 1.1 reads on/off/yes/no as booleans
        return "on" if value else "off"
    if annotation.startswith("str") and isinstance(value, (int, float)):  # time_budget: 600
        return str(value)
    if annotation.startswith("str") and not isinstance(value, str):
        raise UserError(f"{source}: {name}={value!r} is invalid: expected a string")
    return value


class UniqueKeySafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (safe_load keeps the last silently:
    ``steps: 20`` then ``steps: 30`` would train 30 steps without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base': merged keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                same = str(key).replace("-", "_") if isinstance(key, str) else key  # k-disc and k_disc: one key
                if same in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} appears twice" + (f" (as {seen[same]!r})" if seen[same] != key
                                                                         else ""), key_node.start_mark)
                seen[same] = key
            except TypeError:  # an unhashable key ('? [a, b]'): no option is named so
                raise yaml.constructor.ConstructorError(None, None, "a key that is a list or a mapping is not an "
                                                        "option name", key_node.start_mark) from None
        return super().construct_mapping(node, deep)


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of config keys with ``yaml.safe_load``; keys may use dashes or underscores. ``path``
    may name a recipe shipped with ganforge (:func:`ganforge.recipes.resolve_config_path`)."""
    from .recipes import resolve_config_path

    path = resolve_config_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"config file {path}: not a text file (expected YAML in UTF-8)") from None
    except OSError as e:
        hint = "; ganforge models lists the recipes shipped with ganforge" if isinstance(e, FileNotFoundError) else ""
        raise UserError(f"config file {path}: cannot be read ({e.strerror}){hint}") from None
    try:
        values = yaml.load(text, Loader=UniqueKeySafeLoader)  # safe_load's loader, duplicate keys refused
    except yaml.YAMLError as e:
        raise UserError(f"config file {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError(f"config file {path}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def save_yaml_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config atomically (a kill mid-write leaves the old file or the new one)."""
    from .rundir import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))
