"""``ganforge eval``: measure a trained run (or held-out real data, the floor, or samples made elsewhere) and
write eval.json."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from ..errors import UserError
from ..rundir import atomic_write_text, check_writable_output, finite_or_null

IMAGE_METRICS = "parzen,fid,kid,is,pr,dc,modes,memorisation"
POINT_METRICS = "parzen,fid,kid,pr,dc,modes,memorisation"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval", help="measure a trained run: Parzen, FID, KID, IS, precision/recall, density/coverage, modes",
        description="Score a run's samples against its dataset's train split and write RUN_DIR/eval.json, or "
                    "(--real DATASET) score held-out real data the same way: the floor every model is read "
                    "against. Metrics: parzen (2014 protocol), fid, kid, is, pr (precision/recall, k=3), "
                    "dc (density/coverage, k=5), modes (toy modes or image classes), memorisation. "
                    "--samples PATH scores samples made by any program (a folder of images, an .npy/.npz array "
                    "(N, C, H, W) or (N, H, W), uint8 or floats in [0, 1]) against --real DATASET[:split] or a "
                    "second --samples, with the same features and metrics.")
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="run directory (omit with --real)")
    p.add_argument("--real", metavar="DATASET", default=None,
                   help="evaluate held-out real data (test split vs train split) instead of a run; with --samples: "
                        "the reference, DATASET or DATASET:SPLIT  [split train]")
    p.add_argument("--samples", metavar="PATH", action="append", default=None,
                   help="score these samples: a folder of images, an .npy/.npz array or a run directory; a second "
                        "--samples is the reference instead of --real (metrics fid, kid, is, pr, dc)")
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated metrics  [images {IMAGE_METRICS}; points without is; "
                        "conditional runs also cas]")
    p.add_argument("--n", type=int, default=10000,
                   help="samples, training and (floor) test examples compared; capped by the split sizes  [10000]")
    p.add_argument("--features", default=None,
                   help="feature extractor: domain, domain:PATH, domain:DATASET, inception, inception:PATH, raw  "
                        "[domain for labelled images; raw for points, tables and unlabelled images such as "
                        "folder:PATH. Features without class probabilities (raw; inception without its "
                        "classifier layer) leave is and modes out of the default --metrics]")
    p.add_argument("--seed", type=int, default=0, help="noise seed for the samples  [0]")
    p.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="stylegan2: sample with the truncation trick at PSI  [1: none]")
    p.add_argument("--checkpoint", default="latest", metavar="WHICH",
                   help="latest, best (checkpoints/best.pt of a --keep-best run) or a checkpoint file  [latest]")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's files")
    p.add_argument("--compare-real", action="store_true", help="also compute the real-data floor and print it beside")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch  [chosen from the cores and the load]")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute real-data reference statistics (and sgan's supervised-only baseline)")
    p.add_argument("--out", default=None, help="JSON file for the results  [RUN_DIR/eval.json; --real: none]")
    p.add_argument("--target", default=None, metavar="COLUMN",
                   help="tables: the column ML efficacy predicts  [the dataset's own; csv:PATH the last column]")
    p.set_defaults(func=cmd_eval)


def _write_json(obj: dict, path: Path) -> None:
    """Atomically (temporary file + rename); a device or pipe such as /dev/null or /dev/stdout is written
    in place, never renamed over."""
    text = json.dumps(finite_or_null(obj), indent=2, allow_nan=False) + "\n"  # a NaN measure is null
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise UserError(f"--out {path}: is a directory, expected a JSON file name")
        with open(path, "w") as f:
            f.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def cmd_eval(args: argparse.Namespace) -> int:
    from .. import models  # noqa: F401  (models register their own metrics, e.g. sgan's accuracy)
    from ..data import load_dataset
    from ..features.extractors import build_extractor
    from ..metrics import cas  # noqa: F401  (registers cas: conditional runs)
    from ..metrics.evaluate import (
        METRICS,
        NEEDS_CLASS_PROBS,
        check_evaluable,
        default_features,
        evaluate_model,
        evaluate_real,
        parse_metrics,
        too_wide_for_fid,
    )

    if args.out:  # before any metric runs: a bad output path costs no sampling
        out = Path(args.out)
        if out.is_dir():
            raise UserError(f"--out {out}: is a directory, expected a JSON file name")
        if not out.exists():  # (an existing file or device such as /dev/stdout is written in place)
            check_writable_output(out)
    run_options = [flag for flag, given in (("--truncation", args.truncation != 1.0),
                                            ("--checkpoint", args.checkpoint != "latest"),
                                            ("--compare-real", args.compare_real)) if given]
    if (args.samples or args.real) and run_options:  # they choose how a run samples: no run, nothing to choose
        raise UserError(f"{', '.join(run_options)}: options of a run's evaluation: expected none of them with "
                        f"{'--samples' if args.samples else '--real'}")
    if args.samples:
        return cmd_eval_samples(args)
    if args.real is not None and not args.real.strip():
        raise UserError("--real '': expected a dataset name such as fashion-mnist, fashion-mnist:test or folder:PATH")
    if (args.run_dir is None) == (args.real is None):
        raise UserError("ganforge eval: expected either RUN_DIR or --real DATASET (one of them)")
    if args.n < 2:
        raise UserError(f"--n {args.n}: expected an integer >= 2")
    t_start = time.perf_counter()
    if args.real:
        name, split = _parse_real(args.real)
        if name != args.real:  # the floor scores the test split against the train split: no split to choose
            raise UserError(f"--real {args.real}: a split is chosen only with --samples; without it the floor "
                            f"scores the test split of {name} against its train split: expected --real {name}")
        ds = load_dataset(args.real, args.data_dir)
        run = None
    else:
        from ..run import load_run

        run = load_run(args.run_dir, args.checkpoint)
        run.set_truncation(args.truncation)
        ds = run.dataset(args.data_dir)
    if ds.kind == "table":
        return cmd_eval_table(args, run, ds)
    if args.target is not None:
        raise UserError(f"--target {args.target}: the column machine-learning efficacy predicts, for tables: "
                        f"expected none for {ds.name}, which holds {ds.kind}")
    model_metrics = models.MODELS.get_or_fail(run.config.model).eval_metrics if run is not None else None
    if model_metrics and args.compare_real:  # sr, nextframe: measured beside their own baseline already
        raise UserError(f"--compare-real: a {run.config.model} run is measured by {model_metrics} beside its own "
                        "baseline (bicubic upsampling, the last frame copied): expected no real-data floor")
    features = args.features or default_features(ds)
    if features == "domain" and ds.kind == "image" and not ds.num_classes:
        raise UserError(f"--features domain: {ds.name} has no labels to train a domain classifier on: expected "
                        "--features raw (pixels) or inception (papers' FID; pip install 'ganforge[inception]')")
    given = args.metrics is not None
    metrics = parse_metrics(args.metrics if given else
                            model_metrics or (IMAGE_METRICS if ds.kind == "image" else POINT_METRICS))
    pixelwise = [m for m in ("parzen", "memorisation") if given and m in metrics]
    if run is not None and run.config.model == "nextframe" and pixelwise:  # frames of a canvas, not examples
        raise UserError(f"--metrics {','.join(pixelwise)}: compares samples with {ds.name}'s examples pixel by pixel, "
                        f"and a nextframe run's frames are {run.config.canvas}x{run.config.canvas} canvases of "
                        f"moving examples: expected {model_metrics} or feature metrics (fid, kid, pr, dc)")
    # the features' network once, now: a missing classifier fails before any metric runs, and the defaults
    # leave out the metrics that read class probabilities when the features give none (raw pixels)
    extractor = build_extractor(features, ds.name, ds.kind) if any(METRICS[m].needs_features for m in metrics) \
        else None
    if not given and ds.kind == "image" and not (extractor is not None and extractor.has_probs):
        metrics = [m for m in metrics if m not in NEEDS_CLASS_PROBS]
    if not given and too_wide_for_fid(ds, features):  # 64x64 photos in pixels: the default leaves FID/KID out
        metrics = [m for m in metrics if m not in ("fid", "kid")]
        print(f"ganforge: fid and kid left out: raw pixels of {ds.name} are {math.prod(ds.shape):,} numbers "
              "per image (--features inception measures them)", flush=True)
    # one n for model and floor: the floor's candidates are test images, so with one n is capped by the test
    # split too; a run alone is compared with n training examples (a small folder's test split is a few images)
    floor = bool(args.real or args.compare_real)
    n = min(args.n, len(ds.split("train")), *([len(ds.split("test"))] if floor else []))
    check_evaluable(ds, metrics, n, features, "--n" if n == args.n else f"--n {args.n:,} capped to")
    log = lambda s: print(f"  {s}", flush=True)  # noqa: E731
    if n < args.n:
        print(f"ganforge: --n {args.n:,} capped to {n:,}: {ds.name} has {len(ds.split('train')):,} train"
              + (f" and {len(ds.split('test')):,} test examples" if floor else " examples"), flush=True)

    columns: dict[str, dict[str, float]] = {}
    record: dict = {"dataset": ds.name, "features": features, "n": n, "seed": args.seed, "metrics": metrics}
    if floor:
        print(f"ganforge: evaluating held-out real {ds.name} (first {n} test vs first {n} train) "
              f"with {features} features", flush=True)
        real_values, real_seconds, real_notes = evaluate_real(ds, metrics, n, features, args.seed,
                                                             not args.no_cache, log, extractor)
        columns[f"real {ds.name}"] = real_values
        record["real"] = {"values": real_values, "seconds": real_seconds, "notes": real_notes}
    if run is not None:
        print(f"ganforge: evaluating {run.config.model} run {run.run_dir} (step {run.step}) on {ds.name}: "
              f"{n} samples, {features} features", flush=True)
        timings: dict[str, float] = {}
        notes: dict = {}
        values = evaluate_model(run, ds, metrics, n, features, args.seed, not args.no_cache, timings, notes, log,
                                extractor)
        columns[f"{run.config.model} step {run.step}"] = values
        record.update({"run_dir": str(run.run_dir), "model": run.config.model, "step": run.step,
                       "checkpoint": args.checkpoint,
                       **({"truncation": args.truncation} if args.truncation != 1.0 else {}),
                       "values": values, "seconds": timings, "notes": notes})
        if "memorisation" in metrics and ds.kind == "image":
            from ..images import grid_scale, save_image
            from ..metrics.memorisation import nearest_neighbour_grid

            grid_path = run.run_dir / "eval_nearest_neighbours.png"
            x = run.sample(min(n, 2000), seed=args.seed)
            save_image(nearest_neighbour_grid(x, ds.split("train")), grid_path, scale=grid_scale(x.shape[-1]))
            record["nearest_neighbour_grid"] = str(grid_path)
    return _report(record, columns, run, args, t_start)


#: What two sets of samples can be compared with: metrics that need only candidates and reference features.
SAMPLES_PAIR_METRICS = "fid,kid,is,pr,dc"


def _parse_real(spec: str) -> tuple[str, str]:
    """``fashion-mnist:test`` -> ``("fashion-mnist", "test")``; no split (or ``folder:PATH``) -> train. A named
    dataset with a split that is none of train/val/test is a user error."""
    from ..data.core import DATASETS, SPLITS

    name, _, split = spec.rpartition(":")
    if name and split in SPLITS:
        return name, split
    if name in DATASETS:
        raise UserError(f"--real {spec}: unknown split {split!r}: expected {name} or {name}:SPLIT with SPLIT one "
                        f"of {', '.join(SPLITS)}")
    return spec, "train"


def _is_run_dir(path: str) -> bool:
    return (Path(path) / "checkpoints" / "latest.pt").is_file()


def cmd_eval_samples(args: argparse.Namespace) -> int:
    """``--samples A [--samples B | --real DATASET[:split]]``: the samples in A scored through
    :func:`ganforge.metrics.evaluate.evaluate_samples`, the function a run's own samples go through."""
    from .. import models  # noqa: F401  (models register their own metrics)
    from ..data import ArrayDataset, load_dataset
    from ..data.samples import load_samples
    from ..metrics.evaluate import (
        NEEDS_CLASS_PROBS,
        check_evaluable,
        default_features,
        evaluate_samples,
        format_table,
        parse_metrics,
        sample_from,
        too_wide_for_fid,
    )

    if args.run_dir is not None:
        raise UserError(f"ganforge eval: give the run as --samples {args.run_dir} (RUN_DIR and --samples exclude "
                        "each other)")
    if len(args.samples) > 2 or (len(args.samples) == 2) == (args.real is not None):
        raise UserError("--samples PATH: expected a reference, either --real DATASET[:SPLIT] or a second "
                        "--samples PATH (one of them)")
    if args.n < 2:
        raise UserError(f"--n {args.n}: expected an integer >= 2")
    if args.compare_real:
        raise UserError("--compare-real: not with --samples (run 'ganforge eval --real DATASET' for the floor)")
    if args.target is not None:
        raise UserError(f"--target {args.target}: the column a table run's efficacy predicts: expected none with "
                        "--samples (images or points)")
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    t_start = time.perf_counter()
    path, runs = args.samples[0], {p: None for p in args.samples if _is_run_dir(p)}
    if runs:
        from ..run import load_run

        runs = {p: load_run(p) for p in runs}
    if args.real is not None:
        name, split = _parse_real(args.real)
        first = runs.get(path)
        data_dir = args.data_dir or (first.config.data_dir if first is not None else None)
        ds = load_dataset(name, data_dir, False, first.config.image_size if first is not None else None)
        reference = f"{ds.name}:{split}"
        metrics_default = IMAGE_METRICS if ds.kind == "image" else POINT_METRICS
    else:
        ref_path = args.samples[1]
        ref_run = runs.get(ref_path)
        if ref_run is not None:
            ref = sample_from(ref_run, args.n, args.seed + 1, ref_run.data.kind)  # another seed than the first's
        else:
            ref = load_samples(ref_path)
        kind = "image" if ref.ndim == 4 else "points"
        known = [r.data_name for r in runs.values()]
        ds = ArrayDataset(known[0] if known else f"samples:{ref_path}", kind, {"train": ref.numpy()},
                          source=str(ref_path), meta={"samples_of": str(ref_path)})
        split, reference = "train", str(ref_path)
        metrics_default = SAMPLES_PAIR_METRICS if kind == "image" else "fid,kid,pr,dc"
    metrics = parse_metrics(args.metrics if args.metrics is not None else metrics_default)
    # two --samples: a run's dataset (its domain classifier) or none named; with --real the dataset's own default
    features = args.features or ("domain" if args.real is None and ds.kind == "image" else default_features(ds))
    if args.metrics is None and ds.kind == "image" and features == "raw":  # pixels: no class probabilities, and
        metrics = [m for m in metrics if m not in NEEDS_CLASS_PROBS  # FID only where the covariance is small
                   and not (m in ("fid", "kid") and too_wide_for_fid(ds, features))]
    if args.real is None:
        allowed = set(SAMPLES_PAIR_METRICS.split(","))
        if set(metrics) - allowed:
            raise UserError(f"--metrics {','.join(sorted(set(metrics) - allowed))}: two --samples compare with "
                            f"{SAMPLES_PAIR_METRICS} only (the others need a dataset's splits: use --real)")
        if features == "domain" and not runs:
            raise UserError("--features: two --samples name no dataset whose domain classifier to use: give "
                            "--features domain:DATASET (e.g. domain:mnist), domain:FILE.safetensors or inception")
    ref_len = len(ds.split(split))
    run = runs.get(path)
    if run is not None:
        n = min(args.n, ref_len)
        candidates = sample_from(run, n, args.seed, ds.kind)
    else:
        candidates = load_samples(path)
        n = min(args.n, len(candidates), ref_len)
        candidates = candidates[:n]
    shape = tuple(candidates.shape[1:])
    if shape != ds.shape:
        raise UserError(f"--samples {path}: samples of shape {shape}, expected {ds.shape} like {reference}")
    check_evaluable(ds, metrics, n, features)
    print(f"ganforge: evaluating {n} samples from {path} against the first {n} of {reference} with {features} "
          "features", flush=True)
    timings: dict[str, float] = {}
    notes: dict = {}
    use_cache = not args.no_cache and args.real is not None  # another program's samples are no reference to keep
    values = evaluate_samples(candidates, ds, metrics, features, args.seed, use_cache, timings, notes,
                              model=run.model if run is not None else None, reference_split=split,
                              log=lambda s: print(f"  {s}", flush=True))
    for name, secs in timings.items():
        print(f"  {name}: done in {secs:.1f} s", flush=True)
    record = {"dataset": ds.name, "features": features, "n": n, "seed": args.seed, "metrics": metrics,
              "samples": str(path), "reference": reference, "values": values, "seconds": timings, "notes": notes,
              "total_seconds": round(time.perf_counter() - t_start, 2)}
    if run is not None:
        record.update({"run_dir": str(run.run_dir), "model": run.config.model, "step": run.step})
    print(format_table({f"samples {Path(path).name}": values}))
    if args.out:
        _write_json(record, Path(args.out))
        print(f"ganforge: wrote {args.out}")
    return 0


