"""The remedies against mode collapse on ring8 and grid25 (docs/models.md, "Remedies").

Trains the plain non-saturating ``gan`` (the 2014 MLPs) on each mixture without and with each remedy of
``ganforge.remedies`` (same steps, seed, networks and optimiser), plus any full recipe given as a YAML config,
and scores 2,500 samples by VEEGAN's protocol (``mode_coverage``: a sample is high quality within 3 std of
its nearest mode; a mode is covered by >= 1 of them) and by PacGAN's stricter count (a mode with fewer than
20 high-quality samples of 2,500 is lost).

    OMP_NUM_THREADS=1 .venv/bin/python bench/remedies_modes.py --out runs/remedies
    OMP_NUM_THREADS=1 .venv/bin/python bench/remedies_modes.py --recipes configs/gan-toy-pacgan.yaml
    OMP_NUM_THREADS=1 .venv/bin/python bench/remedies_modes.py --score runs/grid25 runs/grid25:step_010000.pt

``--score RUN[:CHECKPOINT]`` scores runs trained elsewhere (``ganforge train``) the same way, on their latest
checkpoint or on ``checkpoints/CHECKPOINT`` (``--keep-every``'s ``step_XXXXXX.pt``, ``best.pt``). With
``--drs STEPS`` it also scores 2,500 samples kept by discriminator rejection sampling (``ganforge.rejection``:
a critic fitted for STEPS minibatches at the run's D learning rate, as ``ganforge sample --drs``):

    OMP_NUM_THREADS=1 .venv/bin/python bench/remedies_modes.py --score runs/grid25 --drs 2000 --drs-quantile 0.8
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from ganforge.config import load_yaml_config
from ganforge.data import load_dataset
from ganforge.data.core import to_data_range
from ganforge.errors import run_script
from ganforge.metrics.modes import mode_coverage
from ganforge.models.base import config_for
from ganforge.run import load_run
from ganforge.train import Trainer

#: label -> options added to the plain non-saturating GAN (one remedy each, with the papers' usual values).
REMEDIES = {
    "plain": {},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "feature matching 1": {"feature_matching": 1.0},
    "minibatch discrimination 8": {"minibatch_features": 8},
    "historical averaging 0.01": {"historical_averaging": 0.01},
    "unrolled 5": {"unroll": 5},
    "pack 2": {"pack": 2},
    "instance noise 0.1": {"instance_noise": 0.1},
    "TTUR lr_d 4e-4 lr_g 1e-4": {"lr_d": 4e-4, "lr_g": 1e-4},
    "G EMA 10k images": {"g_ema": 10_000.0},
    "mixture prior 50": {"prior": "mixture"},  # 50 Gaussians of std 0.25 around fixed centres in R^16
}
NUM_SAMPLES = 2500  # VEEGAN's and PacGAN's protocol
STRICT_COUNT = 20  # PacGAN: fewer than 20 high-quality samples of 2,500 is a lost mode
#: The shared base of every remedy row: the 2014 GAN for points (G two ReLU layers of 128, D 25 maxout units of
#: 5 pieces), Adam 1e-3 / beta1 0.5, batch 128, z in R^16.
BASE = {"model": "gan", "batch_size": 128, "width": 128, "latent_dim": 16, "lr": 1e-3}


def score_points(x: torch.Tensor, ds) -> dict:
    """``mode_coverage`` of points ``x (NUM_SAMPLES, 2)`` plus ``strict``: modes with >= STRICT_COUNT of them."""
    cov = mode_coverage(x, ds.meta["means"], ds.meta["std"])
    cov["strict"] = sum(c >= STRICT_COUNT for c in cov["mode_counts"])
    return cov


def score(trainer: Trainer, ds) -> dict:
    """The run's samples (G's average when it keeps one) of the fixed latents (seed 123), scored."""
    return score_points(trainer.generate(trainer.model.sample_latent(NUM_SAMPLES, torch.Generator().manual_seed(123))),
                        ds)


def load_saved(spec: str):
    """``RUN_DIR`` or ``RUN_DIR:CHECKPOINT`` (a file in its checkpoints/) -> (the loaded run, its dataset)."""
    run_dir, _, checkpoint = spec.partition(":")
    run = load_run(run_dir, Path(run_dir) / "checkpoints" / checkpoint if checkpoint else None)
    return run, load_dataset(run.data_name)


@torch.inference_mode()
def score_saved(run, ds) -> dict:
    """The saved run's samples of the same latents as :func:`score`, scored."""
    x = run.model.generate(run.model.sample_latent(NUM_SAMPLES, torch.Generator().manual_seed(123)))
    return score_points(to_data_range(x, run.data.kind).cpu(), ds)


