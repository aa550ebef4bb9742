"""``ganforge lab 1d|2d``: watch a GAN learn a toy distribution, with the 2014 paper's theory beside it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("lab", help="toy labs: the 1-D GAN animation and theory, 2-D mode collapse",
                       description="Train small GANs on toy distributions and draw what happens.")
    labs = p.add_subparsers(dest="lab", metavar="LAB", required=True)

    p1 = labs.add_parser(
        "1d", help="figure 1 of Goodfellow et al. 2014, animated, with D* and -log 4 checked",
        description="Train the 2014 MLPs (1-D uniform z) on a 1-D distribution and write lab1d.gif (and lab1d.mp4 "
                    "when ffmpeg exists): p_data, p_g, D(x) and the z -> x mapping over training; four stills "
                    "frame_[abcd]_*.png; theory.png/theory.json: a D trained to convergence against the final G "
                    "versus D* = p_data/(p_data+p_g), and C(G) versus -log 4 + 2 JSD.")
    p1.add_argument("--data", default="gauss1d", choices=["gauss1d", "bimodal1d"],
                    help="gauss1d: N(4, 0.5^2); bimodal1d: N(-2, 0.5^2) + N(2, 0.5^2)  [gauss1d]")
    p1.add_argument("--out", default=None, metavar="DIR", help="output (and run) directory  [runs/lab1d-DATA]")
    p1.add_argument("--steps", type=int, default=1200, help="training steps  [1200]")
    p1.add_argument("--frames", type=int, default=40, help="animation frames, step 0 included  [40]")
    p1.add_argument("--lr", type=float, default=None, help="Adam learning rate  [gauss1d 2e-4, bimodal1d 5e-4]")
    p1.add_argument("--seed", type=int, default=0, help="random seed  [0]")
    p1.set_defaults(func=cmd_lab1d)

    p2 = labs.add_parser(
        "2d", help="mode collapse and recovery on ring8/grid25, several models side by side",
        description="Train each --model on a 2-D Gaussian mixture; write one scatter GIF per model with the mode "
                    "metrics on every frame, modes.json, and comparison.png (models in rows, steps in columns).")
    p2.add_argument("--data", default="ring8", choices=["ring8", "grid25"], help="mixture  [ring8]")
    p2.add_argument("--model", nargs="+", default=None, metavar="SPEC",
                    help="models to compare: NAME or NAME:key=value,key=value with training options, e.g. "
                         "gan gan:objective=minimax gan:k_disc=5  [gan wgan-gp sngan]")
    p2.add_argument("--out", default=None, metavar="DIR", help="output directory  [runs/lab2d-DATA]")
    p2.add_argument("--steps", type=int, default=1500, help="training steps per model  [1500]")
    p2.add_argument("--frames", type=int, default=21, help="frames per model, step 0 included  [21]")
    p2.add_argument("--seed", type=int, default=0, help="random seed  [0]")
    p2.add_argument("--workers", type=int, default=None,
                    help="models trained at once, one process and thread each  [one per CPU core]")
    p2.set_defaults(func=cmd_lab2d)


def cmd_lab1d(args: argparse.Namespace) -> int:
    from ..viz.lab1d import run_lab1d, torch_threads

    out = Path(args.out or f"runs/lab1d-{args.data}")
    print(f"ganforge: 1-D lab: gan on {args.data}, {args.steps} steps, {args.frames} frames -> {out}", flush=True)
    with torch_threads(1):
        r = run_lab1d(out, data=args.data, steps=args.steps, frames=args.frames, seed=args.seed, lr=args.lr,
                      log=lambda s: print(s, flush=True))
    c = r.checks
    print(f"ganforge: animation {r.gif}" + (f" and {r.mp4}" if r.mp4 else " (no ffmpeg: no MP4)"))
    print(f"ganforge: stills {', '.join(str(p) for p in r.stills)}")
    print(f"theory, final G fixed: D trained to convergence vs D* = p_data/(p_data+p_g): "
          f"max |D - D*| {c['max_abs_D_minus_Dstar']:.4f}, mean {c['mean_abs_D_minus_Dstar']:.4f} "
          f"(where p_data + p_g >= 5% of its max), averaged under (p_data + p_g)/2 "
          f"{c['mixture_weighted_abs_D_minus_Dstar']:.4f}")
    print(f"theory: C(G) = {c['C_of_G']:.5f}; -log 4 + 2 JSD(p_data || p_g) = {c['minus_log4_plus_2JSD']:.5f}; "
          f"V(D_trained, G) = {c['V_of_D_trained']:.5f}; -log 4 = {c['minus_log4']:.5f}")
    print(f"theory at p_g = p_data: C = {c['C_at_pg_equal_pdata']:.6f}, max |D* - 1/2| = "
          f"{c['max_abs_Dstar_minus_half_at_pg_equal_pdata']:.1e}")
    print(f"ganforge: {r.theory_figure}, {out / 'theory.json'}; {r.seconds:.1f} s")
    return 0


def cmd_lab2d(args: argparse.Namespace) -> int:
    from ..viz.lab1d import torch_threads
    from ..viz.lab2d import lab_config, parse_model_specs, run_lab2d

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected an integer >= 1")
    out = Path(args.out or f"runs/lab2d-{args.data}")
    specs = parse_model_specs(args.model)
    for spec in specs:  # an unknown key or a bad value: one line before the banner and any training
        lab_config(spec, args.data, args.steps, args.seed).refuse_ignored_options()
    print(f"ganforge: 2-D lab on {args.data}: {', '.join(s.label for s in specs)}; {args.steps} steps each -> {out}",
          flush=True)
    with torch_threads(1):
        r = run_lab2d(out, data=args.data, specs=specs, steps=args.steps, frames=args.frames, seed=args.seed,
                      workers=args.workers, log=lambda s: print(s, flush=True))
    for label, rows in r.metrics.items():
        last = rows[-1]
        print(f"{label}: final modes covered {last['modes_covered']}/{last['num_modes']}, "
              f"high-quality fraction {last['high_quality_fraction']:.3f}; GIF {r.gifs[label]}")
    print(f"ganforge: comparison {r.comparison}; metrics {out / 'modes.json'}; {r.seconds:.1f} s")
    return 0
