"""``ganforge sample``: draw samples from a trained run as a PNG grid or a .npy array."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import UserError
from ..rundir import check_writable_output

#: --drs-steps's default: given any other value without --drs, the option is refused rather than ignored
DRS_STEPS = 2000


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained run",
                       description="Draw samples from a run's latest checkpoint: a PNG grid or a .npy array "
                                   "(images float (N, C, H, W) in [0, 1]; toy points (N, D)).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--n", type=int, default=None, help="number of samples (rows with --vary-code)  [64; 10 rows]")
    p.add_argument("--out", required=True, help="output file: .png for a grid, .npy for the raw array; a table "
                                                "run: .csv (the original columns, kinds and categories)")
    p.add_argument("--seed", type=int, default=None, help="noise seed (same seed, same samples)  [random]")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row  [square; 10 with --by-class]")
    p.add_argument("--label", type=int, default=None,
                   help="conditional models (cgan): sample only this class (0-based label)")
    p.add_argument("--by-class", action="store_true",
                   help="conditional models: a grid with one row per class, --nrow samples each (--n is ignored)")
    p.add_argument("--vary-code", default=None, metavar="CODE",
                   help="infogan: sweep one latent code (c1 the categorical code, c2, c3, ... the continuous ones) "
                        "along each row, everything else fixed per row; --n rows of --nrow columns")
    p.add_argument("--checkpoint", default="latest", metavar="WHICH",
                   help="latest, best (checkpoints/best.pt of a --keep-best run) or a checkpoint file  [latest]")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="scale the noise z by T (labels and codes untouched): T < 1 trades diversity for "
                        "typical samples, the truncation trick; 1 is the prior the model was trained with  [1]")
    p.add_argument("--condition", default=None, action="append", metavar="COLUMN=VALUE",
                   help="table runs: only rows whose discrete COLUMN is VALUE (ctgan feeds the condition to G; "
                        "every model's rows are then kept only where they match); one condition at a time")
    p.add_argument("--no-copies", action="store_true",
                   help="table runs: drop every sampled row equal to a training row (all its values) and draw "
                        "again until --n rows remain: a privacy filter for tables whose real rows repeat (it reads "
                        "the run's training split, so its data must still be there)")
    p.add_argument("--condition-frequency", choices=("data", "log"), default="data",
                   help="ctgan runs: draw each row's condition (a discrete column, then a category of it) with the "
                        "data's category frequencies (data: faithful column shapes) or with log(1 + count) "
                        "frequencies, training-by-sampling's, as the authors' ctgan package samples (log: rare "
                        "categories over-represented, which raises macro-F1 efficacy)  [data]")
    p.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="stylegan2: the truncation trick, w = w_avg + PSI (w - w_avg) with w_avg the mean w tracked "
                        "in training: PSI < 1 trades diversity for typical samples  [1: none]")
    p.add_argument("--drs", action="store_true",
                   help="discriminator rejection sampling (Azadi et al. 2019): fit a copy of the run's D to its "
                        "frozen G on the run's training data (--drs-steps), then keep each sample with probability "
                        "exp(D(x) - max D): rejection sampling under D's density-ratio estimate, which drops "
                        "samples off the data (e.g. on the lines between a mixture's modes) at 1/acceptance the "
                        "cost; GANs whose D judges x alone (gan, dcgan, wgan, wgan-gp, lsgan, sngan, gman, stylegan2)")
    p.add_argument("--drs-steps", type=int, default=DRS_STEPS, metavar="N",
                   help="--drs: minibatches (512 real + 512 generated) to fit the critic; it starts from the run's "
                        "D when that judges one example at a time, else (--pack) from a fresh D of its shape. A "
                        "critic that wins outright ranks samples instead of estimating their density ratio: for "
                        "image GANs start with a few tens (docs/models.md, rejection sampling)  [2000]")
    p.add_argument("--drs-lr", type=float, default=None, metavar="LR",
                   help="--drs: the critic's Adam learning rate  [the run's D rate]")
    p.add_argument("--drs-quantile", type=float, default=None, metavar="Q",
                   help="--drs: DRS's gamma, the Q-quantile of its acceptance score F over the burn-in of 10,000 "
                        "proposals; subtracting it reshapes the acceptance curve around the typical sample (no "
                        "longer exact rejection sampling)  [none: gamma 0]")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from ..images import grid_scale, make_grid, save_image, save_points_plot
    from ..run import load_run

    if args.condition is not None:  # argparse keeps every --condition: a second one is refused, not dropped
        if len(args.condition) > 1:
            raise UserError(f"--condition given {len(args.condition)} times ({', '.join(args.condition)}): expected "
                            "one COLUMN=VALUE (ctgan conditions G on one discrete column at a time)")
        args.condition = args.condition[0]
    check_sample_options(args)
    out = Path(args.out)
    if out.suffix == ".csv" or args.condition is not None or args.no_copies or args.condition_frequency != "data":
        if args.drs:
            raise UserError("--drs: image and point runs only: expected no .csv --out, --condition, "
                            "--condition-frequency or --no-copies")
        return sample_table(args, out)
    if out.suffix not in (".png", ".npy"):
        raise UserError(f"--out {out}: expected a .png (image grid), .npy (raw array) or, for a table run, .csv "
                        "file name")
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory, expected a file name")
    check_writable_output(out)  # before sampling: a bad output path fails at once
    run = load_run(args.run_dir, args.checkpoint)
    if run.data.kind == "table" and out.suffix == ".png":
        raise UserError(f"--out {out}: run {args.run_dir} models a table: expected a .csv file name (or .npy for "
                        "the encoded rows)")
    run.set_truncation(args.truncation)
    kept_inputs = getattr(run.model, "noiseless_input", None)  # srresnet/srgan: low-res images; nextframe: frames
    if args.temperature != 1.0 and kept_inputs:
        raise UserError(f"--temperature {args.temperature}: a {run.config.model} run's G reads {kept_inputs}, not "
                        "noise from a prior (scaling them would degrade the inputs): expected no --temperature")
    if kept_inputs:  # its samples are its outputs on the inputs it kept in training: more would repeat them
        kept = run.model.num_kept_inputs
        if args.n is not None and args.n > kept:
            raise UserError(f"--n {args.n}: a {run.config.model} run samples its outputs on the {kept} inputs it "
                            f"kept from training: expected --n <= {kept} (ganforge "
                            f"{'upscale' if run.config.model != 'nextframe' else 'predict'} for others)")
        args.n = args.n or min(64, kept)
    if sum((args.label is not None, args.by_class, args.vary_code is not None)) > 1:
        raise UserError("--label, --by-class and --vary-code: expected at most one of them")
    if args.drs and (args.label is not None or args.by_class or args.vary_code is not None
                     or args.temperature != 1.0 or args.truncation != 1.0):
        raise UserError("--drs: fits its critic to G's own samples: expected no --label, --by-class, --vary-code, "
                        "--temperature or --truncation with it")
    per_row = args.by_class or args.vary_code is not None  # there --nrow counts the samples of each row
    if args.nrow is not None and not per_row and args.nrow > (args.n or 64):
        raise UserError(f"--nrow {args.nrow}: more images per row than samples (--n {args.n or 64}): expected at "
                        "most --n")
    if args.label is not None or args.by_class:
        x, nrow = sample_by_label(run, args)
    elif args.drs:
        x, nrow = sample_drs(run, args), args.nrow
    elif args.vary_code is not None:
        x, nrow = sample_code_sweep(run, args)
    else:
        x, nrow = run.sample(args.n or 64, seed=args.seed, temperature=args.temperature), args.nrow
    args.n, args.nrow = len(x), nrow
    if out.suffix == ".png" and run.data.kind == "image" and grid_pixels(x.shape, nrow) > MAX_GRID_PIXELS:
        shards = save_npy_shards(x.numpy(), out)
        print(f"ganforge: warning: a grid of {len(x):,} samples would have {grid_pixels(x.shape, nrow):,} pixels, "
              f"more than Pillow opens ({MAX_GRID_PIXELS:,}): wrote {len(shards)} .npy shard(s) instead, "
              f"{shards[0]} ... {shards[-1]}", file=sys.stderr)
        return 0
    if out.suffix == ".npy":
        np.save(out, x.numpy())
    elif run.data.kind == "image":
        save_image(make_grid(x, nrow=args.nrow), out, scale=grid_scale(x.shape[-1]))
    else:
        save_points_plot(x.numpy(), out, title=f"{run.config.model} on {run.data_name}")
    print(f"ganforge: wrote {args.n} samples from {args.run_dir} (step {run.step}) to {out}")
    return 0


def sample_drs(run, args: argparse.Namespace):
    """``--drs``: ``args.n`` samples (default 64) in the data's range kept by discriminator rejection sampling
    (:mod:`ganforge.rejection`); prints the critic's fit and the acceptance rate."""
    import torch

    from ..data import to_data_range
    from ..rejection import drs_sample, fit_critic

    if run.data.kind not in ("image", "points"):
        raise UserError(f"--drs: run {args.run_dir} models {run.data.kind} data: expected an image or point run")
    if args.drs_steps < 1:
        raise UserError(f"--drs-steps {args.drs_steps}: expected an integer >= 1")
    if args.drs_lr is not None and not 0 < args.drs_lr < float("inf"):
        raise UserError(f"--drs-lr {args.drs_lr}: expected a learning rate > 0")
    if args.drs_quantile is not None and not 0.0 <= args.drs_quantile < 1.0:
        raise UserError(f"--drs-quantile {args.drs_quantile}: expected a number in [0, 1)")
    seed = args.seed if args.seed is not None else int(torch.randint(2**31, ()).item())
    critic = fit_critic(run.model, run.training_examples(), steps=args.drs_steps, lr=args.drs_lr, seed=seed)
    result = drs_sample(run.model, critic.model, args.n or 64, seed=seed, gamma_quantile=args.drs_quantile)
    print(f"ganforge: DRS critic ({critic.start}, {critic.steps} steps at lr {critic.lr:g}): accuracy "
          f"{critic.accuracy:.3f}, logistic loss {critic.loss:.3f}; kept {len(result.x):,} of "
          f"{result.proposals:,} proposals ({100 * result.acceptance:.2f}%), max logit {result.max_logit:.2f}, "
          f"gamma {result.gamma:.2f}")
    return to_data_range(result.x, run.data.kind)