def score_drs(spec: str, run, ds, steps: int, quantiles: list[float | None], seed: int = 0) -> None:
    """Print the scores of ``NUM_SAMPLES`` points kept by DRS (z seed 123) for each gamma quantile, after fitting
    one critic (``seed``) to the saved ``run`` (``spec`` names it in the lines)."""
    from ganforge.rejection import drs_sample, fit_critic

    t0 = time.perf_counter()
    critic = fit_critic(run.model, run.training_examples(), steps=steps, seed=seed)
    fit_s = time.perf_counter() - t0
    print(f"{spec}  DRS critic ({critic.start}, {steps} steps at lr {critic.lr:g}, {fit_s:.0f} s): accuracy "
          f"{critic.accuracy:.3f}, loss {critic.loss:.3f}", flush=True)
    for q in quantiles:
        kept = drs_sample(run.model, critic.model, NUM_SAMPLES, seed=123, gamma_quantile=q)
        cov = score_points(to_data_range(kept.x, run.data.kind), ds)
        print(f"{spec}  DRS gamma quantile {q}  modes {cov['modes_covered']}/{cov['num_modes']} (>= {STRICT_COUNT}: "
              f"{cov['strict']})  high-quality {100 * cov['high_quality_fraction']:.1f}%  acceptance "
              f"{100 * kept.acceptance:.2f}%  gamma {kept.gamma:.2f}  counts {cov['mode_counts']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--remedies", nargs="*", default=list(REMEDIES), help="labels of REMEDIES to run")
    parser.add_argument("--recipes", nargs="*", default=[], help="YAML configs run as they are (their own steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=0, help="log modes over time into each run")
    parser.add_argument("--out", default="runs/remedies")
    parser.add_argument("--json", default=None, help="append one JSON line per run here")
    parser.add_argument("--score", nargs="+", metavar="RUN[:CHECKPOINT]", help="only score these saved runs")
    parser.add_argument("--drs", type=int, default=0, metavar="STEPS",
                        help="with --score: also score DRS samples, the critic fitted for STEPS minibatches")
    parser.add_argument("--drs-quantile", type=float, nargs="*", default=[],
                        help="with --drs: gamma quantiles to score besides gamma 0 (exact rejection)")
    args = parser.parse_args()
    if args.score:
        for spec in args.score:
            run, ds = load_saved(spec)
            cov = score_saved(run, ds)
            print(f"{spec}  {run.data_name} step {run.step}  modes {cov['modes_covered']}/{cov['num_modes']} "
                  f"(>= {STRICT_COUNT}: {cov['strict']})  high-quality {100 * cov['high_quality_fraction']:.1f}%  "
                  f"counts {cov['mode_counts']}", flush=True)
            if args.drs:
                score_drs(spec, run, ds, args.drs, [None, *args.drs_quantile], args.seed)
        return
    jobs = [(label, {**BASE, "steps": args.steps, **REMEDIES[label]}) for label in args.remedies]
    jobs += [(Path(r).stem, load_yaml_config(r)) for r in args.recipes]
    rows = []
    for data in args.data:
        ds = load_dataset(data)
        for label, options in jobs:
            options = {**options, "data": data, "seed": args.seed}
            steps = options["steps"]
            extra = {"eval_every": args.eval_every, "eval_metrics": "modes", "eval_n": NUM_SAMPLES} \
                if args.eval_every else {}
            cfg = config_for(**{"sample_every": steps, "checkpoint_every": steps, **options, **extra})
            run_dir = Path(args.out) / f"{label.replace(' ', '_')}-{data}-s{args.seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            trainer = Trainer(cfg, run_dir, dataset=ds, progress=False)
            t0 = time.perf_counter()
            trainer.fit()
            seconds = time.perf_counter() - t0
            cov = score(trainer, ds)
            rows.append((data, label, cov, seconds))
            print(f"{data:7s} {label:28s} modes {cov['modes_covered']:2d}/{cov['num_modes']} "
                  f"(>= {STRICT_COUNT}: {cov['strict']:2d})  high-quality {cov['high_quality_fraction']:.3f}  "
                  f"{seconds:.0f} s", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({"data": data, "label": label, "steps": steps, "seed": args.seed,
                                        "seconds": round(seconds, 1), **cov}) + "\n")
    print(f"\n| data | GAN + remedy | modes (>= 1 of {NUM_SAMPLES}) | modes (>= {STRICT_COUNT}, PacGAN) | "
          "high-quality % | train time (s) |")
    print("|---|---|---|---|---|---|")
    for data, label, cov, seconds in rows:
        k = cov["num_modes"]
        print(f"| {data} | {label} | {cov['modes_covered']}/{k} | {cov['strict']}/{k} | "
              f"{100 * cov['high_quality_fraction']:.1f} | {seconds:.0f} |")


if __name__ == "__main__":
    sys.exit(run_script(main))
