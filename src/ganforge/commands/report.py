"""``ganforge report RUN_DIR``: one offline HTML page per run."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write RUN_DIR/report.html: config, curves, samples, eval, interpolations",
                       description="Write a self-contained RUN_DIR/report.html (figures under RUN_DIR/report/, "
                                   "relative links, readable offline): configuration, loss and D(x)/D(G(z)) curves, "
                                   "the fixed-noise samples over training (strip and GIF), final samples, the "
                                   "eval.json table when 'ganforge eval' has run, and latent interpolations.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--seed", type=int, default=0, help="noise seed for final samples and interpolations  [0]")
    p.add_argument("--no-sample", action="store_true",
                   help="do not load the checkpoint: no fresh samples, no interpolations")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..viz.report import write_report

    out = write_report(args.run_dir, sample=not args.no_sample, interpolations=not args.no_sample, seed=args.seed,
                       log=lambda s: print(f"  {s}", flush=True))
    print(f"ganforge: wrote {out} (figures in {out.parent / 'report'})")
    return 0
