"""The semi-supervised table of the lectures (Odena 2016): test accuracy with N labels, supervised-only vs sgan.

For each N in ``--labels`` and each seed: train ``sgan`` (``--config``, default configs/sgan-salimans.yaml,
``--labels N``) for ``--steps``, then ``sgan_test_accuracy`` (its discriminator as a classifier) and
``supervised_baseline_accuracy`` (the same network trained on the same N examples alone, as many updates as
sgan's D took, the best of three learning rates on the validation split). Prints one line per run and the mean
and std over seeds as a markdown table.

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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config",
                        default=str(Path(__file__).resolve().parents[1] / "configs" / "sgan-salimans.yaml"))
    parser.add_argument("--out", default="runs/sgan-table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    results: dict[int, list[tuple[float, float]]] = {}
    for n in args.labels:
        for seed in args.seeds:
            values = {**load_yaml_config(args.config), "data": args.data, "labels": n, "seed": seed,
                      "steps": args.steps, "sample_every": args.steps, "checkpoint_every": args.steps}
            if args.width:
                values["width"] = args.width
            if args.dropout is not None:
                values["dropout"] = args.dropout
            run_dir = Path(args.out) / f"labels{n}-seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            trainer = Trainer(TrainConfig.from_dict(values), run_dir, dataset=ds, progress=False)
            t0 = time.perf_counter()
            trainer.fit()
            sgan = sgan_test_accuracy(trainer.model, ds)["accuracy"]
            baseline = supervised_baseline_accuracy(trainer.model, ds, seed=seed)
            cnn = baseline["accuracy"]
            results.setdefault(n, []).append((cnn, sgan))
            sweep = ", ".join(f"{lr:.0e}: {acc:.3f}" for lr, acc in baseline["sweep"].items())
            print(f"labels {n} seed {seed}: supervised-only {cnn:.4f} (lr {baseline['lr']:.0e}; val {sweep})  "
                  f"sgan {sgan:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    dropout = f", dropout {args.dropout:g}" if args.dropout is not None else ""
    print(f"\n{args.data}, {Path(args.config).name}, {args.steps} steps{dropout}, mean ± std over seeds "
          f"{args.seeds}\n")
    print("| labelled examples | supervised only (same network) | sgan |")
    print("|---|---|---|")
    for n, pairs in results.items():
        a = np.array(pairs)
        print(f"| {n} | {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f} | {a[:, 1].mean():.3f} ± {a[:, 1].std():.3f} |")


if __name__ == "__main__":
    main()
