"""A rare class topped up with conditionally sampled rows: does a classifier's recall on it improve?

On ``fair``, ``rate_marriage == 1`` is 1.6% of the rows (99 of 6,366). A ganforge ``ctgan`` run is trained on
the training split; then a random forest (100 trees) predicts ``rate_marriage`` from the other columns,
trained (a) on the real training rows, (b) on them plus ``--extra`` rows sampled with
``--condition rate_marriage=1``. Printed: recall and F1 of class 1, and macro F1, on the real test split,
for each seed (of the forest and of the sampled rows) and their mean.

    python bench/table_rare_class.py --run runs/ctgan-fair --extra 300 --seeds 0,1,2
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a ctgan run directory trained on the table")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--column", default="rate_marriage")
    p.add_argument("--value", default="1")
    p.add_argument("--extra", type=int, default=300, help="conditionally sampled rows added to the training rows")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import f1_score, recall_score

    from ganforge.data import load_dataset
    from ganforge.data.table import TableSpec, take
    from ganforge.metrics.table import features
    from ganforge.run import load_run

    run = load_run(args.run)
    ds = load_dataset(run.config.data, args.data_dir or run.config.data_dir)
    table, frames = ds.meta["table"], ds.meta["frames"]
    train, test = frames["train"], frames["test"]
    spec = TableSpec(run.data.table)
    run.model.forced_choice = run.model.layout.choice_for(args.column, args.value)
    y_test = test[args.column].astype(str)
    print(f"{ds.name}: {args.column}={args.value} is {np.mean(train[args.column] == args.value):.1%} of "
          f"{len(train[args.column]):,} training rows, {int((y_test == args.value).sum())} of "
          f"{len(y_test):,} test rows; {args.extra} rows sampled with --condition {args.column}={args.value}")
    results = {"real": [], "real + sampled": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        kept, round_ = [], 0
        while sum(len(f[args.column]) for f in kept) < args.extra and round_ < 50:
            frame = spec.decode(run.sample(args.extra, seed=seed * 1000 + round_).numpy())
            kept.append(take(frame, np.flatnonzero(frame[args.column] == args.value)))
            round_ += 1
        sampled = {k: np.concatenate([f[k] for f in kept])[:args.extra] for k in spec.names}
        for name, rows in (("real", train),
                           ("real + sampled", {k: np.concatenate([train[k], sampled[k]]) for k in spec.names})):
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
    main()
