"""A rare class topped up with conditionally sampled rows: does a classifier's recall on it improve?

Two ways to get a rare class:

- ``--run RUN``: a ``ctgan`` run already trained on a table whose class is rare by nature. On ``fair``,
  ``rate_marriage == 1`` is 1.6% of the rows (99 of 6,366), but only 2 of the 637 test rows.
- ``--make-rare FRACTION --data NAME``: the class is made rare in the training split only: all its other rows
  stay, and the class keeps just enough of its rows to be ``FRACTION`` of them (seeded); the test split is
  left as it is, so the class keeps its natural share there and its recall is measured on many rows. A
  ``ctgan`` is trained (``--epochs``) on the made-rare rows, written to a CSV and read back with
  ``--data csv:PATH`` as a user would (with the table's own discrete columns).

Then a random forest (100 trees) predicts ``--column`` from the other columns, trained on (a) the real training
rows, (b) them plus ``--extra`` rows sampled with ``--condition COLUMN=VALUE``, (c) them plus ``--extra``
copies of the class's own real rows drawn with replacement (random oversampling: the baseline a generator must
beat). Printed: recall and F1 of the class, and macro F1, on the real test split, for each seed (of the
forest, the sampled rows and the copies) and their mean (standard deviation).

    python bench/table_rare_class.py --run runs/ctgan-fair --extra 300 --seeds 0,1,2
    python bench/table_rare_class.py --data fair --make-rare 0.02 --value 3 --epochs 100 --extra 300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from ganforge.errors import run_script


def made_rare(frame: dict, column: str, value: str, fraction: float, seed: int) -> dict:
    """``frame`` with the rows of ``column == value`` cut (a seeded choice) to ``fraction`` of the result."""
    hit = np.asarray(frame[column]).astype(str) == value
    others = int((~hit).sum())
    keep_n = max(1, round(fraction * others / (1 - fraction)))
    rows = np.flatnonzero(hit)
    if keep_n >= len(rows):
        raise SystemExit(f"{column}={value} is already {hit.mean():.1%} of the rows, not above {fraction:.1%}")
    kept = np.random.default_rng(seed).choice(rows, keep_n, replace=False)
    index = np.sort(np.concatenate([np.flatnonzero(~hit), kept]))
    return {k: np.asarray(v)[index] for k, v in frame.items()}


def train_on_frame(frame: dict, spec, epochs: int, seed: int, workdir: Path):
    """A ``ctgan`` trained on ``frame`` through ``--data csv:PATH``; returns the loaded run."""
    from ganforge.data.table import DISCRETE_KINDS
    from ganforge.models import config_for
    from ganforge.run import load_run
    from ganforge.train import Trainer

    csv = workdir / "made_rare.csv"
    spec.write_csv(frame, csv)
    discrete = ",".join(c["name"] for c in spec.columns if c["kind"] in DISCRETE_KINDS)
    cfg = config_for(model="ctgan", data=f"csv:{csv}", discrete_columns=discrete or None, epochs=float(epochs),
                     seed=seed, sample_every=10**9, checkpoint_every=10**9, device="cpu")
    Trainer(cfg, workdir / "run", progress=False).fit()
    return load_run(workdir / "run")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=None, help="a ctgan run directory trained on the table (the class rare by "
                   "nature)")
    p.add_argument("--data", default=None, help="with --make-rare: the named table (e.g. fair, randhie)")
    p.add_argument("--make-rare", type=float, default=None, metavar="FRACTION",
                   help="cut the class to this share of the training rows and train a ctgan on them  [off]")
    p.add_argument("--epochs", type=int, default=100, help="with --make-rare: the ctgan's epochs  [100]")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--column", default="rate_marriage")
    p.add_argument("--value", default="1")
    p.add_argument("--extra", type=int, default=300, help="rows added to the training rows  [300]")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    if (args.run is None) == (args.make_rare is None):
        p.error("give --run RUN, or --make-rare FRACTION with --data NAME")
    if args.make_rare is not None and not (0 < args.make_rare < 1 and args.data):
        p.error("--make-rare needs a fraction in (0, 1) and --data NAME")

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import f1_score, recall_score

    from ganforge.data import load_dataset
    from ganforge.data.table import TableSpec, take
    from ganforge.metrics.table import features
    from ganforge.run import load_run

    seeds = [int(s) for s in args.seeds.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="ganforge-rare-"))
    if args.run:
        run = load_run(args.run)
        ds = load_dataset(run.config.data, args.data_dir or run.config.data_dir)
        table, frames = ds.meta["table"], ds.meta["frames"]
        train = frames["train"]
    else:
        ds = load_dataset(args.data, args.data_dir)
        table, frames = ds.meta["table"], ds.meta["frames"]
        natural = np.mean(frames["train"][args.column].astype(str) == args.value)
        train = made_rare(frames["train"], args.column, args.value, args.make_rare, seed=0)
        print(f"{ds.name}: {args.column}={args.value} cut from {natural:.1%} to {args.make_rare:.1%} of the "
              f"training rows; a ctgan trained {args.epochs} epochs on them", flush=True)
        run = train_on_frame(train, TableSpec(table), args.epochs, seed=0, workdir=workdir)
    test = frames["test"]
    spec = TableSpec(run.data.table)
    run.model.forced_choice = run.model.layout.choice_for(args.column, args.value)
    y_test = test[args.column].astype(str)
    rare_train = np.flatnonzero(train[args.column].astype(str) == args.value)
    print(f"{ds.name}: {args.column}={args.value} is {len(rare_train) / len(train[args.column]):.1%} of "
          f"{len(train[args.column]):,} training rows ({len(rare_train)}), {int((y_test == args.value).sum())} of "
          f"{len(y_test):,} test rows; {args.extra} rows added", flush=True)
    results: dict[str, list[tuple[float, float, float]]] = {"real": [], "real + sampled": [], "real + copies": []}
    for seed in seeds:
        sampled, _ = run.sample_table_rows(args.extra, seed * 1000,
                                           keep=lambda frame: frame[args.column].astype(str) == args.value)
        copies = take(train, np.random.default_rng(seed).choice(rare_train, args.extra, replace=True))
        arms = {"real": train,
                "real + sampled": {k: np.concatenate([train[k], sampled[k].astype(train[k].dtype)])
                                   for k in spec.names},
                "real + copies": {k: np.concatenate([train[k], copies[k]]) for k in spec.names}}
        for name, rows in arms.items():
            forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
            forest.fit(features(rows, table, train, args.column), rows[args.column].astype(str))
            pred = forest.predict(features(test, table, train, args.column))
            hit = (y_test == args.value)
            results[name].append((recall_score(hit, pred == args.value, zero_division=0),
                                  f1_score(hit, pred == args.value, zero_division=0),
                                  f1_score(y_test, pred, average="macro")))
            print(f"seed {seed} {name:>15}: recall {results[name][-1][0]:.3f}  F1 {results[name][-1][1]:.3f}  "
                  f"macro F1 {results[name][-1][2]:.3f}", flush=True)
    for name, rows in results.items():
        r = np.array(rows)
        print(f"mean {name:>15}: recall {r[:, 0].mean():.3f} ({r[:, 0].std():.3f})  F1 {r[:, 1].mean():.3f} "
              f"({r[:, 1].std():.3f})  macro F1 {r[:, 2].mean():.3f} ({r[:, 2].std():.3f})")


if __name__ == "__main__":
    sys.exit(run_script(main))
