"""The semi-supervised table of the lectures (Odena 2016): test accuracy with N labels, supervised-only vs sgan.

For each N in ``--labels`` and each seed: train ``sgan`` (``--config``, default configs/sgan-salimans.yaml,
``--labels N``) for ``--steps``, keeping ``best.pt`` by validation accuracy every ``--eval-every`` steps
(``--keep-best val_accuracy``: the first 2,000 validation images, which neither network trains on), then
``sgan_test_accuracy`` (its discriminator as a classifier) of the checkpoint chosen on validation and of the
last one, and ``supervised_baseline_accuracy`` (the same network trained on the same N examples alone, as many
updates as sgan's D took, scored on the same validation images as often as best.pt was chosen, at three
learning rates: the (lr, update) that scores best gives its test accuracy). Prints one line per run, the
table ``--from-runs`` prints (below) and, per label count, the mean accuracy of sgan's last checkpoint.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sgan_table.py --data fashion-mnist --steps 3000 --threads 1

``--from-runs RUN_DIR ...`` trains nothing: it reads runs made by ``ganforge train`` and scored by ``ganforge eval
RUN --checkpoint best --metrics accuracy`` (their config.yaml and eval.json), groups them by recipe (the config
values other than seed and bookkeeping) and label count, and prints each group's mean and sample sd over seeds
of both columns and of the paired differences, and whether the mean difference exceeds all three spreads (the
issue's "beyond the seeds' spread"):

    .venv/bin/python bench/sgan_table.py --from-runs runs/fm-long runs/fm-long-s1 runs/fm-long-s2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset
from ganforge.errors import run_script
from ganforge.models.sgan import sgan_test_accuracy, supervised_baseline_accuracy
from ganforge.run import load_run
from ganforge.train import Trainer


def scored_run(run_dir: Path) -> dict:
    """One sgan run scored by ``ganforge eval``: its dataset, steps, labels and seed (config.yaml) and the test
    accuracies of sgan and of its supervised-only baseline (eval.json), with the checkpoint eval scored."""
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        record = json.loads((run_dir / "eval.json").read_text())
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise SystemExit(f"{run_dir}: expected a run scored by `ganforge eval RUN --checkpoint best --metrics "
                         f"accuracy` (config.yaml and eval.json): {e}") from None
    values = record["values"]
    if "accuracy_supervised_only" not in values:
        raise SystemExit(f"{run_dir}/eval.json: no accuracy_supervised_only (expected `ganforge eval RUN "
                         f"--checkpoint best --metrics accuracy`)")
    return {"run": str(run_dir), "data": config["data"], "steps": config["steps"], "labels": config["labels"],
            "seed": config["seed"], "checkpoint": record.get("checkpoint", "?"), "step": record["step"],
            "sgan": values["accuracy"], "supervised": values["accuracy_supervised_only"],
            "recipe": {k: v for k, v in config.items() if k not in NOT_RECIPE}}


#: config keys that do not change what a run learns (or that the table shows in its own columns)
NOT_RECIPE = {"seed", "labels", "sample_every", "checkpoint_every", "keep_every", "device", "progress"}


def sample_sd(values: np.ndarray) -> float:
    """Sample sd over seeds (ddof 1); NaN for a single seed, whose spread is unknown."""
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def summarise(runs: list[dict]) -> list[dict]:
    """``runs`` grouped by recipe (every config value but the seed, the label count and bookkeeping) and label
    count: per group the seeds, the mean and sample sd of sgan's and the baseline's accuracies and of their
    paired differences (sgan − supervised, in points), ``recipe``: the config values that tell this group's
    recipe from the others' (data and steps always), and ``beyond``: the mean difference is larger than each of
    the three sds (False for a single seed: no spread is known)."""
    varying = sorted({k for r in runs for k in r["recipe"] if any(q["recipe"].get(k) != r["recipe"][k] for q in runs)}
                     - {"data", "steps"})
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        recipe = (("data", r["data"]), ("steps", r["steps"])) + tuple((k, r["recipe"].get(k)) for k in varying)
        groups.setdefault((recipe, r["labels"]), []).append(r)
    rows = []
    for (recipe, labels), members in sorted(groups.items(), key=lambda kv: (repr(kv[0][0]), -kv[0][1])):
        members.sort(key=lambda r: r["seed"])
        sgan = np.array([r["sgan"] for r in members])
        supervised = np.array([r["supervised"] for r in members])
        diff = 100 * (sgan - supervised)
        row = {"recipe": dict(recipe), "labels": labels, "seeds": [r["seed"] for r in members],
               "sgan": (float(sgan.mean()), sample_sd(sgan)),
               "supervised": (float(supervised.mean()), sample_sd(supervised)),
               "difference": (float(diff.mean()), sample_sd(diff)), "by_seed": diff.tolist()}
        spreads = (100 * row["sgan"][1], 100 * row["supervised"][1], row["difference"][1])
        row["beyond"] = len(members) > 1 and all(row["difference"][0] > s for s in spreads)
        rows.append(row)
    return rows


def print_from_runs(run_dirs: list[str]) -> None:
    runs = [scored_run(Path(d)) for d in run_dirs]
    for r in runs:
        print(f"{r['run']}: {r['data']} labels {r['labels']} seed {r['seed']} steps {r['steps']}: sgan "
              f"{r['sgan']:.4f} ({r['checkpoint']} checkpoint, step {r['step']}), "
              f"supervised-only {r['supervised']:.4f}")
    print_table(runs)


def print_table(runs: list[dict]) -> None:
    """The markdown table of ``summarise(runs)``: one row per recipe and label count."""
    print("\n| recipe | labelled examples | seeds | supervised only | sgan | sgan − supervised, points: "
          "mean (sd); by seed | beyond the seeds' spread |")
    print("|---|---|---|---|---|---|---|")
    for row in summarise(runs):
        by_seed = ", ".join(f"{d:+.1f}" for d in row["by_seed"])
        recipe = ", ".join(f"{k} {v}" for k, v in row["recipe"].items())
        print(f"| {recipe} | {row['labels']} | {' '.join(map(str, row['seeds']))} | "
              f"{row['supervised'][0]:.3f} ({row['supervised'][1]:.3f}) | "
              f"{row['sgan'][0]:.3f} ({row['sgan'][1]:.3f}) | "
              f"{row['difference'][0]:+.1f} ({row['difference'][1]:.1f}); {by_seed} | "
              f"{'yes' if row['beyond'] else 'no'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-runs", nargs="+", metavar="RUN_DIR",
                        help="train nothing: tabulate these runs' eval.json (ganforge eval --metrics accuracy)")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--labels", type=int, nargs="+", default=[1000, 100, 50, 25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--dropout", type=float, default=None,
                        help="dropout after each hidden layer of D and of the supervised-only network [recipe's]")
    parser.add_argument("--eval-every", type=int, default=500,
                        help="steps between validation-accuracy evaluations that choose best.pt (0: last only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config",
                        default=str(Path(__file__).resolve().parents[1] / "configs" / "sgan-salimans.yaml"))
    parser.add_argument("--out", default="runs/sgan-table")
    args = parser.parse_args()
    if args.from_runs:
        print_from_runs(args.from_runs)
        return
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    runs: list[dict] = []
    for n in args.labels:
        for seed in args.seeds:
            values = {**load_yaml_config(args.config), "data": args.data, "labels": n, "seed": seed,
                      "steps": args.steps, "sample_every": args.steps, "checkpoint_every": args.steps}
            if args.eval_every:
                values.update(eval_every=args.eval_every, eval_metrics="val_accuracy", keep_best="val_accuracy")
            if args.width:
                values["width"] = args.width
            if args.dropout is not None:
                values["dropout"] = args.dropout
            run_dir = Path(args.out) / f"labels{n}-seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            trainer = Trainer(TrainConfig.from_dict(values), run_dir, dataset=ds, progress=False)
            t0 = time.perf_counter()
            trainer.fit()
            last = sgan_test_accuracy(trainer.model, ds)["accuracy"]
            if args.eval_every:
                chosen = load_run(run_dir, "best")
                best, best_step = sgan_test_accuracy(chosen, ds)["accuracy"], chosen.step
            else:
                best, best_step = last, args.steps
            baseline = supervised_baseline_accuracy(trainer.model, ds, seed=seed)
            cnn = baseline["accuracy"]
            runs.append({"data": args.data, "steps": args.steps, "labels": n, "seed": seed, "sgan": best,
                         "supervised": cnn, "last": last,
                         "recipe": {k: v for k, v in values.items() if k not in NOT_RECIPE}})
            sweep = ", ".join(f"{lr:.0e}: {acc:.3f}" for lr, acc in baseline["sweep"].items())
            print(f"labels {n} seed {seed}: supervised-only {cnn:.4f} (lr {baseline['lr']:.0e} after "
                  f"{baseline['update']} updates; best val {sweep})  "
                  f"sgan {best:.4f} (best.pt, step {best_step}), last {last:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    dropout = f", dropout {args.dropout:g}" if args.dropout is not None else ""
    print(f"\n{args.data}, {Path(args.config).name}, {args.steps} steps{dropout}, seeds {args.seeds}")
    print_table(runs)
    for n in args.labels:
        last = np.array([r["last"] for r in runs if r["labels"] == n])
        print(f"{n} labels: sgan's last checkpoint instead of best.pt, mean (sd) {last.mean():.3f} "
              f"({sample_sd(last):.3f})")


if __name__ == "__main__":
    sys.exit(run_script(main))
