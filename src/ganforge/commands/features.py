"""``ganforge features``: train and inspect the feature extractors the metrics use."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("features", help="train or inspect feature extractors for metrics",
                       description="Feature extractors for FID/KID/precision-recall: 'train' fits a domain "
                                   "classifier to a labelled image dataset; 'list' shows those shipped and "
                                   "trained; 'info' shows one.")
    fsub = p.add_subparsers(dest="features_command", metavar="ACTION", required=True)
    t = fsub.add_parser("train", help="train a domain classifier CNN (penultimate layer = features)")
    t.add_argument("--data", required=True, help="labelled image dataset: fashion-mnist, mnist, digits, cifar10")
    t.add_argument("--data-dir", default=None, help="directory holding the dataset's files")
    t.add_argument("--epochs", type=int, default=None, help="passes over the train split  [8; digits 60]")
    t.add_argument("--batch-size", type=int, default=128, help="minibatch size  [128]")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate  [1e-3]")
    t.add_argument("--seed", type=int, default=0, help="random seed  [0]")
    t.add_argument("--out", default=None, help="weights file (.safetensors)  [~/.cache/ganforge/features/"
                                               "domain-DATA.safetensors]")
    t.set_defaults(func=cmd_features_train)
    ls = fsub.add_parser("list", help="list the domain classifiers that ship with ganforge or that you trained, "
                                      "with their test accuracy")
    ls.set_defaults(func=cmd_features_list)
    i = fsub.add_parser("info", help="show a domain classifier's provenance and test accuracy")
    i.add_argument("--data", required=True, help="dataset whose domain classifier to show")
    i.add_argument("--weights", default=None, help="a weights file instead of the shipped/cached one")
    i.set_defaults(func=cmd_features_info)


def cmd_features_train(args: argparse.Namespace) -> int:
    from ..data import load_dataset
    from ..errors import UserError
    from ..features.domain import default_weights_path, packaged_weights_path, save_domain_classifier
    from ..features.train import train_domain_classifier
    from ..rundir import check_writable_output
    from ..threads import governed_step_hook

    epochs = args.epochs if args.epochs is not None else (60 if args.data == "digits" else 8)
    if not 1 <= epochs <= 10_000:
        raise UserError(f"--epochs {epochs}: expected an integer in [1, 10000] (passes over the train split)")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: expected an integer >= 1")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise UserError(f"--lr {args.lr}: expected a learning rate > 0")
    out = Path(args.out) if args.out else default_weights_path(args.data)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: expected a .safetensors file name")
    check_writable_output(out)  # before training: a bad output path fails at once, not after the epochs
    ds = load_dataset(args.data, args.data_dir)
    print(f"ganforge: training a domain classifier on {ds.name} ({ds.source}; {len(ds)} train images "
          f"{ds.shape}) for {epochs} epochs", flush=True)
    say = lambda s: print(s, flush=True)  # noqa: E731
    model, info = train_domain_classifier(ds, epochs, args.batch_size, args.lr, args.seed, log=say,
                                          step_hook=governed_step_hook(args, say))
    info["command"] = (f"ganforge features train --data {args.data} --epochs {epochs} --batch-size "
                       f"{args.batch_size} --lr {args.lr} --seed {args.seed}")
    save_domain_classifier(model, out, info)
    print(f"ganforge: test accuracy {info['test_accuracy']:.4f} (val {info['val_accuracy']:.4f}); "
          f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    shipped = packaged_weights_path(args.data)
    if not args.out and shipped.is_file():  # the metrics read the shipped file first: say how to use this one
        print(f"ganforge: note: {args.data} ships its own classifier ({shipped}), which --features domain uses; "
              f"this one is used with --features domain:{out}")
    return 0


def cmd_features_info(args: argparse.Namespace) -> int:
    from ..features.domain import load_domain_classifier

    model = load_domain_classifier(args.data, args.weights)
    n_params = sum(p.numel() for p in model.parameters())
    trained_on = str(model.info.get("dataset") or args.data)  # what the file says it was trained on
    print(f"domain classifier for {args.data}: {model.config()}, {n_params:,} parameters"
          + (f" (its file says it was trained on {trained_on})" if trained_on != args.data else ""))
    for key, value in model.info.items():
        print(f"  {key}: {value}")
    return 0


def cmd_features_list(args: argparse.Namespace) -> int:
    from ..features.domain import list_domain_classifiers
    from ..features.inception import default_inception_path

    rows = list_domain_classifiers()
    print(f"{'dataset':<16} {'where':<9} {'test acc':>8} {'epochs':>6} {'MB':>6}  path")
    for r in rows:
        acc = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "?"
        print(f"{r['dataset']:<16} {r['where']:<9} {acc:>8} {r['epochs'] or '?':>6} {r['size_mb']:>6.2f}  {r['path']}")
    inception = default_inception_path()
    print(f"inception: FID Inception-v3 weights {'found at ' + str(inception) if inception.is_file() else 'not found'}"
          f"{'' if inception.is_file() else ' (--features inception:PATH, or place them at ' + str(inception) + ')'}")
    return 0
