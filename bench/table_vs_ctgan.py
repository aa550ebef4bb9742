"""ganforge's ``ctgan`` beside the authors' ``ctgan`` package on the same table, epochs, batch size and seeds.

Both train on the same training split (ganforge's seeded 80/10/10 split of the table), are sampled for as
many rows, and are measured by the same functions (``ganforge.metrics.table.evaluate_table``) against
the same real rows. Seconds per epoch are training time only (the package's transformer fit and ganforge's
data loading excluded), both with the same number of torch threads.

The ``ctgan`` package is never a ganforge dependency: it runs in its own Python, given by ``--ctgan-python``
(a venv with ``pip install torch==2.13.0 ctgan``), as a subprocess of this script (``--worker``).

    python bench/table_vs_ctgan.py --data fair --epochs 100 --seeds 0,1,2 \\
        --data-dir /path/to/statsmodels/datasets --ctgan-python /tmp/ctvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def worker(args: argparse.Namespace) -> None:
    """Runs inside the ctgan package's Python: fit on --train-csv, write --n rows to --out-csv, print JSON."""
    import pandas as pd
    import torch
    from ctgan import CTGAN

    torch.set_num_threads(args.threads)
    discrete = [c for c in args.discrete.split(",") if c]
    data = pd.read_csv(args.train_csv, dtype={c: str for c in discrete}, keep_default_na=False)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = CTGAN(epochs=args.epochs, batch_size=args.batch_size, pac=10, verbose=False, cuda=False)
    model.set_random_state(args.seed)
    # training time alone: the epochs loop runs over tqdm(range(epochs)); a wrapper notes when it starts and ends
    import ctgan.synthesizers.ctgan as module

    marks: list[float] = []
    inner_tqdm = module.tqdm

    def timed(iterable, *a, **k):
        marks.append(time.perf_counter())
        yield from inner_tqdm(iterable, *a, **k)
        marks.append(time.perf_counter())

    module.tqdm = timed
    t0 = time.perf_counter()
    model.fit(data, discrete)
    total = time.perf_counter() - t0
    train_s = marks[-1] - marks[0]
    transformer_s = total - train_s
    model.sample(args.n).to_csv(args.out_csv, index=False)
    print(json.dumps({"train_s": total - transformer_s, "transformer_s": transformer_s}))


