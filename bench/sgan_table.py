"""The semi-supervised table of the lectures (Odena 2016): test accuracy with N labels, supervised-only vs sgan.

For each N in ``--labels`` and each seed: train ``sgan`` (``--config``, default configs/sgan-salimans.yaml,
``--labels N``) for ``--steps``, keeping ``best.pt`` by validation accuracy every ``--eval-every`` steps
(``--keep-best val_accuracy``: the first 2,000 validation images, which neither network trains on), then
``sgan_test_accuracy`` (its discriminator as a classifier) of the checkpoint chosen on validation and of the
last one, and ``supervised_baseline_accuracy`` (the same network trained on the same N examples alone, as many
updates as sgan's D took, scored on the same validation images as often as best.pt was chosen, at three
learning rates: the (lr, update) that scores best gives its test accuracy). Prints one line per run and the
mean and std over seeds as a markdown table.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sgan_table.py --data fashion-mnist --steps 3000 --threads 1
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset
from ganforge.models.sgan import sgan_test_accuracy, supervised_baseline_accuracy
from ganforge.run import load_run
from ganforge.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    results: dict[int, list[tuple[float, float, float]]] = {}
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
            results.setdefault(n, []).append((cnn, best, last))
            sweep = ", ".join(f"{lr:.0e}: {acc:.3f}" for lr, acc in baseline["sweep"].items())
            print(f"labels {n} seed {seed}: supervised-only {cnn:.4f} (lr {baseline['lr']:.0e} after "
                  f"{baseline['update']} updates; best val {sweep})  "
                  f"sgan {best:.4f} (best.pt, step {best_step}), last {last:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    dropout = f", dropout {args.dropout:g}" if args.dropout is not None else ""
    print(f"\n{args.data}, {Path(args.config).name}, {args.steps} steps{dropout}, mean ± sample std over seeds "
          f"{args.seeds}\n")
    print("| labelled examples | supervised only (same network) | sgan, chosen on validation | sgan, last |")
    print("|---|---|---|---|")
    for n, rows in results.items():
        a = np.array(rows)
        print(f"| {n} | " + " | ".join(f"{a[:, i].mean():.3f} ± {a[:, i].std(ddof=min(1, len(a) - 1)):.3f}"
                                          for i in range(3)) + " |")


if __name__ == "__main__":
    main()
