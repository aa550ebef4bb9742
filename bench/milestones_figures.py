"""Figures for docs/models.md's "Augmentation, GMAN and GAM" section, drawn from runs' metrics.jsonl.

- ``--ada RUN ...``: FID against steps (where the runs evaluated during training), r_t = mean sign D(x_real)
  of every run and ADA's p (``--ada-name``, ada-subset-fmnist.png);
- ``--gman RUN ...``: metric/fid against generator steps, one line per run (gman-fid-fmnist.png).

    .venv/bin/python bench/milestones_figures.py --ada /tmp/ms/ada-none /tmp/ms/ada-ada \\
        --gman /tmp/ms/gman-1 /tmp/ms/gman-2 /tmp/ms/gman-5 --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.viz.curves import read_metrics
from ganforge.viz.plotting import pyplot, save_figure


def ada_figure(runs: list[Path], out: Path, name: str = "ada-subset-fmnist.png") -> Path:
    """Two panels over the steps of each run (labelled by its directory's name): metric/fid where the run
    evaluated during training, and r_t = mean sign D(x_real) (solid) with ADA's p (dashed) where logged."""
    plt = pyplot()
    with_fid = any("metric/fid" in read_metrics(run / "metrics.jsonl") for run in runs)
    fig, axes = plt.subplots(1, 2 if with_fid else 1, figsize=(12.0 if with_fid else 6.4, 3.4), dpi=100,
                             squeeze=False)
    ax_fid, ax = (axes[0, 0], axes[0, 1]) if with_fid else (None, axes[0, 0])
    for i, run in enumerate(runs):
        series = read_metrics(run / "metrics.jsonl")
        colour = f"C{i}"
        if ax_fid is not None and "metric/fid" in series:
            ax_fid.plot(*series["metric/fid"], "-o", ms=3, color=colour, label=run.name)
        ax.plot(*series["D/r_t"], "-", lw=1, color=colour, label=f"r_t, {run.name}")
        if "augment/p" in series:
            ax.plot(*series["augment/p"], "--", color=colour, label=f"p, {run.name}")
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
    parser.add_argument("--gman", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    if args.ada:
        print(ada_figure(args.ada, args.out, args.ada_name))
    if args.gman:
        print(gman_figure(args.gman, args.out))


if __name__ == "__main__":
    main()
