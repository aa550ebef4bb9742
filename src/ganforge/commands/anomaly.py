"""``ganforge anomaly fit|score|table``: anomaly detection with the one-class protocol (issue 12).

``fit`` trains one method on the normal classes' training examples; ``score`` writes per-example anomaly scores
of a split to CSV; ``table`` runs every method with each class in turn as the normal one."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import fields
from pathlib import Path

from ..errors import UserError
from ..rundir import check_output_dir

#: TrainConfig fields that ``anomaly fit`` does not take as flags: the method picks the model, --data and --seed
#: are the anomaly run's own
NOT_TRAIN_FLAGS = ("model", "data", "data_dir", "seed")
DEFAULT_TABLE_METHODS = "ae,vae,ocsvm,iforest,ocsvm-domain,iforest-domain,ganomaly,fanogan,anogan,bigan"


def _add_method_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="fashion-mnist", help="labelled dataset, toy mixture ring8/grid25, or a "
                   "table (csv:PATH, fair, randhie; see --label-column)  [fashion-mnist]")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's files")
    p.add_argument("--label-column", default=None, metavar="COL",
                   help="tables: the discrete column whose values are the classes (never a model input)  "
                        "[the table's target: fair rate_marriage, randhie idp, a CSV its last column]")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation hold-out, training and searches  [0]")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of the normal training examples held out as val (never trained on)  [0.1]")
    p.add_argument("--anogan-steps", type=int, default=None, help="anogan: Adam steps on z per example  [100]")
    p.add_argument("--anogan-lr", type=float, default=None, help="anogan: Adam learning rate of the search  [0.05]")
    p.add_argument("--anogan-lambda", type=float, default=None,
                   help="anogan: weight lambda of the discrimination loss  [0.1]")
    p.add_argument("--fanogan-kappa", type=float, default=None, help="fanogan: weight of the feature residual  [1]")
    p.add_argument("--encoder-steps", type=int, default=None, help="fanogan: encoder training steps  [1000]")
    p.add_argument("--svm-max-train", type=int, default=None,
                   help="ocsvm: fit on at most this many normal examples  [2000]")


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    from ..config import TrainConfig
    from .train import TRAIN_HELP

    types = {"int": int, "float": float, "str": str}
    group = p.add_argument_group("training options of methods that train a model (see ganforge train --help)")
    for f in fields(TrainConfig):
        if f.name not in NOT_TRAIN_FLAGS:
            group.add_argument("--" + f.name.replace("_", "-"), type=types[str(f.type).split(" ")[0]], default=None,
                               help=TRAIN_HELP[f.name], metavar=f.name.upper(), dest=f"train_{f.name}")


def add_parser(sub) -> None:
    p = sub.add_parser("anomaly", help="anomaly detection: fit a method on normal classes, score, make the table",
                       description="One-class anomaly detection: train on the normal classes' training images only, "
                                   "score the whole test split (anomaly = not a normal class). Methods: ganomaly, "
                                   "fanogan, anogan, bigan, ae, vae, ocsvm, iforest, ocsvm-domain, iforest-domain. "
                                   "Tables: a class is a value of --label-column; rows are encoded standardised "
                                   "and one-hot (all but the -domain methods).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    fit = actions.add_parser("fit", help="fit one method on the normal classes",
                             description="Fit METHOD on the normal classes' training examples into RUN_DIR.")
    fit.add_argument("--method", required=True, help="ganforge anomaly method (see ganforge anomaly --help)")
    fit.add_argument("--normal-classes", default=None,
                     help="normal classes: 0, 0,3 or 0-4; a table: values of --label-column, e.g. 5 or 4,5  "
                          "[0; a table: the column's first value]")
    fit.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    _add_method_options(fit)
    _add_train_flags(fit)
    fit.set_defaults(func=cmd_fit)

    score = actions.add_parser("score", help="score a split with a fitted method, to CSV",
                               description="Write index,label,is_anomaly,score (higher = more anomalous) for each "
                                           "example of a split; print AUROC and AUPRC when both kinds are present; "
                                           "for reconstruction methods on images, a figure of the 8 most and 8 "
                                           "least anomalous examples with residual heat maps beside the CSV.")
    score.add_argument("run_dir", metavar="RUN_DIR")
    score.add_argument("--data", default=None, help="dataset to score  [the one fitted on]")
    score.add_argument("--data-dir", default=None,
                       help="directory holding the dataset's files (without --data: where the fitted data is now, "
                            "if it moved)  [the one fitted from]")
    score.add_argument("--split", default="test", help="train, val or test  [test]")
    score.add_argument("--subset", type=int, default=0,
                       help="score a stratified subset of about N examples (0: all)  [0]")
    score.add_argument("--out", default="scores.csv", help="CSV file  [scores.csv]")
    score.set_defaults(func=cmd_score)

    table = actions.add_parser("table", help="the whole one-class table: every method, every class",
                               description="Fit and score each method with each class in turn as the only normal "
                                           "class; write OUT/table.md, table.csv, results.jsonl (resumable) and "
                                           "figures/. Methods train with their small CPU recipes "
                                           "(docs/applications.md, Anomaly detection).")
    table.add_argument("--methods", default=None, help=f"comma-separated  [{DEFAULT_TABLE_METHODS}; those of them "
                       "that take the data's kind]")
    table.add_argument("--classes", default=None,
                       help="normal classes to run, e.g. 0-9; a table: values of --label-column, e.g. 1,5  [all]")
    table.add_argument("--anogan-subset", type=int, default=None,
                       help="anogan scores a stratified test subset of this size (0: all)  [1000]")
    table.add_argument("--no-figures", action="store_true", help="skip the residual figures")
    table.add_argument("--out", required=True, metavar="DIR")
    _add_method_options(table)
    _add_train_flags(table)
    table.set_defaults(func=cmd_table)


#: training options that shape the data itself (how a table's columns are read), for every method
DATA_OPTIONS = {"discrete_columns", "continuous_columns"}


def _train_overrides(args: argparse.Namespace) -> dict:
    return {k[len("train_"):]: v for k, v in vars(args).items() if k.startswith("train_") and v is not None}


def _model_options(args: argparse.Namespace) -> list[str]:
    """The training options given that only a method training a model reads (all but :data:`DATA_OPTIONS`)."""
    return sorted(set(_train_overrides(args)) - DATA_OPTIONS)


def _as_flags(names) -> str:
    """``["k_disc", "steps"]`` -> ``"--k-disc, --steps"``."""
    return ", ".join("--" + k.replace("_", "-") for k in names)


#: anogan's test subset in the table (its per-example search is the slowest part of a table)
ANOGAN_SUBSET = 1000
#: The options of one method's search or fit, and the methods that read them: given to none of those, refused.
METHOD_OPTIONS = {"anogan_steps": ("anogan",), "anogan_lr": ("anogan",), "anogan_lambda": ("anogan",),
                  "fanogan_kappa": ("fanogan",), "encoder_steps": ("fanogan",),
                  "svm_max_train": ("ocsvm", "ocsvm-domain")}


def _check_method_options(args: argparse.Namespace, methods: list[str]) -> None:
    """A method option (``--anogan-lr`` ...) given while no method in ``methods`` reads it is a one-line error."""
    unread = [name for name, owners in METHOD_OPTIONS.items()
              if getattr(args, name) is not None and not set(owners) & set(methods)]
    if unread:
        owners = sorted({m for name in unread for m in METHOD_OPTIONS[name]})
        raise UserError(f"{_as_flags(unread)}: options of {' and '.join(owners)}: expected none of them with "
                        f"{', '.join(methods)}")


def _config(args: argparse.Namespace, method: str, normal: list[int]):
    from ..anomaly import AnomalyConfig

    given = {name: getattr(args, name) for name in METHOD_OPTIONS if getattr(args, name) is not None}
    return AnomalyConfig(method=method, data=args.data, data_dir=args.data_dir, normal_classes=normal,
                         label_column=args.label_column, val_fraction=args.val_fraction, seed=args.seed,
                         train=_train_overrides(args), **given).validate()


def cmd_fit(args: argparse.Namespace) -> int:
    import time

    from ..anomaly import METHODS, build_method
    from ..anomaly.base import CONFIG_FILE, load_source
    from ..data.oneclass import number_of_classes, one_class_dataset, parse_normal_classes

    METHODS.get_or_fail(args.method)  # before loading any data
    _check_method_options(args, [args.method])
    run_dir = Path(args.out)
    check_output_dir(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        raise UserError(f"--out {run_dir}: already holds an anomaly run: choose another --out")
    source = load_source(args.data, args.data_dir, _train_overrides(args))
    normal = parse_normal_classes(source, args.normal_classes, args.label_column)
    if len(normal) == number_of_classes(source, args.label_column):
        raise UserError(f"--normal-classes {args.normal_classes}: every class is normal, so the test split holds no "
                        "anomaly to find: expected fewer than all classes")
    cfg = _config(args, args.method, list(normal))
    from ..anomaly.base import source_fingerprint

    cfg.train_fingerprint = source_fingerprint(source)  # anomaly score refuses files that changed since
    data = one_class_dataset(source, normal, cfg.val_fraction, cfg.seed, cfg.label_column)
    method = build_method(cfg)
    method.check_data(data)
    if hasattr(method, "train_config"):
        ignored = method.options_for_other_models(data.kind)
        if ignored:  # one method: an option its model does not read is the user's error, not a silent no-op
            raise UserError(f"{_as_flags(ignored)}: method {cfg.method} trains {method.model_for(data.kind)}, which "
                            "does not read it")
        method.train_config(data).refuse_ignored_options()  # a bad option fails here, before anything is written
    else:  # a method that trains no model (iforest, ocsvm, ...): only the options that read the data apply
        ignored = _model_options(args)
        if ignored:
            raise UserError(f"{_as_flags(ignored)}: method {cfg.method} trains no model: expected training options "
                            "only with a method that does (ae, anogan, ...)")
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir)
    method.command_args = args
    method.fit(data, run_dir)
    print(f"ganforge: fitted {cfg.method} on {data.source} in {time.perf_counter() - started:.1f} s; run dir "
          f"{run_dir}; next: ganforge anomaly score {run_dir} --out scores.csv")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import numpy as np

    from ..anomaly import AnomalyConfig, build_method
    from ..anomaly.base import SCORE_FIGURE, SCORE_RECORD, load_source
    from ..anomaly.table import residual_figure, stratified_subset
    from ..data.oneclass import is_anomaly, one_class_dataset
    from ..metrics.anomaly import auprc, auroc
    from ..rundir import atomic_write_text, finite_or_null

    run_dir = Path(args.run_dir)
    if Path(args.out).suffix != ".csv":
        raise UserError(f"--out {args.out}: the scores are a CSV table: expected a name ending in .csv")
    cfg = AnomalyConfig.load(run_dir)
    same_data = args.data in (None, cfg.data)
    # --data-dir without another --data says where the fitted files are now (moved since the fit); the hash
    # still has to match
    fitted_dir = args.data_dir if same_data and args.data_dir is not None else cfg.data_dir
    fitted = one_class_dataset(load_source(cfg.data, fitted_dir, cfg.train, cfg.train_fingerprint, run_dir),
                               cfg.normal_classes, cfg.val_fraction, cfg.seed, cfg.label_column)
    method = build_method(cfg)
    method.load(run_dir, fitted)
    # another dataset's rows are encoded as the fitted ones were (a table: the fitted standardisation)
    target = fitted if same_data else one_class_dataset(
        load_source(args.data, args.data_dir, cfg.train), cfg.normal_classes, cfg.val_fraction, cfg.seed,
        cfg.label_column, fitted.meta["one_class"].get("features"))
    if tuple(target.shape) != tuple(fitted.shape):
        raise UserError(f"--data {args.data}: examples of shape {tuple(target.shape)}: expected "
                        f"{tuple(fitted.shape)}, the shape of {cfg.data}, which the run was fitted on")
    if args.subset < 0:
        raise UserError(f"--subset {args.subset}: expected an integer >= 0")
    x, labels = target.split(args.split), target.labels[args.split]
    index = stratified_subset(labels, args.subset, cfg.seed)
    x, labels = x[index], labels[index]
    scores = method.score(x)
    anomalous = is_anomaly(labels, cfg.normal_classes)
    out = Path(args.out)
    lines = ["index,label,is_anomaly,score"] + [f"{i},{y},{a},{s:.9g}" for i, y, a, s in
                                                  zip(index, labels, anomalous, scores, strict=True)]
    atomic_write_text(out, "\n".join(lines) + "\n")
    summary = f"ganforge: wrote {len(scores)} scores of {target.name}'s {args.split} split to {out}"
    if 0 < anomalous.sum() < len(anomalous):
        summary += f"; AUROC {auroc(scores, anomalous):.4f}, AUPRC {auprc(scores, anomalous):.4f}"
    figure = out.with_suffix(".png")
    drawn = residual_figure(method, x, labels, np.asarray(scores), f"{cfg.method}, normal {cfg.normal_classes}",
                            figure)
    if drawn:
        summary += f"; figure {figure}"
    record = {"method": cfg.method, "normal_classes": cfg.normal_classes, "data": target.name, "split": args.split,
              "n": int(len(scores)), "anomalies": int(anomalous.sum()), "scores": str(out.resolve())}
    if 0 < anomalous.sum() < len(anomalous):
        record.update(auroc=float(auroc(scores, anomalous)), auprc=float(auprc(scores, anomalous)))
    try:  # what `ganforge report RUN_DIR` shows: the latest scoring and its figure
        atomic_write_text(run_dir / SCORE_RECORD, json.dumps(finite_or_null(record), indent=2, allow_nan=False) + "\n")
        if drawn:
            shutil.copyfile(figure, run_dir / SCORE_FIGURE)
        else:
            (run_dir / SCORE_FIGURE).unlink(missing_ok=True)
    except OSError:
        pass  # a read-only run directory: the CSV and the figure beside it are the result
    print(summary)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    import time

    from ..anomaly import METHODS
    from ..anomaly.base import load_source
    from ..anomaly.table import run_table
    from ..data.oneclass import number_of_classes, parse_normal_classes

    named = DEFAULT_TABLE_METHODS if args.methods is None else args.methods
    methods = [m.strip() for m in named.split(",") if m.strip()]
    if not methods:
        raise UserError(f"--methods {named!r}: expected a comma-separated list of methods ({', '.join(METHODS)})")
    for m in methods:
        METHODS.get_or_fail(m)
    source = load_source(args.data, args.data_dir, _train_overrides(args))
    if args.methods is None:  # the default list: the methods that take this kind of data
        methods = [m for m in methods if source.kind in METHODS.get(m).data_kinds]
    _check_method_options(args, methods)  # against the methods that will run (the default list, filtered)
    if args.anogan_subset is not None and "anogan" not in methods:
        raise UserError(f"--anogan-subset {args.anogan_subset}: the test subset anogan scores: expected it only "
                        "with anogan among --methods")
    for m in methods:  # a named method that cannot: refused before any cell is fitted
        if source.kind not in METHODS.get(m).data_kinds:
            raise UserError(f"anomaly method {m}: cannot work on {source.kind} data ({source.name}): expected "
                            f"{' or '.join(METHODS.get(m).data_kinds)} data")
    if args.classes is None:  # every class
        classes = tuple(range(number_of_classes(source, args.label_column)))
    else:
        classes = parse_normal_classes(source, args.classes, args.label_column, "--classes")
    ignored = [] if any(hasattr(METHODS.get(m), "train_config") for m in methods) else _model_options(args)
    if ignored:  # no method of the table trains a model: nothing would read them
        raise UserError(f"{_as_flags(ignored)}: no method of the table ({', '.join(methods)}) trains a model: "
                        "expected training options only with one that does")
    base = _config(args, methods[0], [classes[0]])
    started = time.perf_counter()
    check_output_dir(Path(args.out))
    anogan_subset = ANOGAN_SUBSET if args.anogan_subset is None else args.anogan_subset
    run_table(base, methods, classes, Path(args.out), anogan_subset, figures=not args.no_figures,
              log=lambda s: print(f"  {s}", flush=True), command_args=args)
    print(f"ganforge: table in {Path(args.out) / 'table.md'} and table.csv ({time.perf_counter() - started:.0f} s)")
    return 0
