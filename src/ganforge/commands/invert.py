"""``ganforge invert``: find the latents a trained generator maps closest to given images (``ganforge.inversion``)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from ..errors import UserError
from ..rundir import check_output_dir

#: prior draws an inversion starts from, without an encoder
RESTARTS = 4
#: beyond these an inversion is hours of work per image: a typo, not a request
MAX_STEPS = 100_000
MAX_RESTARTS = 1000


def add_parser(sub) -> None:
    p = sub.add_parser("invert", help="find the latents whose samples match given images",
                       description="Invert a run's generator: Adam on z (w for stylegan2) so that G(z) matches each "
                                   "image in mean squared pixel error, started from the model's encoder when it has "
                                   "one (bigan, aae, vaegan, ...) else from --restarts prior draws. Writes into "
                                   "--out: grid.png (original | reconstruction pairs), latents.npy (N, latent_dim) "
                                   "and errors.csv (mean squared error per image, pixels in [0, 1]).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGES", nargs="*", help="image files, or folders of them (or use --data)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--data", default=None, metavar="DATASET", help="invert images of this dataset instead of files")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="where --data's files are  [its default places]")
    p.add_argument("--split", default="test", help="--data's split  [test]")
    p.add_argument("--n", type=int, default=64, help="--data: the first N images of the split  [64]")
    p.add_argument("--steps", type=int, default=300, help="Adam steps per image  [300]")
    p.add_argument("--lr", type=float, default=0.05, help="Adam's learning rate on the latents  [0.05]")
    p.add_argument("--restarts", type=int, default=RESTARTS,
                   help=f"prior draws to start from, the best kept per image (models without an encoder, or "
                        f"with --no-encoder)  [{RESTARTS}]")
    p.add_argument("--no-encoder", action="store_true", help="start from prior draws even when the model has an "
                                                             "encoder")
    p.add_argument("--prior-weight", type=float, default=1e-3,
                   help="weight of the prior regulariser ||z||^2 / (2 latent_dim)  [0.001]")
    p.add_argument("--feature-weight", type=float, default=0.0,
                   help="add this weight times the squared distance in the dataset's shipped domain-classifier "
                        "features (a perceptual term)  [0: pixels only]")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts  [0]")
    p.add_argument("--checkpoint", default="latest", metavar="WHICH",
                   help="latest, best (checkpoints/best.pt of a --keep-best run) or a checkpoint file  [latest]")
    p.set_defaults(func=cmd_invert)


def read_images(args: argparse.Namespace, run):
    """The images to invert, float ``(N, C, H, W)`` in [0, 1], and their names."""
    import torch

    from .upscale import image_files, read_image

    if args.data is not None:
        if args.images:
            raise UserError("IMAGES and --data: expected one of them")
        if args.n < 1:
            raise UserError(f"--n {args.n}: expected an integer >= 1")
        from ..data import load_dataset

        # the run's own dataset as the run reads it (its --image-size, --max-image-pixels, data_dir)
        from ..data.core import absolute_data_name

        own = absolute_data_name(args.data) == absolute_data_name(run.config.data)  # folder:imgs as folder:/…/imgs
        ds = run.dataset(args.data_dir) if own else load_dataset(args.data, args.data_dir)
        x = ds.split(args.split)[:args.n]
        if x.ndim != 4:
            raise UserError(f"--data {args.data}: holds {x.ndim - 1}-d examples: expected images")
        x = torch.from_numpy(x).float() / 255.0
        return x, [f"{args.data}/{args.split}/{i}" for i in range(len(x))]
    if not args.images:
        raise UserError("IMAGES: expected image files or folders (or --data DATASET)")
    files = image_files(args.images)
    channels = run.data.shape[0]
    images = [read_image(f, channels) for f in files]
    for f, im in zip(files, images, strict=True):
        if tuple(im.shape[1:]) != tuple(run.data.shape):
            raise UserError(f"image {f}: {im.shape[2]}x{im.shape[3]} pixels: run {args.run_dir} models "
                            f"{run.data.shape[1]}x{run.data.shape[2]} images")
    return torch.cat(images), [str(f) for f in files]


def domain_feature_fn(run):
    """Features of the run's dataset's domain classifier for images in [-1, 1], differentiable in them."""
    from ..features.domain import load_domain_classifier

    net = load_domain_classifier(run.data_name).eval().requires_grad_(False)
    return lambda x: net.embed_prepared(net.prepare((x + 1.0) * 0.5))


def cmd_invert(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..images import grid_scale, make_grid, save_image
    from ..run import load_run

    out = Path(args.out)
    check_output_dir(out)
    if not 0 <= args.steps <= MAX_STEPS:
        raise UserError(f"--steps {args.steps}: expected an integer in [0, {MAX_STEPS:,}] (Adam steps per image)")
    if not 1 <= args.restarts <= MAX_RESTARTS:
        raise UserError(f"--restarts {args.restarts}: expected an integer in [1, {MAX_RESTARTS}]")
    if not (0 < args.lr < math.inf and 0 <= args.feature_weight < math.inf and 0 <= args.prior_weight < math.inf):
        raise UserError(f"--lr {args.lr}, --feature-weight {args.feature_weight}, --prior-weight "
                        f"{args.prior_weight}: expected a finite lr > 0 and finite weights >= 0")
    run = load_run(args.run_dir, args.checkpoint)
    if run.data.kind != "image":
        raise UserError(f"run {args.run_dir}: models {run.data.kind} data: expected a run of images")
    from ..inversion import has_encoder, latent_space

    latent_space(run.model)  # a run whose generator has no latent to invert fails before the images are read
    encoded = has_encoder(run.model)
    if args.no_encoder and not encoded:
        raise UserError(f"--no-encoder: a {run.config.model} run has no encoder to start from (it starts from "
                        "--restarts prior draws already)")
    if encoded and not args.no_encoder and args.restarts != RESTARTS:
        raise UserError(f"--restarts {args.restarts}: a {run.config.model} run starts from its encoder, once: "
                        "expected --no-encoder with --restarts (to start from prior draws)")
    x, names = read_images(args, run)
    feature_fn = domain_feature_fn(run) if args.feature_weight > 0 else None
    started = time.perf_counter()
    result = run.invert(x, steps=args.steps, lr=args.lr, restarts=args.restarts, use_encoder=not args.no_encoder,
                        prior_weight=args.prior_weight, feature_fn=feature_fn, feature_weight=args.feature_weight,
                        seed=args.seed)
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    pairs = torch.stack([x, result.reconstruction], dim=1).flatten(0, 1)  # (2N, C, H, W): original, reconstruction
    cols = min(8, len(x))
    save_image(make_grid(pairs, nrow=2 * cols), out / "grid.png", scale=grid_scale(x.shape[-1]))
    np.save(out / "latents.npy", result.latent.numpy())
    lines = ["image,mse"] + [f"{name},{e:.6f}" for name, e in zip(names, result.error.tolist(), strict=True)]
    (out / "errors.csv").write_text("\n".join(lines) + "\n")
    print(f"ganforge: inverted {len(x)} images with {run.config.model} (step {run.step}; start: {result.start}, "
          f"{result.space} space, {args.steps} steps) in {seconds:.1f}s: mean squared error "
          f"{float(result.error.mean()):.4f} (pixels in [0, 1]); wrote {out}/grid.png, latents.npy, errors.csv")
    return 0