#: Pillow warns above this many pixels and refuses twice as many (its decompression-bomb check), so a larger
#: sample grid would be a PNG that image viewers built on Pillow cannot open.
MAX_GRID_PIXELS = 89_478_485
#: Samples per .npy shard when a grid would be too large.
SHARD_SIZE = 10_000


def grid_pixels(shape: tuple[int, ...], nrow: int | None) -> int:
    """Pixels of the PNG ``make_grid`` + ``save_image`` would write for ``shape = (N, C, H, W)``."""
    from ..images import grid_scale

    n, _, h, w = shape
    ncol = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / ncol)
    scale = grid_scale(h)
    return (rows * (h + 2) + 2) * (ncol * (w + 2) + 2) * scale * scale


def save_npy_shards(x, out: Path) -> list[Path]:
    """``x (N, ...)`` as ``OUT-00000.npy``, ``OUT-00001.npy``, ... of :data:`SHARD_SIZE` samples each."""
    import numpy as np

    paths = []
    for i, start in enumerate(range(0, len(x), SHARD_SIZE)):
        path = out.with_name(f"{out.stem}-{i:05d}.npy")
        np.save(path, x[start:start + SHARD_SIZE])
        paths.append(path)
    return paths


def _rng(seed: int | None):
    import torch

    rng = torch.Generator()
    if seed is None:
        rng.seed()
    else:
        rng.manual_seed(seed)
    return rng