def run_ganforge(data: str, data_dir: str | None, epochs: int, batch: int, seed: int, n: int, threads: int,
                 model: str = "ctgan"):
    import torch

    from ganforge.data import load_dataset
    from ganforge.data.table import TableSpec
    from ganforge.models import config_for
    from ganforge.run import load_run
    from ganforge.train import Trainer

    torch.set_num_threads(threads)
    ds = load_dataset(data, data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_for(model=model, data=data, data_dir=data_dir, epochs=float(epochs), batch_size=batch,
                         seed=seed, sample_every=10**9, checkpoint_every=10**9, device="cpu")
        trainer = Trainer(cfg, Path(tmp) / "run", dataset=ds, progress=False)
        trainer.fit()
        run = load_run(Path(tmp) / "run")
        spec = TableSpec(run.data.table)
        synth = spec.decode(run.sample(n, seed=seed).numpy())
        return ds, synth, trainer.elapsed_s


def run_package(python: str, ds, epochs: int, batch: int, seed: int, n: int, threads: int):
    from ganforge.data.table import DISCRETE_KINDS, TableSpec, infer_columns, read_csv, to_frame

    spec = TableSpec(ds.meta["table"])
    discrete = [c["name"] for c in spec.columns if c["kind"] in DISCRETE_KINDS]
    with tempfile.TemporaryDirectory() as tmp:
        train_csv, out_csv = Path(tmp) / "train.csv", Path(tmp) / "synth.csv"
        spec.write_csv(ds.meta["frames"]["train"], train_csv)
        cmd = [python, __file__, "--worker", "--train-csv", str(train_csv), "--out-csv", str(out_csv),
               "--discrete", ",".join(discrete), "--epochs", str(epochs), "--batch-size", str(batch),
               "--seed", str(seed), "--n", str(n), "--threads", str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
        if done.returncode:
            raise SystemExit(f"the ctgan package failed:\n{done.stderr[-3000:]}")
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        header, rows = read_csv(out_csv)
        columns = infer_columns(header, rows, "synth")
        kinds = {c["name"]: c["kind"] for c in spec.columns}
        for c in columns:  # read the package's rows with the real table's kinds, rounded as ganforge rounds
            c["kind"] = kinds[c["name"]]
        synth = to_frame(columns, rows)
        for c in spec.columns:
            if c["kind"] in ("continuous", "integer"):
                synth[c["name"]] = np.round(synth[c["name"]], c["decimals"])
        return synth, timing["train_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--train-csv"), p.add_argument("--out-csv"), p.add_argument("--discrete", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="fair")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--n", type=int, default=None, help="synthetic rows per run  [the training split's size]")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ctgan-python", default=None, help="python of a venv with the ctgan package  [skip it]")
    p.add_argument("--out", default=None, help="JSON file for every run's figures")
    p.add_argument("--baselines", default="", help="also ganforge's plain MLP models on the same encoded rows, "
                   "e.g. gan,wgan-gp (the naive baseline: no conditional vector, no packing)  [none]")
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    from ganforge.metrics.table import evaluate_table

    baselines = [m for m in args.baselines.split(",") if m]
    rows: dict[str, list[dict[str, float]]] = {"ganforge ctgan": [], "ctgan package": [],
                                               **{f"ganforge {m}": [] for m in baselines}}
    for seed in (int(s) for s in args.seeds.split(",")):
        from ganforge.data import load_dataset

        ds = load_dataset(args.data, args.data_dir)
        frames, table = ds.meta["frames"], ds.meta["table"]
        n = args.n or len(frames["train"][next(iter(frames["train"]))])
        _, synth, seconds = run_ganforge(args.data, args.data_dir, args.epochs, args.batch_size, seed, n,
                                         args.threads)
        values = evaluate_table(synth, frames["train"], frames["test"], frames["test"], table, seed=seed)["values"]
        rows["ganforge ctgan"].append({**values, "s_per_epoch": seconds / args.epochs})
        print(f"seed {seed} ganforge ctgan: " + json.dumps(rows["ganforge ctgan"][-1]), flush=True)
        for m in baselines:
            _, synth, seconds = run_ganforge(args.data, args.data_dir, args.epochs, args.batch_size, seed, n,
                                             args.threads, model=m)
            values = evaluate_table(synth, frames["train"], frames["test"], frames["test"], table,
                                    seed=seed)["values"]
            rows[f"ganforge {m}"].append({**values, "s_per_epoch": seconds / args.epochs})
            print(f"seed {seed} ganforge {m}: " + json.dumps(rows[f"ganforge {m}"][-1]), flush=True)
        if args.ctgan_python:
            synth, seconds = run_package(args.ctgan_python, ds, args.epochs, args.batch_size, seed, n, args.threads)
            values = evaluate_table(synth, frames["train"], frames["test"], frames["test"], table,
                                    seed=seed)["values"]
            rows["ctgan package"].append({**values, "s_per_epoch": seconds / args.epochs})
            print(f"seed {seed} ctgan package: " + json.dumps(rows["ctgan package"][-1]), flush=True)
    keys = list(rows["ganforge ctgan"][0])
    print(f"\n{args.data}, {args.epochs} epochs, batch {args.batch_size}, seeds {args.seeds}, {args.threads} "
          "thread(s): mean (std over seeds)")
    print("measure".ljust(32) + "".join(f"{name:>24}" for name in rows if rows[name]))
    for k in keys:
        cells = []
        for runs in rows.values():
            if runs:
                v = np.array([r[k] for r in runs], dtype=float)
                cells.append(f"{v.mean():>14.4f} ({v.std():.4f})")
        print(k.ljust(32) + "".join(f"{c:>24}" for c in cells))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
