"""ganforge's ``ctgan`` beside the authors' ``ctgan`` package on the same table, epochs, batch size and seeds.

Both train on the same training split (ganforge's seeded 80/10/10 split of the table), are sampled for as
many rows, and are measured by the same functions (``ganforge.metrics.table.evaluate_table``) against
the same real rows. Seconds per epoch are training time only (the package's transformer fit and ganforge's
data loading excluded), both with the same number of torch threads; so are milliseconds per step (an epoch
is ceil(rows / batch) steps in ganforge, rows // batch in the package) and CPU seconds per epoch (the
process's CPU time, all its threads, over the package's epoch loop and over ganforge's ``Trainer.fit``, which
also writes the step-0 sample CSV and the last checkpoint: on a machine shared with other jobs a steadier
measure of the work than wall time). ``--epoch-length package`` (the default) trains ganforge for the package's
number of steps (epochs x rows // batch), so that an epoch is the same work in both; ``--epoch-length
ganforge`` keeps ganforge's own epoch (ceil, up to 10% more steps). Within each seed the runs alternate
(ganforge, package, and each ``--threads`` value in turn), so load from other jobs falls on both alike.

``--variants`` trains several ganforge ``ctgan`` settings side by side, e.g. ``"gp_every=1;gp_every=4"``
(each a row; ``key=value`` pairs of TrainConfig fields joined by ``,``).

The ``ctgan`` package is never a ganforge dependency: it runs in its own Python, given by ``--ctgan-python``
(a venv with ``pip install torch==2.13.0 ctgan``), as a subprocess of this script (``--worker``).

    python bench/table_vs_ctgan.py --data fair --epochs 100 --seeds 0,1,2 --threads 1,2 \\
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

from ganforge.errors import run_script


def worker(args: argparse.Namespace) -> None:
    """Runs inside the ctgan package's Python: fit on --train-csv, write --n rows to --out-csv, print JSON."""
    import pandas as pd
    import torch
    from ctgan import CTGAN

    torch.set_num_threads(int(args.threads))
    discrete = [c for c in args.discrete.split(",") if c]
    data = pd.read_csv(args.train_csv, dtype={c: str for c in discrete}, keep_default_na=False)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = CTGAN(epochs=args.epochs, batch_size=args.batch_size, pac=10, verbose=False, cuda=False)
    model.set_random_state(args.seed)
    # training time alone: the epochs loop runs over tqdm(range(epochs)); a wrapper notes when it starts and ends
    import ctgan.synthesizers.ctgan as module

    marks: list[float] = []
    cpu: list[float] = []
    inner_tqdm = module.tqdm

    def timed(iterable, *a, **k):
        marks.append(time.perf_counter())
        cpu.append(time.process_time())
        yield from inner_tqdm(iterable, *a, **k)
        marks.append(time.perf_counter())
        cpu.append(time.process_time())

    module.tqdm = timed
    t0 = time.perf_counter()
    model.fit(data, discrete)
    total = time.perf_counter() - t0
    train_s = marks[-1] - marks[0]
    transformer_s = total - train_s
    model.sample(args.n).to_csv(args.out_csv, index=False)
    steps = args.epochs * max(len(data) // args.batch_size, 1)  # the package's steps per epoch: rows // batch
    print(json.dumps({"train_s": total - transformer_s, "transformer_s": transformer_s, "steps": steps,
                      "cpu_s": cpu[-1] - cpu[0]}))


def parse_variant(text: str) -> dict[str, int | float | str]:
    """``"gp_every=4,adam_fused=off"`` -> ``{"gp_every": 4, "adam_fused": "off"}`` (numbers as numbers)."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit(f"--variants {text!r}: expected key=value pairs joined by ','")

    def value(v: str) -> int | float | str:
        for kind in (int, float):
            try:
                return kind(v)
            except ValueError:
                pass
        return v

    return {k.strip(): value(v.strip()) for k, v in pairs}


def run_ganforge(data: str, data_dir: str | None, epochs: int, batch: int, seed: int, n: int, threads: int,
                 model: str = "ctgan", options: dict[str, str] | None = None, steps: int | None = None,
                 extra_samples: tuple[str, ...] = ()):
    """Train and sample one ganforge model; ``steps`` (when given) replaces ``epochs`` as the run's length.
    Returns ``(dataset, rows, seconds, steps, cpu seconds, extra)``, ``extra`` a dict of ``n`` more rows of the
    same model for each name in ``extra_samples``: ``"no-copies"`` drawn as ``ganforge sample --no-copies``
    draws them (no row equal to a training row), ``"log-freq"`` as ``ganforge sample --condition-frequency
    log`` (the package's conditions)."""
    import torch

    from ganforge.data import load_dataset
    from ganforge.models import config_for
    from ganforge.run import load_run
    from ganforge.train import Trainer

    torch.set_num_threads(threads)
    ds = load_dataset(data, data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        length = {"steps": steps} if steps else {"epochs": float(epochs)}
        cfg = config_for(model=model, data=data, data_dir=data_dir, **length, batch_size=batch,
                         seed=seed, sample_every=10**9, checkpoint_every=10**9, device="cpu", **(options or {}))
        trainer = Trainer(cfg, Path(tmp) / "run", dataset=ds, progress=False)
        cpu = time.process_time()
        trainer.fit()
        cpu = time.process_time() - cpu
        run = load_run(Path(tmp) / "run")
        synth, _ = run.sample_table_rows(n, seed)
        samplers = {"no-copies": lambda: without_copies(run, ds.meta["frames"]["train"], n, seed),
                    "log-freq": lambda: log_frequency_rows(run, n, seed)}
        extra = {name: samplers[name]() for name in extra_samples}
        return ds, synth, trainer.elapsed_s, trainer.step, cpu, extra


def log_frequency_rows(run, n: int, seed: int):
    """``n`` decoded rows of ``run`` with training-by-sampling's log-frequency conditions (the package's rule)."""
    run.model.log_frequency_sampling = True
    try:
        return run.sample_table_rows(n, seed)[0]
    finally:
        run.model.log_frequency_sampling = False


def without_copies(run, train, n: int, seed: int):
    """``n`` decoded rows of ``run`` none of which equals a row of ``train``: the rows of ``run.sample(n, seed)``
    (the unfiltered sample) less its copies, then more rounds until ``n`` remain (as ``sample --no-copies``)."""
    from ganforge.metrics.table import copies_of

    return run.sample_table_rows(n, seed, keep=lambda frame: ~copies_of(frame, train))[0]


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
        return synth, timing["train_s"], timing["steps"], timing["cpu_s"]


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
    p.add_argument("--threads", default="1", help="torch threads of both, e.g. 1 or 1,2 (each a row; the "
                   "measures are taken at the first, the others are timed only)  [1]")
    p.add_argument("--ctgan-python", default=None, help="python of a venv with the ctgan package  [skip it]")
    p.add_argument("--out", default=None, help="JSON file for every run's figures")
    p.add_argument("--epoch-length", choices=("package", "ganforge"), default="package",
                   help="steps in an epoch of ganforge's runs: the package's rows // batch (the same work per "
                   "epoch in both) or ganforge's own ceil(rows / batch)  [package]")
    p.add_argument("--no-copies", action="store_true",
                   help="also measure each ganforge ctgan model's rows drawn as `ganforge sample --no-copies` "
                   "draws them (rows equal to a training row dropped and redrawn): a row of its own  [off]")
    p.add_argument("--log-frequency", action="store_true",
                   help="also measure each ganforge ctgan model's rows sampled with log-frequency conditions "
                   "(`ganforge sample --condition-frequency log`, as the package samples): a row of its own  [off]")
    p.add_argument("--baselines", default="", help="also ganforge's plain MLP models on the same encoded rows, "
                   "e.g. gan,wgan-gp (the naive baseline: no conditional vector, no packing)  [none]")
    p.add_argument("--variants", default="", help="ganforge ctgan settings, each a row: TrainConfig key=value "
                   "pairs joined by ',', variants by ';', e.g. 'gp_every=1;gp_every=4'  [the recipe's defaults]")
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if not all(t.strip().isdigit() and int(t) >= 1 for t in args.threads.split(",")):
        raise SystemExit(f"--threads {args.threads!r}: expected integers >= 1 joined by ','")
    from ganforge.data import load_dataset
    from ganforge.metrics.table import evaluate_table

    threads = [int(t) for t in args.threads.split(",")]
    variants = [v for v in args.variants.split(";") if v.strip()] or [""]
    rows: dict[str, list[dict[str, float]]] = {}

    def record(name: str, synth, seconds: float, steps: int, cpu: float, seed: int, frames, table,
               measure: bool) -> None:
        values = evaluate_table(synth, frames["train"], frames["test"], frames["test"], table,
                                seed=seed)["values"] if measure else {}
        rows.setdefault(name, []).append({**values, "s_per_epoch": seconds / args.epochs,
                                          "ms_per_step": 1e3 * seconds / steps,
                                          "cpu_s_per_epoch": cpu / args.epochs})
        print(f"seed {seed} {name}: " + json.dumps(rows[name][-1]), flush=True)

    for seed in (int(s) for s in args.seeds.split(",")):
        ds = load_dataset(args.data, args.data_dir)
        frames, table = ds.meta["frames"], ds.meta["table"]
        n_train = len(frames["train"][next(iter(frames["train"]))])
        n = args.n or n_train
        length = args.epochs * max(n_train // args.batch_size, 1) if args.epoch_length == "package" else None
        for t in threads:
            measure = t == threads[0]  # the other thread counts train the same models: timed only
            for v in variants:
                wanted = tuple(name for name, on in (("no-copies", args.no_copies), ("log-freq", args.log_frequency))
                               if on and measure)
                _, synth, seconds, steps, cpu, extra = run_ganforge(
                    args.data, args.data_dir, args.epochs, args.batch_size, seed, n, t, options=parse_variant(v),
                    steps=length, extra_samples=wanted)
                record(f"ganforge ctgan {v} {t}t".replace("  ", " "), synth, seconds, steps, cpu, seed, frames,
                       table, measure)
                for name, rows_of_name in extra.items():  # the same model's other samples (its time is the run's)
                    record(f"ganforge ctgan {v} {name} {t}t".replace("  ", " "), rows_of_name, seconds, steps,
                           cpu, seed, frames, table, measure)
            for m in baselines_of(args):
                _, synth, seconds, steps, cpu, _ = run_ganforge(args.data, args.data_dir, args.epochs,
                                                                args.batch_size, seed, n, t, model=m)
                record(f"ganforge {m} {t}t", synth, seconds, steps, cpu, seed, frames, table, measure)
            if args.ctgan_python:
                synth, seconds, steps, cpu = run_package(args.ctgan_python, ds, args.epochs, args.batch_size, seed,
                                                         n, t)
                record(f"ctgan package {t}t", synth, seconds, steps, cpu, seed, frames, table, measure)
    keys = list(next(iter(rows.values()))[0])  # the first row is measured: every key
    print(f"\n{args.data}, {args.epochs} epochs, batch {args.batch_size}, seeds {args.seeds}, threads {args.threads}: "
          "mean (std over seeds)")
    width = max(24, *(len(name) + 2 for name in rows))
    print("measure".ljust(32) + "".join(f"{name:>{width}}" for name in rows))
    for k in keys:
        cells = []
        for runs in rows.values():
            v = np.array([r[k] for r in runs if k in r], dtype=float)
            cells.append(f"{v.mean():.4f} ({v.std():.4f})" if len(v) else "-")
        print(k.ljust(32) + "".join(f"{c:>{width}}" for c in cells))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2))


def baselines_of(args: argparse.Namespace) -> list[str]:
    return [m for m in args.baselines.split(",") if m]


if __name__ == "__main__":
    sys.exit(run_script(main))
