"""``ganforge datasets``: every dataset, whether it is available here, and where from."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list datasets, whether each is available, and where from",
                       description="List every dataset, whether it is found on this machine and where.")
    p.add_argument("--data-dir", default=None, help="also look in this directory")
    p.set_defaults(func=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data import DATASETS

    rows = [("name", "available", "where / how to get it")]
    for name, src in DATASETS.items():
        where = src.locate(args.data_dir)
        rows.append((name, "yes" if where else "no", where or src.how_to_get))
    rows.append(("folder:PATH", "-", "any folder of PNG/JPEG images, searched recursively (train/ and test/ "
                                     "subfolders, if both exist, are its splits)"))
    rows.append(("csv:PATH", "-", "any CSV table with a header line (models ctgan, tvae; gan and wgan-gp as "
                                  "the one-hot baseline)"))
    rows.append(("parquet:PATH", "-", "a Parquet table, read like a CSV (needs pyarrow: ganforge[parquet])"))
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
    return 0


