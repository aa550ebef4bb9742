"""The truncation trick on a trained stylegan2 run: FID, precision and recall (k = 3, domain features) per psi.

For each psi, ``--n`` samples (seed 0) from ``w_avg + psi (w - w_avg)`` are scored against the first ``--n``
training images with ``ganforge.metrics.evaluate``. Prints a markdown table; ``--figure`` plots precision and
recall against psi, ``--grid`` writes one row of samples (the same seed) per psi.

    .venv/bin/python bench/truncation_sweep.py runs/stylegan2-fashion-mnist --figure truncation-pr.png \\
        --grid truncation-rows.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ganforge.data import load_dataset
from ganforge.errors import run_script
from ganforge.metrics.evaluate import evaluate_model
from ganforge.run import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--psi", type=float, nargs="+", default=[0.5, 0.7, 0.85, 1.0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", default=None)
    parser.add_argument("--grid", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = load_run(args.run_dir)
    ds = load_dataset(run.config.data, run.config.data_dir, False, run.config.image_size)
    rows = []
    for psi in args.psi:
        run.set_truncation(psi)
        values = evaluate_model(run, ds, "fid,pr", min(args.n, len(ds.split("train"))), seed=0)
        rows.append((psi, values))
        print(psi, {k: round(v, 4) for k, v in values.items()}, flush=True)
    print(f"\n{run.config.model} run {run.run_dir} (step {run.step}), {args.n} samples, domain features\n")
    print("| psi | FID | precision | recall |")
    print("|---|---|---|---|")
    for psi, v in rows:
        print(f"| {psi} | {v['fid']:.1f} | {v['precision']:.3f} | {v['recall']:.3f} |")
    if args.figure:
        from ganforge.viz.plotting import pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(4.5, 3.0))
        ax.plot(args.psi, [v["precision"] for _, v in rows], marker="o", label="precision")
        ax.plot(args.psi, [v["recall"] for _, v in rows], marker="s", label="recall")
        ax.set_xlabel("truncation psi")
        ax.set_ylabel(f"k-NN precision / recall (n={args.n})")
        ax.set_title(f"{run.config.model}, step {run.step}")
        ax.legend()
        fig.tight_layout()
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
        plt.close(fig)
    if args.grid:
        from ganforge.images import grid_scale, make_grid, save_image

        per_row = 10
        x = torch.cat([run.sample(per_row, seed=0, truncation=psi) for psi in args.psi])
        save_image(make_grid(x, nrow=per_row), args.grid, scale=grid_scale(x.shape[-1]))


if __name__ == "__main__":
    sys.exit(run_script(main))
