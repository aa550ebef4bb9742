"""``ganforge gam RUN_A RUN_B [RUN_C ...]``: the Generative Adversarial Metric (Im et al. 2016) between trained
runs: each generator against the other's discriminator. Two runs: one battle, printed (``--json``: as JSON).
More: every pair plays, and the tournament matrix is written to ``--out``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from ..rundir import atomic_write_text


def add_parser(sub) -> None:
    p = sub.add_parser(
        "gam", help="GAN against GAN: the generative adversarial metric (Im et al. 2016)",
        description="Judge trained runs by swapping their players (Im et al. 2016): r_test is D_A's error on "
                    "held-out real data over D_B's, r_samples D_A's error on G_B's samples over D_B's on G_A's. "
                    "r_samples < 1: A wins; > 1: B wins; a tie when r_test is outside [1/(1+t), 1+t], "
                    "t = --tolerance (the discriminators judge real data too differently for the battle to mean "
                    "anything). With more "
                    "than two runs every pair plays and the tournament matrix is written to --out. The runs must "
                    "model the same dataset, with a D of x alone that classifies (gan, dcgan, lsgan, sngan, gman, "
                    "stylegan2; D calls x real above its objective's midpoint: logit 0, least squares 0.5); a "
                    "Wasserstein critic (wgan, wgan-gp) has no such threshold and is refused.")
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="two or more run directories")
    p.add_argument("--n", type=int, default=2000, help="held-out test images and samples per generator  [2000]")
    p.add_argument("--seed", type=int, default=0, help="noise seed for the samples  [0]")
    p.add_argument("--tolerance", type=float, default=None,
                   help="t: a battle is valid when 1/(1+t) <= r_test <= 1+t  [0.2]")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's files")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", default=None, metavar="FILE.json",
                   help="tournament matrix (more than two runs)  [gam_tournament.json]")
    p.set_defaults(func=cmd_gam)


#: Where a discriminator's output turns from "fake" to "real", by objective: the logit's 0, or least squares'
#: midpoint between its fake (0) and real (1) targets. A Wasserstein critic's output has none (any constant
#: can be added to it), so GAM cannot read it as a verdict.
DECISION_THRESHOLD = {"nonsaturating": 0.0, "minimax": 0.0, "hinge": 0.0, "least-squares": 0.5}


def decision_threshold(run) -> float:
    objective = run.config.objective
    if objective not in DECISION_THRESHOLD:
        raise UserError(f"gam: {run.run_dir} ({run.config.model}) has a {objective} critic, whose output has no "
                        "real/fake threshold: expected runs whose D classifies (gan, dcgan, lsgan, sngan, gman, "
                        "stylegan2)")
    return DECISION_THRESHOLD[objective]


def judge_all(runs: list, x_test, n: int, seed: int):
    """``(test_logits, sample_logits)``: ``test_logits[i]`` D_i's outputs on the held-out images,
    ``sample_logits[i][j]`` D_i's on G_j's ``n`` samples (every tensor in the model range, on the CPU), less D_i's
    :func:`decision_threshold`, so that > 0 means "real" for every D."""
    import torch

    from ..data import to_model_range

    def in_batches(fn, x, size=500):
        with torch.inference_mode():
            return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])

    samples = []
    for run in runs:
        x = run.sample(n, seed=seed)  # data range
        samples.append(x.mul(2).sub(1) if run.data.kind == "image" else x)
    real = to_model_range(torch.as_tensor(x_test))
    shift = [decision_threshold(run) for run in runs]
    test_logits = [in_batches(run.model.discriminator_logits, real.to(run.device)).cpu() - t
                   for run, t in zip(runs, shift, strict=True)]
    sample_logits = [[in_batches(run.model.discriminator_logits, s.to(run.device)).cpu() - t for s in samples]
                     for run, t in zip(runs, shift, strict=True)]
    return test_logits, sample_logits


def cmd_gam(args: argparse.Namespace) -> int:
    from ..metrics.gam import GAM_TOLERANCE, gam_battle
    from ..run import load_run
    from ..rundir import check_writable_output

    if len(args.runs) < 2:
        raise UserError("gam: expected at least two run directories (RUN_A RUN_B ...)")
    if len({Path(r).resolve() for r in args.runs}) != len(args.runs):  # runs/a and runs/a/ are one run
        raise UserError("gam: a run is named twice: expected distinct run directories")
    if args.n < 1:
        raise UserError(f"--n {args.n}: expected an integer >= 1")
    tolerance = GAM_TOLERANCE if args.tolerance is None else args.tolerance
    if not tolerance >= 0:
        raise UserError(f"--tolerance {args.tolerance}: expected a number >= 0")
    if args.out is not None and len(args.runs) == 2:
        raise UserError("--out: two runs play one battle, printed (--json for the record); --out is the "
                        "tournament file of three or more runs")
    out = Path(args.out or "gam_tournament.json")
    if len(args.runs) > 2:
        check_writable_output(out)  # before the battles, not after them
    runs = [load_run(r) for r in args.runs]
    for run in runs:
        decision_threshold(run)  # a Wasserstein critic is refused before any sampling
    from ..data.core import absolute_data_name  # a folder named relatively (older runs) or absolutely

    for run in runs[1:]:
        if (absolute_data_name(run.data_name), run.data.shape) != (absolute_data_name(runs[0].data_name),
                                                                   runs[0].data.shape):
            raise UserError(f"gam: {run.run_dir} models {run.data_name} {run.data.shape}, {runs[0].run_dir} "
                            f"{runs[0].data_name} {runs[0].data.shape}: expected runs on the same data")
    dataset = runs[0].dataset(args.data_dir)
    x_test = dataset.split("test")[:args.n]
    test_logits, sample_logits = judge_all(runs, x_test, args.n, args.seed)
    names = [str(r.run_dir) for r in runs]
    battles = {(i, j): gam_battle(test_logits[i], test_logits[j], sample_logits[i][j], sample_logits[j][i],
                                  tolerance)
               for i in range(len(runs)) for j in range(len(runs)) if i != j}
    label = [f"{r.run_dir} ({r.config.model}, step {r.step})" for r in runs]
    if len(runs) == 2:
        battle = battles[(0, 1)]
        winner = {"A": names[0], "B": names[1], "tie": "tie"}[battle.winner]
        record = {"A": names[0], "B": names[1], "n_test": len(x_test), "n_samples": args.n,
                  "tolerance": tolerance, **battle.to_dict(), "winner_run": winner}
        if args.json:
            print(json.dumps(record, indent=2))
            return 0
        print(f"ganforge gam: A = {label[0]}, B = {label[1]}; {len(x_test)} held-out "
              f"{dataset.name} test examples, {args.n} samples per generator")
        print(f"  D_A error on test data {battle.error_a_test:.4f}   D_B {battle.error_b_test:.4f}   "
              f"r_test    {battle.r_test:.4f}")
        print(f"  D_A error on G_B samples {battle.error_a_on_b_samples:.4f}   D_B on G_A samples "
              f"{battle.error_b_on_a_samples:.4f}   r_samples {battle.r_samples:.4f}")
        if not battle.valid:
            print(f"  winner: tie (r_test {battle.r_test:.3f} is outside [1/{1 + tolerance:g}, {1 + tolerance:g}]: "
                  "the discriminators judge real data too differently for the battle to be valid)")
        else:
            print(f"  winner: {battle.winner}" + (f" ({winner})" if battle.winner != "tie" else ""))
        return 0
    k = len(runs)
    wins = [sum(battles[(i, j)].winner == "A" for j in range(k) if j != i) for i in range(k)]
    matrix = [[None if i == j else battles[(i, j)].to_dict() for j in range(k)] for i in range(k)]
    table = {"runs": names, "models": [r.config.model for r in runs], "n_test": len(x_test), "n_samples": args.n,
             "tolerance": tolerance, "wins": wins,
             "r_samples": [[None if i == j else matrix[i][j]["r_samples"] for j in range(k)] for i in range(k)],
             "r_test": [[None if i == j else matrix[i][j]["r_test"] for j in range(k)] for i in range(k)],
             "battles": matrix}
    atomic_write_text(out, json.dumps(table, indent=2) + "\n")
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"ganforge gam: tournament of {k} runs on {dataset.name} ({len(x_test)} test examples, {args.n} samples "
          f"each); row A against column B: r_samples (* = valid, A wins below 1)")
    width = max(len(n) for n in names)
    print(" " * (width + 2) + "".join(f"{j:>10d}" for j in range(k)) + "   wins")
    for i in range(k):
        cells = []
        for j in range(k):
            if i == j:
                cells.append(f"{'-':>10s}")
            else:
                b = battles[(i, j)]
                cells.append(f"{b.r_samples:>9.3f}{'*' if b.valid else ' '}")
        print(f"{i}: {names[i]:<{width}}" + "".join(cells) + f"   {wins[i]}")
    print(f"ganforge: wrote {out}")
    return 0
