"""Every model of the family at the same wall-clock budget on one dataset: FID, KID, precision/recall, Parzen.

Each model trains from its recipe (configs/<model>.yaml) with the shared loop for ``--budget-s`` seconds of
wall-clock time (``torch.set_num_threads(--threads)``), then ``ganforge.metrics.evaluate.evaluate_model`` scores
``--n`` samples with the dataset's domain-classifier features. Prints a markdown table (docs/models.md,
"Every model at the same budget").

    .venv/bin/python bench/family_table.py --budget-s 120 --figure docs/images/family-fashion-mnist.png

Wall-clock budgets are only comparable on an otherwise idle machine: the table records the steps each model
managed, and the machine's load average at the start and end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset
from ganforge.errors import run_script
from ganforge.metrics.evaluate import evaluate_model
from ganforge.train import Trainer

MODELS = ["gan", "dcgan", "wgan", "wgan-gp", "lsgan", "sngan", "cgan", "sgan", "infogan", "aae", "ebgan",
          "vaegan", "ae", "vae"]
MODELS += ["progan", "stylegan2"]  # issue 11
CORE_RECIPES = {"gan": dict(model="gan"), "dcgan": dict(model="dcgan")}


def recipe(model: str, configs: Path) -> dict:
    path = configs / f"{model}.yaml"
    return load_yaml_config(path) if path.is_file() else dict(CORE_RECIPES[model])


def _cell(values: dict, key: str, fmt: str) -> str:
    return format(values[key], fmt) if key in values else "n/a"


def samples_figure(out: Path, models: list[str], path: Path, per_row: int = 10) -> None:
    """One row of ``per_row`` samples (seed 0) per trained model under ``out``, labelled, as one PNG."""
    from ganforge.run import load_run
    from ganforge.viz.plotting import pyplot

    plt = pyplot()
    runs = [(m, load_run(out / m)) for m in models if (out / m / "checkpoints" / "latest.pt").is_file()]
    fig, axes = plt.subplots(len(runs), 1, figsize=(per_row * 0.6 + 1.2, len(runs) * 0.62 + 0.2), squeeze=False)
    for ax, (model, run) in zip(axes[:, 0], runs, strict=True):
        x = run.sample(per_row, seed=0)  # (n, C, H, W) in [0, 1]
        row = torch.cat(list(x.permute(0, 2, 3, 1)), dim=1).squeeze(-1).numpy()
        ax.imshow(row, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(f"{model}\n{run.step} st.", rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--n", type=int, default=5000, help="samples per evaluation")
    parser.add_argument("--metrics", default="fid,kid,pr,parzen")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=str(Path(__file__).resolve().parents[1] / "configs"))
    parser.add_argument("--out", default="runs/family-table")
    parser.add_argument("--figure", default=None, help="also write one row of samples per model to this PNG")
    parser.add_argument("--figure-only", action="store_true", help="only redraw --figure from the runs in --out")
    args = parser.parse_args()
    if args.figure_only:
        samples_figure(Path(args.out), args.models, Path(args.figure or "family-samples.png"))
        return
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    load_start = os.getloadavg()[0]
    rows = []
    for model in args.models:
        values = {**recipe(model, Path(args.configs)), "data": args.data, "steps": 10**9,
                  "sample_every": 10**9, "checkpoint_every": 10**9}
        cfg = TrainConfig.from_dict(values, source=f"recipe {model}")
        run_dir = Path(args.out) / model
        shutil.rmtree(run_dir, ignore_errors=True)
        trainer = Trainer(cfg, run_dir, dataset=ds, progress=False)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.budget_s:
            trainer.train_step()
        seconds = time.perf_counter() - t0
        trainer.save_checkpoint()
        t1 = time.perf_counter()
        scores = evaluate_model(trainer.model, ds, args.metrics, min(args.n, len(ds)))
        rows.append((model, trainer.step, seconds, scores, time.perf_counter() - t1))
        print(model, trainer.step, f"{seconds:.0f} s", {k: round(v, 4) for k, v in scores.items()}, flush=True)
    print(f"\n{args.data}, {args.budget_s:.0f} s of training each, {args.threads} threads, {args.n} samples per "
          f"evaluation; load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end\n")
    print("| model | steps | train s | FID | KID | precision | recall | Parzen (nats) | eval s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, steps, seconds, v, eval_s in rows:
        parzen = f"{v['parzen']:.1f} ± {v['parzen_se']:.1f}" if "parzen" in v else "n/a"
        print(f"| {model} | {steps} | {seconds:.0f} | {_cell(v, 'fid', '.1f')} | {_cell(v, 'kid', '.2f')} | "
              f"{_cell(v, 'precision', '.3f')} | {_cell(v, 'recall', '.3f')} | {parzen} | {eval_s:.0f} |")
    if args.figure:
        samples_figure(Path(args.out), args.models, Path(args.figure))


if __name__ == "__main__":
    sys.exit(run_script(main))