def _to_data_range(run, generated):
    from ..data import to_data_range

    return to_data_range(generated, run.data.kind).cpu()


def sample_by_label(run, args: argparse.Namespace):
    """``--label K``: ``--n`` samples of class K; ``--by-class``: one row of ``--nrow`` samples per class."""
    import torch

    from ..noise import with_temperature

    if not hasattr(run.model, "latent_for_labels"):
        raise UserError(f"--label/--by-class: model {run.config.model} is not conditional on labels "
                        "(expected a conditional model such as cgan)")
    k = run.data.num_classes
    if args.by_class:
        nrow = args.nrow or 10
        y = torch.arange(k).repeat_interleave(nrow)  # row c holds class c
    else:
        if not 0 <= args.label < k:
            raise UserError(f"--label {args.label}: expected a class between 0 and {k - 1}")
        nrow, y = args.nrow, torch.full((args.n or 64,), args.label, dtype=torch.int64)
    with torch.inference_mode():
        latent = run.model.latent_for_labels(y, _rng(args.seed))
        x = run.model.generate(with_temperature(latent, args.temperature, run.config.prior))
    return _to_data_range(run, x), nrow


def sample_code_sweep(run, args: argparse.Namespace):
    """``--vary-code CODE``: ``--n`` rows; along a row only CODE changes (all its categories, or ``--nrow``
    values evenly spaced in [-2, 2] for a continuous code, as in the InfoGAN paper's figures)."""
    import torch

    from ..noise import with_temperature

    if not hasattr(run.model, "code_sweep_latent"):
        raise UserError(f"--vary-code: model {run.config.model} has no latent codes (expected infogan)")
    rows = args.n or 10
    with torch.inference_mode():
        latent = run.model.code_sweep_latent(args.vary_code, rows, args.nrow or 10, _rng(args.seed))
        x = run.model.generate(with_temperature(latent, args.temperature, run.config.prior))
    return _to_data_range(run, x), len(x) // rows


