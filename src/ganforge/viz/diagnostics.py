"""Collapse diagnostics for a run's report: modes over time (toy mixtures), the gap D(x) - D(G(z)) over
training, and a nearest-neighbour memorisation panel (generated images beside their closest training images).

Each function returns the figures it wrote as ``(path, caption, pixelated)`` or a note (str) saying why it
could not draw one; none raises for a run that lacks what it needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .curves import read_metrics
from .plotting import pyplot, save_figure

Figure = tuple[Path, str, bool]
#: Samples scored per checkpoint for modes over time (VEEGAN's and PacGAN's 2,500).
MODE_SAMPLES = 2500


def gap_curve(run_dir: Path, out_dir: Path) -> Figure | str:
    """mean D(x) - mean D(G(z)) per logging interval from metrics.jsonl (probabilities for the log-loss
    objectives, raw scores for the others). A gap near 0 with D(G(z)) near 1/2 is the equilibrium; a gap
    that grows toward 1 means D wins outright and G's gradient fades; a gap that swings is oscillation."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return "no metrics.jsonl: no D(x) - D(G(z)) gap curve"
    series = read_metrics(path)
    pairs = [(r, f, u) for r, f, u in (("D/real", "D/fake", "probability"), ("D/score_real", "D/score_fake", "score"))
             if r in series and f in series]
    if not pairs:
        return "this model logs no D(x) and D(G(z)): no gap curve"
    real, fake, unit = pairs[0]
    (steps_r, values_r), (steps_f, values_f) = series[real], series[fake]
    n = min(len(steps_r), len(steps_f))
    gap = values_r[:n] - values_f[:n]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=100)
    ax.plot(steps_r[:n], gap, "-", marker="o" if n < 30 else None, ms=3, color="tab:red")
    ax.axhline(0.0, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel(f"D(x) - D(G(z)) ({unit})")
    ax.set_title("discriminator gap (0 at the equilibrium)", fontsize=10)
    fig.tight_layout()
    out = save_figure(fig, out_dir / "diagnostics_gap.png")
    return out, (f"mean D(x) - mean D(G(z)) per logging interval ({unit}); last {gap[-1]:.3f}. Near 0: "
                 "balanced; toward 1: D rejects every sample and G's gradient fades; swinging: oscillation"), False


def modes_over_time(run_dir: Path, out_dir: Path, data_name: str, data_dir: str | None = None) -> Figure | str:
    """Modes covered and the high-quality share over training for a toy mixture: from the ``metric/modes_covered``
    and ``metric/high_quality_fraction`` an ``--eval-every ... --eval-metrics modes`` run logged, else by scoring
    2,500 samples of each kept checkpoint (``checkpoints/step_*.pt``, ``--keep-every``) and the latest."""
    from ..data import load_dataset

    try:
        ds = load_dataset(data_name, data_dir)
    except UserError as e:
        return f"modes over time: {e}"
    if "means" not in ds.meta:
        return "modes over time: only for toy mixtures (ring8, grid25)"
    steps, covered, quality = [], [], []
    series = read_metrics(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").is_file() else {}
    if "metric/modes_covered" in series and "metric/high_quality_fraction" in series:
        steps, covered = series["metric/modes_covered"]
        quality = series["metric/high_quality_fraction"][1]
        source = "logged by --eval-every (metric modes)"
    else:
        from ..metrics.modes import mode_coverage
        from ..run import load_run

        ckpts = sorted((run_dir / "checkpoints").glob("step_*.pt")) + [run_dir / "checkpoints" / "latest.pt"]
        seen = set()
        for path in ckpts:
            if not path.is_file():
                continue
            run = load_run(run_dir, path)
            if run.step in seen:
                continue
            seen.add(run.step)
            cov = mode_coverage(run.sample(MODE_SAMPLES, seed=0), ds.meta["means"], ds.meta["std"])
            steps.append(run.step)
            covered.append(cov["modes_covered"])
            quality.append(cov["high_quality_fraction"])
        if not steps:
            return "modes over time: no checkpoint to score"
        source = f"scored on {MODE_SAMPLES:,} samples of each kept checkpoint"
    k = len(ds.meta["means"])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=100)
    ax.plot(steps, covered, "-o", ms=3, color="tab:blue", label="modes covered")
    ax.set_ylim(0, k + 0.5)
    ax.set_ylabel(f"modes covered (of {k})")
    ax.set_xlabel("step")
    ax2 = ax.twinx()
    ax2.plot(steps, 100 * np.asarray(quality, dtype=float), "-s", ms=3, color="tab:orange", label="high-quality %")
    ax2.set_ylim(0, 101)
    ax2.set_ylabel("high-quality samples (%)")
    ax.set_title(f"modes over time on {data_name}", fontsize=10)
    fig.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = save_figure(fig, out_dir / "diagnostics_modes.png")
    return out, (f"modes covered (a high-quality sample within 3 std of the mode) and the share of high-quality "
                 f"samples, {source}; last: {int(covered[-1])}/{k}, {100 * float(quality[-1]):.1f}%"), False


@torch.no_grad()
def memorisation_panel(run, out_dir: Path, seed: int = 0, n: int = 1000, reference: int = 10_000
                       ) -> Figure | str:
    """The generated images nearest to the training set (the likeliest copies), each beside its 3 nearest
    training images, with the median nearest-neighbour distance of samples vs held-out real images."""
    from ..images import grid_scale, save_image
    from ..metrics.memorisation import memorisation_report, nearest_neighbour_grid

    if run.data.kind != "image":
        return "memorisation panel: for image data (toy points have no training examples to copy)"
    try:
        ds = run.dataset()  # as training read it; refused when the files changed since
    except UserError as e:
        return f"memorisation panel: {e}"
    train = torch.from_numpy(ds.split("train")[:reference])
    heldout = torch.from_numpy(ds.split("test")[:n]).float() / 255.0
    fake = run.sample(n, seed=seed)
    report = memorisation_report(fake, train.float() / 255.0, heldout)
    grid = nearest_neighbour_grid(fake, train, num_neighbours=3, num_rows=8)
    out = out_dir / "diagnostics_memorisation.png"
    save_image(grid, out, scale=grid_scale(run.data.shape[-1]))
    return out, (f"left: the 8 of {n:,} samples nearest to the training set; right: their 3 nearest training "
                 f"images (of {len(train):,}). Median nearest-training distance: samples "
                 f"{report['fake_nn_median']:.3f}, held-out real {report['heldout_nn_median']:.3f} (ratio "
                 f"{report['nn_distance_ratio']:.2f}; well below 1 would mean copies)"), True
