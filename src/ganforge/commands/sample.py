"""``ganforge sample``: draw samples from a trained run as a PNG grid or a .npy array."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained run",
                       description="Draw samples from a run's latest checkpoint: a PNG grid or a .npy array "
                                   "(images float (N, C, H, W) in [0, 1]; toy points (N, D)).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--n", type=int, default=64, help="number of samples  [64]")
    p.add_argument("--out", required=True, help="output file: .png for a grid, .npy for the raw array")
    p.add_argument("--seed", type=int, default=None, help="noise seed (same seed, same samples)  [random]")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row  [square]")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from ..images import grid_scale, make_grid, save_image, save_points_plot
    from ..run import load_run

    out = Path(args.out)
    if out.suffix not in (".png", ".npy"):
        raise UserError(f"--out {out}: expected a .png (image grid) or .npy (raw array) file name")
    run = load_run(args.run_dir)
    x = run.sample(args.n, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x.numpy())
    elif run.data.kind == "image":
        save_image(make_grid(x, nrow=args.nrow), out, scale=grid_scale(x.shape[-1]))
    else:
        save_points_plot(x.numpy(), out, title=f"{run.config.model} on {run.data_name}")
    print(f"ganforge: wrote {args.n} samples from {args.run_dir} (step {run.step}) to {out}")
    return 0