#: ``--condition`` / ``--no-copies``: at most this many rounds of sampling to collect ``--n`` rows that pass.
MAX_CONDITION_ROUNDS = 50


def check_sample_options(args: argparse.Namespace) -> None:
    """The checks every kind of run shares, before anything is loaded: counts, the temperature, and the
    options of ``--drs`` only with it."""
    if args.n is not None and args.n < 1:
        raise UserError(f"--n {args.n}: expected an integer >= 1")
    if args.nrow is not None and args.nrow < 1:
        raise UserError(f"--nrow {args.nrow}: expected an integer >= 1")
    if not 0 <= args.temperature <= 10:  # NaN fails too
        raise UserError(f"--temperature {args.temperature}: expected a number between 0 and 10 (1 = the prior)")
    if not args.drs and (args.drs_steps != DRS_STEPS or args.drs_lr is not None or args.drs_quantile is not None):
        raise UserError("--drs-steps, --drs-lr and --drs-quantile: options of --drs: expected --drs with them")


def sample_table(args: argparse.Namespace, out: Path) -> int:
    """A table run's samples as CSV: ``--n`` rows (1,000 by default) decoded to the original columns; with
    ``--condition COLUMN=VALUE`` only rows whose COLUMN is VALUE (ctgan is also given that condition); with
    ``--no-copies`` no row equal to a training row; with ``--condition-frequency log`` ctgan's conditions drawn
    at training-by-sampling's rates."""
    import numpy as np

    from ..data.table import DISCRETE_KINDS, TableSpec
    from ..metrics.table import copies_of
    from ..run import load_run

    if out.is_dir():
        raise UserError(f"--out {out}: is a directory, expected a file name")
    run = load_run(args.run_dir, args.checkpoint)
    if run.data.kind != "table" or run.data.table is None:
        raise UserError(f"--out {out} / --condition: run {args.run_dir} models {run.data.kind} data, not a table "
                        "(expected .png or .npy, and no --condition, --condition-frequency or --no-copies)")
    if out.suffix != ".csv":
        raise UserError(f"--out {out}: a table run writes a .csv file: expected a name ending in .csv")
    given = (("--label", args.label is not None), ("--by-class", args.by_class), ("--nrow", args.nrow is not None),
             ("--vary-code", args.vary_code is not None), ("--truncation", args.truncation != 1.0))
    image_options = [flag for flag, is_given in given if is_given]
    if image_options:
        raise UserError(f"{', '.join(image_options)}: options of image runs' grids: expected none of them for the "
                        f"table run {args.run_dir}")
    spec = TableSpec(run.data.table)
    n = args.n if args.n is not None else 1000
    if n < 1:
        raise UserError(f"--n {n}: expected an integer >= 1")
    column = value = None
    if args.condition is not None:
        column, sep, value = args.condition.partition("=")
        # a column whose name holds '=' ("churn=1?=yes"): the longest column name the text starts with, then '='
        named = [c for c in spec.names if args.condition.startswith(f"{c}=")]
        if named:
            column = max(named, key=len)
            value = args.condition[len(column) + 1:]
        discrete = [c["name"] for c in spec.columns if c["kind"] in DISCRETE_KINDS]
        if not sep or not column:
            raise UserError(f"--condition {args.condition}: expected COLUMN=VALUE")
        if column not in spec.names:
            raise UserError(f"--condition {args.condition}: no column {column!r}: expected one of "
                            f"{', '.join(discrete) or '(no discrete column)'}")
        if column not in discrete:
            kind = spec.columns[spec.names.index(column)]["kind"]
            raise UserError(f"--condition {args.condition}: column {column!r} is {kind}: expected a discrete "
                            f"column ({', '.join(discrete) or 'none in this table'})")
        categories = spec.columns[spec.names.index(column)]["categories"]
        if value not in categories:
            raise UserError(f"--condition {args.condition}: no category {value!r} in {column}: expected one of "
                            f"{', '.join(repr(c) for c in categories)}")
        if hasattr(run.model, "forced_choice"):
            run.model.forced_choice = run.model.layout.choice_for(column, value)
    if args.condition_frequency == "log":
        if not hasattr(run.model, "log_frequency_sampling"):
            raise UserError(f"--condition-frequency log: run {args.run_dir} is a {run.config.model} run: expected a "
                            "ctgan run (its conditions are what the frequencies choose)")
        run.model.log_frequency_sampling = True
    check_writable_output(out)
    train = None
    if args.no_copies:  # the run's own training split, read as training read it
        train = run.dataset().meta["frames"]["train"]
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**31))
    dropped = 0

    def keep(frame):
        nonlocal dropped
        mask = frame[column] == value if column is not None else np.ones(frame_len(frame), dtype=bool)
        if train is not None:
            copy = copies_of(frame, train)
            dropped += int((mask & copy).sum())
            mask &= ~copy
        return mask

    filtered = column is not None or train is not None
    frame, drawn = run.sample_table_rows(n, seed, keep if filtered else None, args.temperature,
                                         MAX_CONDITION_ROUNDS)
    got = frame_len(frame)
    if got == 0 and not dropped:
        raise UserError(f"--condition {args.condition}: none of {drawn:,} sampled rows has {column}={value}: the "
                        "model does not produce this category")
    if got == 0:
        raise UserError(f"--no-copies: every one of the {drawn:,} sampled rows that passed equals a training row: "
                        "the model reproduces its training rows")
    spec.write_csv(frame, out)
    notes = [f"{got:,} of {drawn:,} sampled rows had {column}={value}"] if column is not None else []
    if train is not None:
        notes.append(f"{dropped:,} rows equal to a training row dropped")
    note = f" ({'; '.join(notes)})" if notes else ""
    print(f"ganforge: wrote {got:,} rows from {args.run_dir} (step {run.step}) to {out}{note}")
    return 0


def frame_len(frame) -> int:
    return len(next(iter(frame.values())))