#: What a table run is measured with (ganforge.metrics.table), picked automatically.
TABLE_MEASURES = "shape, trends, efficacy (synthetic -> real beside real -> real), privacy (DCR), detection"


#: The fewest synthetic rows a table run is measured on (the detection's stratified 3-fold split needs 3 of
#: each kind; a handful more so that efficacy's classifier sees the target's classes).
TABLE_MIN_ROWS = 10


def cmd_eval_table(args: argparse.Namespace, run, ds) -> int:
    """A table run (or, with ``--real``, the validation split as if it were synthetic: the floor): every
    measure of :func:`ganforge.metrics.table.evaluate_table`, printed and written to eval.json."""
    from ..data.table import TableSpec, frame_rows
    from ..metrics.table import evaluate_table

    if args.metrics is not None:
        raise UserError(f"--metrics {args.metrics}: a table is measured with {TABLE_MEASURES} (leave --metrics "
                        "unset)")
    t_start = time.perf_counter()
    table, frames = ds.meta["table"], ds.meta["frames"]
    if args.target is not None and args.target not in [c["name"] for c in table["columns"]]:
        raise UserError(f"--target {args.target}: no such column: expected one of "
                        f"{', '.join(c['name'] for c in table['columns'])}")
    train, test, val = frames["train"], frames["test"], frames["val"]
    n = min(args.n, frame_rows(train))
    if run is not None and n < TABLE_MIN_ROWS:
        raise UserError(f"--n {args.n}: the table measures need at least {TABLE_MIN_ROWS} synthetic rows (detection "
                        f"is a 3-fold cross-validation of real against synthetic rows; {ds.name} has "
                        f"{frame_rows(train):,} training rows)")
    columns: dict[str, dict[str, float]] = {}
    record: dict = {"dataset": ds.name, "n": n, "seed": args.seed, "measures": TABLE_MEASURES}
    if args.real or args.compare_real:
        print(f"ganforge: measuring held-out real {ds.name} (validation split, {frame_rows(val):,} rows) against "
              f"train, holdout test", flush=True)
        real = evaluate_table(val, train, test, test, table, args.target, args.seed)
        columns[f"real {ds.name} (val)"] = real["values"]
        record["real"] = real
    if run is not None:
        print(f"ganforge: measuring {run.config.model} run {run.run_dir} (step {run.step}) on {ds.name}: {n:,} "
              "synthetic rows against train; efficacy on test; privacy against test", flush=True)
        spec = TableSpec(run.data.table)
        synth = spec.decode(run.sample(n, seed=args.seed).numpy())
        result = evaluate_table(synth, train, test, test, table, args.target, args.seed)
        columns[f"{run.config.model} step {run.step}"] = result["values"]
        record.update({"run_dir": str(run.run_dir), "model": run.config.model, "step": run.step,
                       "checkpoint": args.checkpoint, **result})
    return _report(record, columns, run, args, t_start)


def _report(record: dict, columns: dict, run, args: argparse.Namespace, t_start: float) -> int:
    """Print the results table and write ``record`` (with its total seconds) to --out or RUN_DIR/eval.json."""
    from ..metrics.evaluate import format_table

    record["total_seconds"] = round(time.perf_counter() - t_start, 2)
    print(format_table(columns))
    for key, note in record.get("notes", {}).items():
        if isinstance(note, str):  # a sentence about a value (e.g. why ssim is nan); curves and counts stay in JSON
            print(f"ganforge: {key}: {note}")
    out = Path(args.out) if args.out else (run.run_dir / "eval.json" if run is not None else None)
    if out is not None:
        _write_json(record, out)
        print(f"ganforge: wrote {out}")
    return 0
