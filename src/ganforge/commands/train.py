"""``ganforge train``: train a GAN run from flags and/or a YAML config, or resume one."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields, replace
from pathlib import Path

from ..config import (
    DEFAULT_LR,
    DEFAULT_STEPS,
    OBJECTIVES,
    OPTIMIZERS,
    PRIORS,
    RESUMABLE,
    TrainConfig,
    load_yaml_config,
)
from ..errors import UserError

TRAIN_HELP = {
    "model": "gan, dcgan, cgan, sgan, wgan, wgan-gp, lsgan, sngan, infogan, aae, ebgan, vaegan, ae, vae, gman, "
             "stylegan2, progan, bigan; super-resolution: srresnet, srgan; video: nextframe; tables: ctgan, tvae (gan, "
             "wgan-gp: one-hot MLPs); "
             "anomaly: ganomaly "
             "(docs/models.md; ganforge models lists the defaults each one's recipe sets)  [dcgan]",
    "data": "dataset: digits, mnist, fashion-mnist, cifar10, folder:PATH, gauss1d, ring8, grid25; tables: "
            "csv:PATH, parquet:PATH, fair, randhie  [digits]",
    "data_dir": "directory holding the dataset's files (also searched: $GANFORGE_DATA, ~/.ganforge/data, "
                "./data, /usr/share/datasets)",
    "image_size": "resize images to SIZE x SIZE once at load time (folder:PATH default 64)  [native size]",
    "max_image_pixels": "folder:PATH: refuse images of more pixels than this, a decompression-bomb guard  "
                        "[178956970, Pillow's limit]",
    "steps": f"training iterations (one G update each)  [{DEFAULT_STEPS} unless --epochs]",
    "epochs": "train for this many passes over the training split instead of --steps",
    "batch_size": "minibatch size m  [64]",
    "k_disc": "discriminator steps per generator step, k in Algorithm 1  [1]",
    "objective": f"generator objective: {' or '.join(OBJECTIVES)} (Algorithm 1's log(1 - D(G(z))))  [nonsaturating]",
    "optimizer": f"{' or '.join(OPTIMIZERS)}  [adam]",
    "lr": f"learning rate  [adam {DEFAULT_LR['adam']}, sgd {DEFAULT_LR['sgd']}]",
    "beta1": "Adam beta1  [0.5]",
    "beta2": "Adam beta2  [0.999]",
    "weight_decay": "L2 weight decay added to every gradient by the optimiser (ctgan: the package's 1e-6)  [0]",
    "momentum": "SGD momentum (its start value when --momentum-final is set)  [0.5]",
    "lr_decay": "divide the learning rate by this factor after every iteration, down to --min-lr (the 2014 "
                "code's ExponentialDecay: 1.000004)  [1: constant]",
    "min_lr": "floor of the decayed learning rate  [0]",
    "momentum_final": "SGD momentum rises linearly from --momentum to this value over --momentum-ramp-epochs "
                      "(the 2014 code's MomentumAdjustor: 0.5 -> 0.7 over 250 epochs)  [none: constant]",
    "momentum_ramp_epochs": "epochs over which momentum reaches --momentum-final  [250]",
    "latent_dim": "size of z  [100]",
    "prior": f"noise prior p_z: {' or '.join(PRIORS)} (uniform on [-1, 1]; mixture: --prior-components "
             "Gaussians of std --prior-std around fixed centres drawn from N(0, I), DeLiGAN's prior (Gurumurthy et "
             "al. 2017) with its parameters fixed, so that G can put disconnected modes apart without bridges "
             "between them (toy mixtures; on images it cost recall): docs/models.md; vae, vaegan, aae, tvae, "
             "stylegan2, ctgan and ae take normal only; srresnet, srgan and nextframe draw no noise and take none)  "
             "[normal]",
    "prior_components": "--prior mixture: number of equally likely components; more than the data's modes  [50]",
    "prior_std": "--prior mixture: standard deviation of each component around its centre  [0.25]",
    "width": "network width: dcgan base channels [64]; gan generator hidden units [1200 images, 128 points]",
    "seed": "random seed; runs with the same seed are identical on CPU  [0]",
    "sample_every": "write a sample grid and a metrics.jsonl line every N steps  [500]",
    "checkpoint_every": "overwrite checkpoints/latest.pt every N steps  [1000]",
    "keep_every": "also keep checkpoints/step_XXXXXX.pt every N steps (a checkpoint is saved at those steps "
                  "whatever --checkpoint-every says); 0 keeps none  [0]",
    "device": "auto, cpu or cuda  [auto]",
    "eval_every": "every N steps, compute --eval-metrics on --eval-n samples into metrics.jsonl; 0 never  [0]",
    "eval_metrics": "comma-separated metrics for --eval-every (see ganforge eval --help)  [fid,kid; shape,trends "
                    "for tables]",
    "eval_n": "samples (and real examples) per --eval-every evaluation  [2000]",
    "penalty": "discriminator regulariser added to its loss: none, gp (WGAN-GP, Gulrajani et al. 2017) or r1 "
               "(Mescheder et al. 2018)  [the model's own: gp for wgan-gp, else none]",
    "gp_weight": "weight lambda of --penalty gp or r1  [10]",
    "clip": "clip every discriminator weight into [-CLIP, CLIP] after each D step  [wgan 0.01, else none]",
    "labels": "sgan: number of labelled training examples (class-balanced; the rest are used unlabelled)  [all]",
    "dropout": "sgan: dropout rate after each hidden layer of D's classifier (and of the supervised-only "
               "baseline, the same network)  [0]",
    "sgan_network": "sgan: dcgan (DCGAN conv trunk, K-way head) or mlp (Salimans et al. 2016's MNIST networks: "
                    "weight-normalised D 1000-500-250-250-250 with Gaussian noise, G 500-500 softplus + batch norm) or "
                    "conv (their CIFAR-10 D, weight-normalised convolutions with dropout, at 32/64 channels; the mlp's "
                    "G)  [dcgan]",
    "d_ema": "sgan: classify (evaluation, accuracy, --keep-best val_accuracy) with a weight average of D, "
             "bias-corrected, with this half-life in real images D saw, as Salimans et al. 2016's code tests "
             "with an average of D; the supervised-only baseline keeps the same average  [0: none]",
    "info_categories": "infogan: categories of the categorical code c1 (0 for none)  [10]",
    "info_continuous": "infogan: number of continuous codes, each U[-1, 1]  [2]",
    "info_weight": "infogan: weight lambda of the mutual-information term  [1]",
    "ae_kind": "ae: mlp, deep (fully connected), conv or denoise (conv trained on noisy inputs); on toy points "
               "mlp or deep (conv means deep)  [conv]",
    "noise_std": "ae denoise: std of the Gaussian noise added to inputs in [0, 1] pixel units  [0.5]",
    "margin": "ebgan: margin m of the discriminator's hinge on fake energies (mean squared error per pixel)  [1]",
    "conditioning": "cgan: how D uses the label: concat (one-hot planes on its input, Mirza & Osindero 2014), "
                    "projection (class embedding dotted with D's last features, Miyato & Koyama 2018) or "
                    "auxiliary (a class head on D, AC-GAN, Odena et al. 2017)  [concat]",
    "gan_recipe": "gan on images: default, or 2014-code: as its authors' pylearn2 code (goodfeli/adversarial) "
                  "trained it: sigmoid pixels in [0, 1] for G's output and D's input, G's output bias from the "
                  "training data's pixel means, uniform initial weights (G +-0.05, D +-0.005), D's loss halved, "
                  "G and D updated simultaneously by one optimizer from one minibatch; gan on points: pacgan: "
                  "Lin et al. 2018's toy MLPs (G four batch-normed ReLU layers of --width, default 400; D three "
                  "maxout layers of --width/2 units x 5 pieces)  [default]",
    "amp": "off, or bf16: bfloat16 autocast of the networks (meant for CUDA; slower on CPUs without bf16 "
           "units)  [off]",
    "compile": "on: torch.compile the networks (pays on GPUs for long runs; first steps are slow)  [off]",
    "channels_last": "channels-last memory for conv nets and image batches: auto (on for conv models), "
                     "on, off  [auto]",
    "sync_bn": "on: synchronise batch-norm statistics across ranks under torchrun (CUDA only)  [off]",
    # remedies (docs/models.md, "Remedies"): gan, dcgan, wgan, wgan-gp, lsgan, sngan (cgan: some)
    "label_smoothing": "one-sided label smoothing a: D's target for real data is 1 - a (Salimans et al. 2016, "
                       "Improved Techniques for Training GANs); log-loss objectives only  [0]",
    "feature_matching": "weight of feature matching ||E f(x) - E f(G(z))||^2 on D's last hidden features, added to "
                        "G's loss (Salimans et al. 2016)  [0]",
    "minibatch_features": "minibatch discrimination: B kernels of dimension 5 on D's last hidden features, "
                          "before its output layer (Salimans et al. 2016; they use 100)  [0: none]",
    "historical_averaging": "weight of ||theta - mean of past theta||^2 added to each player's loss "
                            "(historical averaging, Salimans et al. 2016)  [0]",
    "unroll": "unrolled GAN: G's loss is taken against D after K look-ahead gradient steps on the same minibatch, "
              "differentiated through them (Metz et al. 2017, Unrolled GANs); D's own weights are untouched  [0]",
    "unroll_lr": "step size of --unroll's look-ahead D steps (plain gradient descent)  [0.05]",
    "pack": "PacGAN packing: D judges M samples at once, concatenated (Lin et al. 2018); --batch-size must be "
            "a multiple of M  [1: none]",
    "instance_noise": "std of Gaussian instance noise added to D's real and fake inputs, annealed linearly to 0 "
                      "over the run (Sonderby et al. 2017; Arjovsky & Bottou 2017), in model units  [0]",
    "lr_d": "D's learning rate: the two time-scale update rule (TTUR, Heusel et al. 2017)  [--lr]",
    "lr_g": "G's learning rate (TTUR, Heusel et al. 2017)  [--lr]",
    "g_ema": "keep an exponential moving average of G's weights with this half-life in generated images; "
             "sample, eval and report use it (Yazici et al. 2019; Karras et al. 2018)  [0: none]",
    "keep_best": "keep checkpoints/best.pt by this --eval-metrics value on held-out data at each --eval-every: "
                 "fid or kid (lower is better); is, parzen, val_accuracy (sgan: D's class head on validation "
                 "images), accuracy, cas, or for tables shape, trends or efficacy (higher is better); sample/eval "
                 "--checkpoint best  [none]",
    "early_stop": "stop when --keep-best's metric has not improved for this many evaluations  [0: never]",
    "time_budget": "stop cleanly (samples, checkpoint, exit 0) once this much wall-clock time has passed since "
                   "the command started: 90s, 25m, 2h, 1h30m; --resume starts a new budget; 0 for none  [none]",
    "log": "jsonl (metrics.jsonl only) or tensorboard: also TensorBoard event files in RUN_DIR (scalars, "
           "sample grids, the config; pip install 'ganforge[tensorboard]')  [jsonl]",
    "augment": "augment what D sees, real and fake alike, with differentiable transformations (--augment-ops): "
               "diffaug (DiffAugment, Zhao et al. 2020: translation, cutout, colour, each with probability "
               "--augment-p) or ada (Karras et al. 2020: ADA's pipeline, p adapted so that r_t = E[sign "
               "D(x_real)] stays near --ada-target); image data  [none]",
    "augment_p": "--augment diffaug's probability of each augmentation, in [0, 0.8]  [0.3]",
    "augment_ops": "the transformations --augment applies: diffaug = DiffAugment's (translation, cutout, colour); "
                   "ada = ADA's pipeline (flip, quarter turns, integer translation, scaling, rotation, anisotropic "
                   "scaling, fractional translation; brightness, contrast, luma flip, hue, saturation); auto = "
                   "each method its own (runs made with --augment ada before this option used diffaug's)  [auto]",
    "ada_target": "--augment ada: the target of r_t = E[sign D(x_real)]; above it p rises, below it falls  [0.6]",
    "ada_interval": "--augment ada: adjust p every this many D steps  [4]",
    "ada_kimg": "--augment ada: thousands of real images over which p can move from 0 to 1 (the paper: 500)  "
                "[100]",
    "subset": "train on a fixed, seeded subset of this many training examples (evaluation still uses the "
              "whole dataset)  [0: all]",
    "subset_seed": "seed of --subset's choice of examples (independent of --seed)  [0]",
    "n_disc": "gman: the number of discriminators N (Durugkar et al. 2017)  [gman: 2]",
    "gman_lambda": "gman: G's loss is the softmax(lambda * L_i)-weighted mean of its N losses L_i: 0 the mean, "
                   "large the max (the harshest D)  [0]",
    "gman_learn_lambda": "gman: on for GMAN*, lambda learned by G (starting at --gman-lambda), with a reward "
                         "of 0.001 lambda that keeps it from collapsing to 0  [off]",
    "pairs": "super-resolution pairs made on the fly from the dataset: sr2 or sr4 (bicubic x2 / x4 "
             "downsample; srresnet and srgan need it)  [none; srresnet, srgan: sr4]",
    "pair_blur": "--pairs: Gaussian blur (sigma, high-resolution pixels) before the downsample  [0: none]",
    "pair_noise": "--pairs: Gaussian noise (std in [0, 1] intensity) added to the low-resolution input  [0: none]",
    "sr_blocks": "srresnet/srgan: residual blocks of the generator (Ledig et al. 2017: 16)  [16]",
    "sr_skip": "srresnet/srgan: bicubic = the generator learns a residual over bicubic upsampling (its last "
               "convolution starts at zero, so training starts at bicubic's quality); not in Ledig et al., for "
               "short CPU runs  [none: the paper's network]",
    "init_from": "srgan: start G from this SRResNet run directory's generator (its latest checkpoint)  [none]",
    "content_features": "srgan: domain-classifier weights file (.safetensors, 'ganforge features train') whose "
                        "features the content loss compares, or inception / inception:PATH (the FID "
                        "Inception-v3's first five convolutions, for colour photos)  [the dataset's shipped "
                        "classifier]",
    "adversarial_weight": "srgan: weight of the adversarial term beside the content loss (Ledig et al. 2017: "
                          "1e-3); nextframe: beside L2 and GDL, 0 for no D (Mathieu et al. 2016: 0.05)  "
                          "[srgan: 0.001; nextframe: 0.05]",
    "discrete_columns": "tables (csv:PATH, fair, randhie): model these comma-separated columns as discrete "
                        "(categories), whatever their values look like  [inferred]",
    "continuous_columns": "tables: model these columns as continuous; a value that is not a number is an "
                          "error  [inferred]",
    # progressive growing and StyleGAN2 (issue 11)
    "progan_phase_images": "progan: real images shown at 4x4, and at each resolution after its fade-in  [800000]",
    "progan_fade_images": "progan: real images over which each new resolution fades in (alpha 0 -> 1)  [800000]",
    "style_mapping_layers": "stylegan2: fully connected layers of the mapping network z -> w  [8]",
    "style_mixing": "stylegan2: probability that a training sample takes its styles from two latents, switching "
                    "at a random layer (style-mixing regularisation)  [0.9]",
    "r1_every": "stylegan2: lazy R1: the penalty (weight --gp-weight, gamma) enters D's loss every N D steps, "
                "multiplied by N  [16]",
    "pl_weight": "stylegan2: weight of the path-length regulariser on G  [0: off; the paper 2]",
    "pl_every": "stylegan2: lazy path-length regularisation every N G steps, multiplied by N  [4]",
    # anomaly detection (issue 12)
    "ganomaly_w_adv": "ganomaly: weight of the adversarial (D feature-matching) loss  [1]",
    "ganomaly_w_con": "ganomaly: weight of the contextual L1 loss |x - G(x)|  [50]",
    "ganomaly_w_enc": "ganomaly: weight of the encoder loss ||G_E(x) - E(G(x))||^2  [1]",
    # next-frame prediction (issue 14)
    "sequences": "next-frame prediction clips made on the fly from the dataset's images: moving2 (two sprites "
                 "bouncing, Moving-MNIST style) or action (one sprite moved by a one-hot action per step; "
                 "nextframe needs it)  [none; nextframe: moving2]",
    "context_frames": "--sequences: frames k the predictor is given (>= 2)  [4]",
    "canvas": "--sequences: side of the square canvas in pixels; sprites are 7/16 of it (28 on 64, 14 on 32)  [64]",
    "frame_scales": "nextframe: scales of the coarse-to-fine generator and discriminator, 1 to 4 (Mathieu et al. "
                    "2016: 4)  [3]",
    "l2_weight": "nextframe: weight of the L2 loss to the true next frame  [1]",
    "gdl_weight": "nextframe: weight of the gradient difference loss  [1]",
    # super-resolution training as SR codes train (issue 14, photos)
    "pair_augment": "--pairs: dihedral = each training target flipped / rotated by 90 degrees at random (one of "
                    "8, seeded) before its input is made from it; none for upright data  [none]",
    "sr_norm": "srresnet/srgan: batch = batch norm in the generator's residual blocks (Ledig et al. 2017); none "
               "= no norm, convolutions with biases (EDSR, Lim et al. 2017)  [batch]",
    "sr_upsample_init": "srresnet/srgan: icnr = the sub-pixel convolutions start at nearest-neighbour "
                        "upsampling (Aitken et al. 2017: no initial checkerboard); default = PyTorch's  [default]",
    # ctgan's speed (issue 13)
    "adam_fused": "Adam's update as one fused kernel over all parameters: auto (on CUDA only), on (on the CPU "
                  "too: the same update to rounding, ~6x faster a step; ctgan's default), off  [auto; ctgan: on]",
    "gp_every": "ctgan: lazy gradient penalty: the penalty enters the critic's loss every N critic steps, "
                "multiplied by N (StyleGAN2's lazy regularisation); 1 = every step  [1]",
}


def resumable_flags() -> str:
    """``--steps, --epochs, ...``: the options ``--resume`` may change, as flags."""
    return ", ".join("--" + name.replace("_", "-") for name in RESUMABLE)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a GAN (Algorithm 1 of Goodfellow et al. 2014)",
        description="Train a GAN with Algorithm 1: per step, k discriminator updates on fresh real and fake "
                    "minibatches, then one generator update. Writes RUN_DIR/config.yaml, metrics.jsonl, "
                    "samples/step_XXXXXX.png and checkpoints/latest.pt. Defaults in [brackets] are the shared ones; a "
                    "model's recipe replaces some of them (ganforge models lists which).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    types = {"int": int, "float": float, "str": str}
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        typ = types[str(f.type).split(" ")[0]]
        p.add_argument(flag, type=typ, default=None, help=TRAIN_HELP[f.name], metavar=f.name.upper())
    p.add_argument("--out", default=None, metavar="RUN_DIR", help="run directory  [runs/MODEL-DATA]")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="YAML file of any of these options; "
                   "flags given on the command line override it")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its latest checkpoint; "
                   f"only these may change: {resumable_flags()}")
    p.add_argument("--download", action="store_true", help="fetch the dataset from its canonical source if missing")
    p.add_argument("--no-progress", action="store_true", help="print a line per --sample-every instead of a bar")
    p.set_defaults(func=cmd_train)


#: ``--eval-every``'s metrics on a table when ``--eval-metrics`` is not given (``fid,kid`` is for images).
TABLE_EVAL_METRICS = "shape,trends"


def _resolve_train_config(args: argparse.Namespace) -> tuple[TrainConfig, Path]:
    from ..data import is_table_name  # the package: every dataset registered, bundled tables included
    from ..data.core import absolute_data_name  # imports torch: not at --help

    names = [f.name for f in fields(TrainConfig)]
    explicit = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    from_file = load_yaml_config(args.config) if args.config else {}
    read = TrainConfig.from_dict(from_file, source=f"config file {args.config}")  # unknown keys / types, early
    from_file = {name: getattr(read, name) for name in from_file}  # as the options mean them (YAML off -> "off")
    if args.resume:
        if not args.out:
            raise UserError("--resume needs --out RUN_DIR naming the run to continue")
        run_dir = Path(args.out)
        from ..checkpoint import load_checkpoint

        saved = load_checkpoint(run_dir / "checkpoints" / "latest.pt")["config"]
        requested = {**from_file, **explicit}
        for name, value in requested.items():
            if name == "data" and absolute_data_name(value) == absolute_data_name(saved.get(name) or ""):
                requested[name] = saved[name]  # the same files named from another directory or as stored
            elif name not in RESUMABLE and value != saved.get(name):
                was = "the default" if saved.get(name) is None else repr(saved.get(name))
                raise UserError(f"--resume: {name} is {was} in {run_dir}, cannot change it to {value!r} "
                                f"(only {resumable_flags()} may change)")
        values = {**saved, **requested}
        if ("eval_metrics" not in requested and values.get("eval_metrics") == "fid,kid"
                and is_table_name(values.get("data") or "")):  # a table run saved before tables had their own
            values["eval_metrics"] = TABLE_EVAL_METRICS
        length_changed = any(name in requested and requested[name] != saved.get(name) for name in ("steps", "epochs"))
        if length_changed and saved.get("instance_noise"):
            print("ganforge: note: --instance-noise anneals to 0 over the run's length; from here it follows the "
                  "new length, so this run differs from one trained to that length in one go", file=sys.stderr)
        if "steps" in requested:
            values["epochs"] = None
        elif "epochs" in requested:
            values["steps"] = None
    else:
        from ..models import MODELS

        requested = {**from_file, **explicit}
        spec = MODELS.get_or_fail(requested.get("model", TrainConfig.model))
        values = {**spec.defaults, **requested}  # the model's recipe replaces the generic defaults
        if "eval_metrics" not in values and is_table_name(values.get("data", TrainConfig.data)):
            values["eval_metrics"] = TABLE_EVAL_METRICS  # fid and kid measure images: a table's own scores
        run_dir = Path(args.out) if args.out else None
    cfg = TrainConfig.from_dict(values, source="options").validate()
    if run_dir is None:
        safe_data = cfg.data
        for prefix in ("folder", "csv", "parquet"):
            safe_data = safe_data.replace(f"{prefix}:", f"{prefix}-")
        safe_data = safe_data.replace("/", "_").strip("_")
        run_dir = Path("runs") / f"{cfg.model}-{safe_data}"
    if not args.resume:  # a new run stores where its files are, not where they were named from
        cfg = replace(cfg, data=absolute_data_name(cfg.data))
    if cfg.data_dir is not None:
        cfg = replace(cfg, data_dir=os.path.abspath(os.path.expanduser(cfg.data_dir)))
    return cfg, run_dir


def seconds_since_process_start() -> float:
    """Wall-clock seconds since this process started (Linux: /proc), so that ``ganforge train --time-budget``
    run as a command covers the interpreter's and torch's start-up too; 0 where unknown (the budget then
    counts from the Trainer's creation, as it always does when ``cli.main`` is called from Python)."""
    import os

    try:
        fields_after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields_after_name[19])  # field 22 of proc(5), starttime, in clock ticks since boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def cmd_train(args: argparse.Namespace) -> int:
    import time

    from ..train import Trainer, TrainingInterrupted

    cfg, run_dir = _resolve_train_config(args)
    trainer = Trainer(cfg, run_dir, resume=args.resume, download=args.download,
                      progress=False if args.no_progress else None)
    trainer.govern_threads(args)  # other work may start or stop on the machine during the run
    if getattr(args, "command_line", False):  # not when called from Python: the process may be a long-lived one
        trainer.started = min(trainer.started, time.perf_counter() - seconds_since_process_start())
    say = print if trainer.is_main else (lambda *a, **k: None)  # under torchrun, rank 0 speaks for all
    sizes = ", ".join(f"{name} {sum(p.numel() for p in m.parameters()):,} params"
                      for name, m in trainer.model.named_children() if any(True for _ in m.parameters()))
    subset = f"a fixed subset of {cfg.subset} of its " if cfg.subset else ""
    say(f"ganforge: training {cfg.model} on {cfg.data} ({trainer.dataset.source}; {subset}{len(trainer.dataset)} "
        f"train examples of shape {trainer.dataset.shape}) on {trainer.device}; {sizes}; "
        f"steps {trainer.step} -> {trainer.total_steps}; run dir {run_dir}"
        + (f"; {args.thread_choice}" if getattr(args, "thread_choice", None) else ""), flush=True)
    # under torchrun the same launch continues the run bit-identically (another number of ranks would not)
    again = ("the same torchrun command with --resume" if trainer.dist.enabled else
             f"ganforge train --out {run_dir} --resume")
    try:
        trainer.fit()
    except TrainingInterrupted as e:
        say(f"ganforge: interrupted at step {e.step}; checkpoint saved to {run_dir / 'checkpoints/latest.pt'}; "
            f"continue with: {again}", file=sys.stderr)
        return 128 + e.signum
    if trainer.budget_reached:
        spent = time.perf_counter() - trainer.started
        say(f"ganforge: time budget reached ({cfg.time_budget}; {spent:.1f} s) at step {trainer.step}/"
            f"{trainer.total_steps}; "
            f"checkpoint saved to {run_dir / 'checkpoints/latest.pt'}; continue with: {again} --time-budget "
            "DURATION")
        return 0
    say(f"ganforge: done at step {trainer.step} in {trainer.elapsed_s:.1f} s; samples "
        f"{run_dir / 'samples' / f'step_{trainer.step:06d}'}{'.csv' if trainer.dataset.kind == 'table' else '.png'}; "
        f"checkpoint {run_dir / 'checkpoints' / 'latest.pt'}")
    return 0
