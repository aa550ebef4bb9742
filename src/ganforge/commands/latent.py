"""``ganforge latent``: interpolation grids and GIFs, latent arithmetic, nearest training neighbours."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError

#: latent arithmetic by label: the first this many samples of each label form a group
PER_GROUP = 3
#: figures of one image per sample: beyond these sizes they are unreadable (and matplotlib takes minutes)
MAX_SHEET = 1024
MAX_NEIGHBOUR_ROWS = 256


def add_parser(sub) -> None:
    p = sub.add_parser("latent", help="latent walks, arithmetic and nearest neighbours of an image run",
                       description="Look inside an image run's latent space: runs whose G reads one z tensor "
                                   "(not cgan, infogan or ctgan, whose latents carry labels or codes: "
                                   "ganforge sample --by-class / --vary-code walks those).")
    tools = p.add_subparsers(dest="tool", metavar="TOOL", required=True)

    q = tools.add_parser("interpolate", help="rows of samples walking between random latents (PNG grid, GIF)",
                         description="Each row walks from one random z to another: linear or spherical (slerp).")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--mode", default="spherical", choices=["spherical", "linear"], help="path  [spherical]")
    q.add_argument("--rows", type=int, default=8, help="paths  [8]")
    q.add_argument("--steps", type=int, default=10, help="points per path, ends included  [10]")
    q.add_argument("--seed", type=int, default=0, help="seed of the end points  [0]")
    q.add_argument("--out", required=True, help="output .png (grid) or .gif (the samples moving)")
    q.set_defaults(func=cmd_interpolate)

    q = tools.add_parser("sheet", help="numbered samples of a seed, to pick groups for 'latent arithmetic'",
                         description="The --n samples of --seed in a grid numbered row by row from 0.")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--n", type=int, default=64, help="samples  [64]")
    q.add_argument("--seed", type=int, default=0, help="noise seed  [0]")
    q.add_argument("--out", required=True, help="output .png")
    q.set_defaults(func=cmd_sheet)

    q = tools.add_parser("arithmetic", help="G(mean z_A - mean z_B + mean z_C), groups by index or by label",
                         description="Latent arithmetic (Radford et al. 2016): groups A, B and C of the --n samples "
                                     "of --seed, picked by index (see 'latent sheet') or by class label (the "
                                     "dataset's domain classifier, else 5-nearest-neighbour labels).")
    q.add_argument("run_dir", metavar="RUN_DIR")
    for g in "abc":
        q.add_argument(f"--{g}", default=None, metavar="I,J,K", help=f"sample indices of group {g.upper()}")
        q.add_argument(f"--{g}-label", type=int, default=None, metavar="Y", help=f"class label of group {g.upper()}")
    q.add_argument("--n", type=int, default=64, help="samples to pick from  [64]")
    q.add_argument("--per-group", type=int, default=PER_GROUP,
                   help=f"samples per group when picking by label  [{PER_GROUP}]")
    q.add_argument("--seed", type=int, default=0, help="noise seed  [0]")
    q.add_argument("--out", required=True, help="output .png")
    q.set_defaults(func=cmd_arithmetic)

    q = tools.add_parser("neighbours", help="samples beside their nearest training images (pixel L2)",
                         description="Each row: a sample, then its --k nearest training images; copies show up "
                                     "as near-identical neighbours.")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--n", type=int, default=8, help="samples  [8]")
    q.add_argument("--k", type=int, default=5, help="neighbours per sample  [5]")
    q.add_argument("--seed", type=int, default=0, help="noise seed  [0]")
    q.add_argument("--data-dir", default=None, help="where the run's dataset is  [as for train]")
    q.add_argument("--out", required=True, help="output .png")
    q.set_defaults(func=cmd_neighbours)

    q = tools.add_parser("mix", help="stylegan2: style-mixing grid, coarse styles from a row of seeds, fine from a "
                                     "column",
                         description="Style mixing (Karras et al. 2019, 2020): the top row shows the samples of "
                                     "--cols seeds, the left column those of --rows seeds; cell (i, j) takes the "
                                     "first --cutoff style inputs (coarse: pose, shape) from top-row seed j and the "
                                     "rest (fine: texture, detail) from left-column seed i.")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--rows", type=int, default=5, help="seeds of the fine styles, down the left  [5]")
    q.add_argument("--cols", type=int, default=6, help="seeds of the coarse styles, along the top  [6]")
    q.add_argument("--cutoff", type=int, default=None,
                   help="style inputs taken from the top row (the rest from the left column)  [those of the "
                        "4x4 and 8x8 layers]")
    q.add_argument("--truncation", type=float, default=1.0, metavar="PSI", help="truncation psi  [1: none]")
    q.add_argument("--seed", type=int, default=0, help="seed of the latents  [0]")
    q.add_argument("--out", required=True, help="output .png")
    q.set_defaults(func=cmd_mix)


def _png_or_gif(out: str, allowed: tuple[str, ...]) -> Path:
    path = Path(out)
    if path.suffix not in allowed:
        raise UserError(f"--out {path}: expected a file name ending in {' or '.join(allowed)}")
    return path


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ..images import grid_scale, save_image
    from ..run import load_run
    from ..viz.latent import interpolation_gif, interpolation_grid

    out = _png_or_gif(args.out, (".png", ".gif"))
    run = load_run(args.run_dir)
    if out.suffix == ".gif":
        if args.rows < 1 or args.steps < 2:
            raise UserError(f"--rows {args.rows} --steps {args.steps}: expected rows >= 1, steps >= 2 (the two "
                            "ends)")
        interpolation_gif(run, out, count=args.rows, steps=args.steps, mode=args.mode, seed=args.seed)
    else:
        grid = interpolation_grid(run, args.rows, args.steps, args.mode, args.seed)
        save_image(grid, out, scale=grid_scale(run.data.shape[-1]))
    print(f"ganforge: wrote {args.mode} interpolations of {args.run_dir} (step {run.step}) to {out}")
    return 0


def cmd_sheet(args: argparse.Namespace) -> int:
    import torch

    from ..run import load_run
    from ..viz.latent import generate_images, require_tensor_latent
    from ..viz.plotting import pyplot, save_figure

    out = _png_or_gif(args.out, (".png",))
    run = load_run(args.run_dir)
    require_tensor_latent(run)
    if not 1 <= args.n <= MAX_SHEET:
        raise UserError(f"--n {args.n}: expected an integer in [1, {MAX_SHEET}] (a numbered sheet to pick from; "
                        "use another --seed for other samples)")
    x = generate_images(run, run.model.sample_latent(args.n, torch.Generator().manual_seed(args.seed)).cpu())
    cols = min(8, args.n)
    rows = -(-args.n // cols)
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(1.0 * cols, 1.1 * rows), dpi=100, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < args.n:
            arr = x[i].permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=1)
            ax.set_title(str(i), fontsize=7)
    fig.tight_layout()
    save_figure(fig, out)
    print(f"ganforge: wrote samples 0..{args.n - 1} of seed {args.seed} to {out}")
    return 0


def _indices(text: str, flag: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{flag} {text!r}: expected comma-separated sample indices such as 3,7,12") from None


def cmd_arithmetic(args: argparse.Namespace) -> int:
    from ..run import load_run
    from ..viz.latent import run_arithmetic

    out = _png_or_gif(args.out, (".png",))
    by_index = [getattr(args, g) for g in "abc"]
    by_label = [getattr(args, f"{g}_label") for g in "abc"]
    if all(v is not None for v in by_index) and all(v is None for v in by_label):
        if args.per_group != PER_GROUP:
            raise UserError(f"--per-group {args.per_group}: the number of samples a label picks: expected it only "
                            "with --a-label, --b-label and --c-label (--a, --b and --c list the samples)")
        picks, labels = {g.upper(): _indices(getattr(args, g), f"--{g}") for g in "abc"}, None
    elif all(v is not None for v in by_label) and all(v is None for v in by_index):
        picks, labels = None, {g.upper(): getattr(args, f"{g}_label") for g in "abc"}
    else:
        raise UserError("latent arithmetic: expected either --a, --b and --c (indices) or --a-label, --b-label and "
                        "--c-label (class labels)")
    if not 1 <= args.n <= MAX_SHEET:
        raise UserError(f"--n {args.n}: expected an integer in [1, {MAX_SHEET}] (the samples groups are picked from)")
    if labels is not None and not 1 <= args.per_group <= args.n:
        raise UserError(f"--per-group {args.per_group}: expected an integer in [1, --n {args.n}]")
    run = load_run(args.run_dir)
    path, how = run_arithmetic(run, picks=picks, labels=labels, n=args.n, per_group=args.per_group, seed=args.seed,
                               out=out)
    print(f"ganforge: groups: {how}")
    print(f"ganforge: wrote A - B + C to {path}")
    return 0


def cmd_neighbours(args: argparse.Namespace) -> int:
    import torch

    from ..run import load_run
    from ..viz.latent import neighbours_figure, require_tensor_latent

    out = _png_or_gif(args.out, (".png",))
    if not 1 <= args.n <= MAX_NEIGHBOUR_ROWS:
        raise UserError(f"--n {args.n}: expected an integer in [1, {MAX_NEIGHBOUR_ROWS}] (rows of the figure; "
                        "ganforge eval --metrics memorisation measures many samples)")
    run = load_run(args.run_dir)
    require_tensor_latent(run)
    ds = run.dataset(args.data_dir)
    train = torch.from_numpy(ds.split("train")).float() / 255
    samples = run.sample(args.n, seed=args.seed)
    neighbours_figure(samples, train, args.k, out)
    print(f"ganforge: wrote {args.n} samples and their {args.k} nearest of {len(train)} training images to {out}")
    return 0


def cmd_mix(args: argparse.Namespace) -> int:
    from ..images import grid_scale, make_grid, save_image
    from ..run import load_run
    from ..viz.latent import style_mixing_grid

    out = _png_or_gif(args.out, (".png",))
    run = load_run(args.run_dir)
    if not hasattr(run.model, "style_mix"):
        raise UserError(f"latent mix: model {run.config.model} has no style inputs to mix (expected stylegan2)")
    for name in ("rows", "cols"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)}: expected an integer >= 1")
    run.set_truncation(args.truncation)
    images, cutoff = style_mixing_grid(run, args.rows, args.cols, args.cutoff, args.seed)
    save_image(make_grid(images, nrow=args.cols + 1), out, scale=grid_scale(run.data.shape[-1]))
    print(f"ganforge: wrote a style-mixing grid of {args.run_dir} (step {run.step}; style inputs 0..{cutoff - 1} "
          f"from the top row, the rest from the left column) to {out}")
    return 0
