"""Figures for docs/models.md's "Augmentation, GMAN and GAM" section, drawn from runs' metrics.jsonl.

- ``--ada RUN ...``: FID against steps (where the runs evaluated during training), r_t = mean sign D(x_real)
  of every run and ADA's p (``--ada-name``, ada-subset-fmnist.png); ``--ada-evals EVAL.json ...`` adds a panel
  of ``ganforge eval --out`` results of kept checkpoints (several ``--seed`` draws of one step: mean and sd);
- ``--gman RUN ...``: metric/fid against generator steps, one line per run (gman-fid-fmnist.png).

    .venv/bin/python bench/milestones_figures.py --ada /tmp/ms/ada-none /tmp/ms/ada-ada \\
        --gman /tmp/ms/gman-1 /tmp/ms/gman-2 /tmp/ms/gman-5 --out docs/images
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from ganforge.errors import run_script
from ganforge.viz.curves import read_metrics
from ganforge.viz.plotting import pyplot, save_figure


def eval_draws(paths: list[Path]) -> tuple[dict[str, dict[int, list[float]]], set[int]]:
    """``ganforge eval --out`` files -> ({run name: {step: [FID of each draw]}}, the sample counts they used);
    a run is named by its directory's name."""
    draws: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: set[int] = set()
    for path in paths:
        result = json.loads(path.read_text())
        draws[Path(result["run_dir"]).name][int(result["step"])].append(float(result["values"]["fid"]))
        counts.add(int(result["n"]))
    return draws, counts


def ada_figure(runs: list[Path], out: Path, name: str = "ada-subset-fmnist.png",
               evals: list[Path] | None = None) -> Path:
    """Panels over the steps of each run (labelled by its directory's name): metric/fid where the run
    evaluated during training, and r_t = mean sign D(x_real) (solid) with ADA's p (dashed) where logged;
    with ``evals``, first the FID of kept checkpoints on more samples (mean and sd over the draws of a step)."""
    plt = pyplot()
    with_fid = any("metric/fid" in read_metrics(run / "metrics.jsonl") for run in runs)
    draws, counts = eval_draws(evals or [])
    panels = int(bool(draws)) + int(with_fid) + 1
    fig, axes = plt.subplots(1, panels, figsize=(6.0 * panels, 3.4), dpi=100, squeeze=False)
    axes = list(axes[0])
    ax_eval = axes.pop(0) if draws else None
    ax_fid = axes.pop(0) if with_fid else None
    ax = axes[0]
    for i, run in enumerate(runs):
        series = read_metrics(run / "metrics.jsonl")
        colour = f"C{i}"
        if ax_fid is not None and "metric/fid" in series:
            ax_fid.plot(*series["metric/fid"], "-o", ms=3, color=colour, label=run.name)
        if ax_eval is not None and run.name in draws:
            steps = sorted(draws[run.name])
            fids = [draws[run.name][s] for s in steps]
            ax_eval.errorbar(steps, [statistics.mean(f) for f in fids],
                             yerr=[statistics.stdev(f) if len(f) > 1 else 0.0 for f in fids],
                             fmt="-o", ms=3, capsize=3, color=colour, label=run.name)
        ax.plot(*series["D/r_t"], "-", lw=1, color=colour, label=f"r_t, {run.name}")
        if "augment/p" in series:
            ax.plot(*series["augment/p"], "--", color=colour, label=f"p, {run.name}")
    if ax_eval is not None:
        ax_eval.set_xlabel("step")
        ax_eval.set_ylabel("FID (domain features)")
        ax_eval.set_title(f"kept checkpoints: FID on {'/'.join(f'{k:,}' for k in sorted(counts))} samples, "
                          "mean and sd of the draws", fontsize=10)
        ax_eval.legend(fontsize=8)
    if ax_fid is not None:
        ax_fid.set_xlabel("step")
        ax_fid.set_ylabel("FID (domain features)")
        ax_fid.set_title("FID during training", fontsize=10)
        ax_fid.legend(fontsize=8)
    ax.axhline(0.6, color="gray", lw=0.8, ls=":", label="ADA target 0.6")
    ax.set_xlabel("step")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("r_t = E[sign D(x_real)] and ADA's p", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("dcgan on a 2,000-image Fashion-MNIST subset", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out / name)


def gman_figure(runs: list[Path], out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    for run in runs:
        steps, fid = read_metrics(run / "metrics.jsonl")["metric/fid"]
        ax.plot(steps, fid, "-o", ms=3, label=run.name)
    ax.set_xlabel("generator steps")
    ax.set_ylabel("FID (domain features)")
    ax.set_title("gman on Fashion-MNIST: N discriminators", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / "gman-fid-fmnist.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ada", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--ada-name", default="ada-subset-fmnist.png", help="file name of the --ada figure")
    parser.add_argument("--ada-evals", nargs="+", type=Path, metavar="EVAL_JSON",
                        help="ganforge eval --out files of the --ada runs' kept checkpoints (one per --seed draw)")
    parser.add_argument("--gman", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    if args.ada:
        print(ada_figure(args.ada, args.out, args.ada_name, args.ada_evals))
    if args.gman:
        print(gman_figure(args.gman, args.out))


if __name__ == "__main__":
    sys.exit(run_script(main))
