"""Figures for docs/models.md's "Augmentation, GMAN and GAM" section, drawn from runs' metrics.jsonl.

- ``--ada NONE_RUN ADA_RUN``: r_t = mean sign D(x_real) of both runs and ADA's p (ada-subset-fmnist.png);
- ``--gman RUN ...``: metric/fid against generator steps, one line per run (gman-fid-fmnist.png).

    .venv/bin/python bench/milestones_figures.py --ada /tmp/ms/ada-none /tmp/ms/ada-ada \\
        --gman /tmp/ms/gman-1 /tmp/ms/gman-2 /tmp/ms/gman-5 --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.viz.curves import read_metrics
from ganforge.viz.plotting import pyplot, save_figure


def ada_figure(none_run: Path, ada_run: Path, out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    for run, label in ((none_run, "no augmentation"), (ada_run, "--augment ada")):
        series = read_metrics(run / "metrics.jsonl")
        ax.plot(*series["D/r_t"], "-", label=f"r_t, {label}")
        if "augment/p" in series:
            ax.plot(*series["augment/p"], "--", label="p, --augment ada")
    ax.axhline(0.6, color="gray", lw=0.8, ls=":", label="ADA target 0.6")
    ax.set_xlabel("step")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("dcgan on a 2,000-image Fashion-MNIST subset: r_t and p", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, out / "ada-subset-fmnist.png")


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
    parser.add_argument("--ada", nargs=2, type=Path, metavar=("NONE_RUN", "ADA_RUN"))
    parser.add_argument("--gman", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    if args.ada:
        print(ada_figure(*args.ada, args.out))
    if args.gman:
        print(gman_figure(args.gman, args.out))


if __name__ == "__main__":
    main()
