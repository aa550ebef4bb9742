"""stylegan2 against dcgan at equal wall-clock time on Fashion-MNIST 32x32: FID (domain features) over time.

Each model trains from its recipe (``configs/stylegan2.yaml``; ``dcgan`` with its defaults) one after the
other, with the shared loop driven step by step; every ``--every-s`` seconds of training time the clock stops,
``--n`` samples (seed 0; stylegan2 samples from its G average) are scored with FID on the dataset's domain
classifier features, and the clock restarts. Prints a markdown table and writes the FID-vs-minutes figure and
one sample grid per model (seed 0, 64 samples) at the end of its budget.

    .venv/bin/python bench/stylegan2_vs_dcgan.py --budget-s 600 --every-s 120 --out runs/sg2-vs-dcgan \\
        --figure docs/images/stylegan2-vs-dcgan-fid.png --grids docs/images

Wall-clock comparisons hold only on the same machine under the same load: the script prints the load average
at the start and end of each model's run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset, to_data_range
from ganforge.errors import run_script
from ganforge.images import grid_scale, make_grid, save_image
from ganforge.metrics.evaluate import evaluate_model
from ganforge.train import Trainer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def recipe(model: str) -> dict:
    path = CONFIGS / f"{model}.yaml"
    values = load_yaml_config(path) if path.is_file() else {"model": model}
    return {**values, "model": model, "data": "fashion-mnist", "image_size": 32}


def train_with_evaluations(model: str, ds, out: Path, budget_s: float, every_s: float, n: int) -> dict:
    """Train ``model`` for ``budget_s`` seconds of training time, scoring FID every ``every_s`` seconds."""
    cfg = TrainConfig.from_dict({**recipe(model), "steps": 10**9, "sample_every": 10**9,
                                 "checkpoint_every": 10**9}, source=f"recipe {model}")
    run_dir = out / model
    shutil.rmtree(run_dir, ignore_errors=True)
    trainer = Trainer(cfg, run_dir, dataset=ds, progress=False)
    load_start = os.getloadavg()[0]
    points, trained, next_eval = [], 0.0, every_s
    while trained < budget_s:
        t0 = time.perf_counter()
        trainer.train_step()
        trained += time.perf_counter() - t0
        if trained >= next_eval or trained >= budget_s:
            fid = evaluate_model(trainer.model, ds, "fid", n)["fid"]
            points.append((trained, trainer.step, fid))
            print(f"{model}: {trained / 60:.1f} min, step {trainer.step}, FID {fid:.1f}", flush=True)
            next_eval += every_s
    trainer.save_checkpoint()
    (run_dir / "fid_points.json").write_text(json.dumps(points))
    return {"points": points, "trainer": trainer, "load": (load_start, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["dcgan", "stylegan2"])
    parser.add_argument("--budget-s", type=float, default=600.0)
    parser.add_argument("--every-s", type=float, default=120.0)
    parser.add_argument("--n", type=int, default=2000, help="samples per FID")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/sg2-vs-dcgan")
    parser.add_argument("--figure", default=None, help="FID-vs-minutes PNG")
    parser.add_argument("--grids", default=None, help="directory for one sample grid per model")
    parser.add_argument("--plot-only", action="store_true",
                        help="train nothing: read OUT/MODEL/fid_points.json of earlier runs (e.g. one process "
                             "per model, run side by side) and print the table and figure")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.plot_only:
        results = {m: {"points": json.loads((Path(args.out) / m / "fid_points.json").read_text()),
                       "trainer": None, "load": (float("nan"), float("nan"))} for m in args.models}
        args.grids = None
    else:
        ds = load_dataset("fashion-mnist", image_size=32)
        results = {m: train_with_evaluations(m, ds, Path(args.out), args.budget_s, args.every_s, args.n)
                   for m in args.models}
    length = f"points read from {args.out}" if args.plot_only else f"{args.budget_s:.0f} s of training each"
    print(f"\nFashion-MNIST 32x32, {length}, {args.threads} thread(s), FID on {args.n} samples (domain features)\n")
    print("| model | minutes | steps | FID |")
    print("|---|---|---|---|")
    for model, r in results.items():
        for seconds, steps, fid in r["points"]:
            print(f"| {model} | {seconds / 60:.1f} | {steps} | {fid:.1f} |")
    for model, r in results.items() if not args.plot_only else ():
        print(f"{model}: load average {r['load'][0]:.1f} at start, {r['load'][1]:.1f} at end")
    if args.figure:
        from ganforge.viz.plotting import pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for model, r in results.items():
            ax.plot([p[0] / 60 for p in r["points"]], [p[2] for p in r["points"]], marker="o", label=model)
        ax.set_xlabel("training time (min)")
        ax.set_ylabel(f"FID (domain features, n={args.n})")
        ax.set_title("Fashion-MNIST 32x32 at equal wall-clock time")
        ax.legend()
        fig.tight_layout()
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
        plt.close(fig)
    if args.grids:
        for model, r in results.items():
            trainer = r["trainer"]
            trainer.model.eval()
            with torch.no_grad():
                z = trainer.model.sample_latent(64, torch.Generator().manual_seed(0))
                x = to_data_range(trainer.model.generate(z), "image").cpu()
            path = Path(args.grids) / f"{model}-fmnist32-{args.budget_s / 60:.0f}min.png"
            save_image(make_grid(x, nrow=8), path, scale=grid_scale(32))
            print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(run_script(main))
