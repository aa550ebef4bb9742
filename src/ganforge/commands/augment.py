"""``ganforge augment``: does a conditional GAN's output help a classifier on imbalanced classes? The
experiment of ``ganforge.imbalance``: imbalanced data, random oversampling, a class-weighted loss, SMOTE and
cGAN samples at several synthetic-to-real ratios, scored on the real test split over several seeds."""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

from ..errors import UserError
from ..rundir import atomic_write_text, check_output_dir

#: what the run directory of a cGAN trained by this command records about its training images
SUBSET_FILE = "augment_subset.json"
SCORES = ("balanced_accuracy", "macro_f1", "rare_recall", "accuracy")
#: synthetic images per real image of the largest class, at most (100 x the largest class is already far
#: past the published ratios of 0.5-2)
MAX_SYNTHETIC_RATIO = 100.0
#: the cGAN's options and their defaults: given with --synthetic-ratios none, nothing would read them
CGAN_OPTION_DEFAULTS = {"cgan_steps": 3000, "cgan_run": None, "cgan_conditioning": "projection", "cgan_width": None}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "augment", help="imbalanced classes: classifier on real data vs oversampling, class weights, SMOTE, cGAN",
        description="Make --rare-classes rare (--rare-count training images each, chosen with --split-seed; the "
                    "rest of their training images are held back and never used), train the domain CNN on: the "
                    "imbalanced set; random oversampling; a class-weighted loss; SMOTE (needs the [augment] "
                    "extra, imbalanced-learn); the imbalanced set plus cGAN samples of the rare classes at each "
                    "--synthetic-ratios R (round(R * M) synthetic images per rare class, M the largest class's "
                    "count). The cGAN is trained on the same imbalanced set only (--cgan-steps) or given "
                    "(--cgan-run, a run this command trained). Balanced accuracy, macro-F1 and rare-class "
                    "recall on the whole real test split, mean and std over --seeds; OUT/augment.md and "
                    "OUT/summary.csv, OUT/results.csv (every seed).")
    p.add_argument("--data", default="fashion-mnist", help="a labelled image dataset  [fashion-mnist]")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's files")
    p.add_argument("--rare-classes", default="0,2,4", metavar="C,C,...", help="class indices made rare  [0,2,4]")
    p.add_argument("--rare-count", type=int, default=50, help="training images kept per rare class  [50]")
    p.add_argument("--majority-count", type=int, default=None,
                   help="training images kept per other class (subsampled to keep CPU cost down)  [all]")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the choice of training images  [0]")
    p.add_argument("--seeds", type=int, default=3,
                   help="classifier seeds (initialisation, minibatch order, resampling, cGAN noise)  [3]")
    p.add_argument("--epochs", type=float, default=5.0,
                   help="classifier updates: this many passes over the imbalanced set, the same for every arm  [5]")
    p.add_argument("--batch-size", type=int, default=128, help="classifier minibatch  [128]")
    p.add_argument("--synthetic-ratios", default="0.5,1,2", metavar="R,R,...",
                   help="synthetic rare-class images per real image of the largest class; 'none' skips the cGAN  "
                        "[0.5,1,2]")
    p.add_argument("--cgan-steps", type=int, default=3000, help="steps of the cGAN trained on the imbalanced set "
                                                                "(into OUT/cgan)  [3000]")
    p.add_argument("--cgan-run", default=None, metavar="RUN",
                   help="use this cGAN run (trained by an earlier 'ganforge augment' on the same imbalanced set)")
    p.add_argument("--cgan-conditioning", default="projection", choices=("concat", "projection", "auxiliary"),
                   help="how the cGAN's D reads the label  [projection]")
    p.add_argument("--cgan-width", type=int, default=None, help="cGAN network width (DCGAN base channels)  [64]")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the tables (and the cGAN run)")
    p.set_defaults(func=cmd_augment)


def _ratios(spec: str) -> list[float]:
    if spec.strip().lower() == "none":
        return []
    try:
        ratios = [float(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        ratios = []
    if not ratios or any(not 0 < r <= MAX_SYNTHETIC_RATIO for r in ratios):
        raise UserError(f"--synthetic-ratios {spec}: expected numbers in (0, {MAX_SYNTHETIC_RATIO}], e.g. 0.5,1,2 "
                        "(or none)")
    return ratios


def subset_record(data_name: str, args: argparse.Namespace, split) -> dict:
    return {"data": data_name, "rare_classes": split.rare_classes, "rare_count": args.rare_count,
            "majority_count": args.majority_count, "split_seed": args.split_seed,
            "indices": [int(i) for i in split.indices]}


def train_cgan(ds, split, args: argparse.Namespace, run_dir: Path):
    """A cgan trained on the imbalanced set alone (a dataset holding only those training images), its
    indices written beside it (:data:`SUBSET_FILE`)."""
    from ..config import TrainConfig
    from ..data import ArrayDataset
    from ..train import Trainer

    if (run_dir / "checkpoints" / "latest.pt").is_file():
        raise UserError(f"--out {args.out}: {run_dir} already holds a cGAN: reuse it with --cgan-run {run_dir}, "
                        "or choose another --out")
    subset = ArrayDataset(ds.name, "image", {"train": ds.split("train")[split.indices]},
                          {"train": ds.labels["train"][split.indices]}, ds.num_classes, ds.class_names,
                          f"{ds.source} (ganforge augment's imbalanced set)")
    cfg = TrainConfig(model="cgan", data=ds.name, data_dir=args.data_dir, conditioning=args.cgan_conditioning,
                      objective="nonsaturating", optimizer="adam", lr=2e-4, beta1=0.5, batch_size=64,
                      latent_dim=100, width=args.cgan_width, steps=args.cgan_steps, seed=args.split_seed,
                      sample_every=max(1, args.cgan_steps // 4), checkpoint_every=max(1, args.cgan_steps // 4))
    print(f"ganforge: training cgan ({args.cgan_conditioning}) on the imbalanced set ({len(split.indices):,} "
          f"images) for {args.cgan_steps:,} steps into {run_dir}", flush=True)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, run_dir, dataset=subset, progress=False)
    trainer.govern_threads(args)  # minutes of training: other work may start or stop meanwhile
    atomic_write_text(run_dir / SUBSET_FILE, json.dumps(subset_record(ds.name, args, split)) + "\n")
    trainer.fit()
    return time.perf_counter() - t0


def check_cgan_run(run, ds, args: argparse.Namespace, split) -> None:
    """The given run is a cgan on this dataset, trained on exactly these training images."""
    if not hasattr(run.model, "latent_for_labels"):
        raise UserError(f"--cgan-run {run.run_dir}: a {run.config.model} run: expected a cgan run")
    path = Path(run.run_dir) / SUBSET_FILE
    if not path.is_file():
        raise UserError(f"--cgan-run {run.run_dir}: no {SUBSET_FILE}: expected a cGAN trained by 'ganforge "
                        "augment' (its training images must be known, so no held-back image leaks in)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # not UTF-8, not JSON
        raise UserError(f"--cgan-run {run.run_dir}: {SUBSET_FILE} is damaged ({str(e).splitlines()[0]})") from None
    if not isinstance(saved, dict):
        raise UserError(f"--cgan-run {run.run_dir}: {SUBSET_FILE} is damaged (not a JSON object)")
    if saved.get("data") != ds.name or saved.get("indices") != [int(i) for i in split.indices]:
        raise UserError(f"--cgan-run {run.run_dir}: trained on another set of training images (data "
                        f"{saved.get('data')}, rare classes {saved.get('rare_classes')}, rare count "
                        f"{saved.get('rare_count')}, majority count {saved.get('majority_count')}, split seed "
                        f"{saved.get('split_seed')}): expected this command's imbalanced set")


def class_sampler(run):
    """``sample_class(c, n, seed) -> uint8 (n, C, H, W)``: n samples of class c from the run's generator."""
    import numpy as np
    import torch

    from ..data import to_data_range

    def sample_class(c: int, n: int, seed: int) -> np.ndarray:
        rng = torch.Generator().manual_seed(seed)
        out = []
        with torch.inference_mode():
            for start in range(0, n, 1000):
                y = torch.full((min(1000, n - start),), c, dtype=torch.int64)
                x = to_data_range(run.model.generate(run.model.latent_for_labels(y, rng)), "image").cpu()
                out.append(x.mul(255.0).round_().to(torch.uint8))
        return torch.cat(out).numpy()

    return sample_class


def cmd_augment(args: argparse.Namespace) -> int:

    from .. import imbalance as im
    from ..data import load_dataset
    from ..features.train import fit_classifier, predict
    from ..threads import governed_step_hook

    ratios = _ratios(args.synthetic_ratios)
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: expected an integer >= 1")
    if not 0 < args.epochs < float("inf") or args.batch_size < 1:
        raise UserError(f"--epochs {args.epochs} --batch-size {args.batch_size}: expected positive finite numbers")
    if args.cgan_steps < 0:
        raise UserError(f"--cgan-steps {args.cgan_steps}: expected an integer >= 0")
    if args.cgan_width is not None and args.cgan_width < 1:
        raise UserError(f"--cgan-width {args.cgan_width}: expected an integer >= 1")
    unread = [name for name, default in CGAN_OPTION_DEFAULTS.items() if getattr(args, name) != default]
    if not ratios and unread:
        raise UserError(f"{', '.join('--' + n.replace('_', '-') for n in unread)}: options of the cGAN, which "
                        "--synthetic-ratios none skips: expected none of them, or some ratios")
    t_start = time.perf_counter()
    ds = load_dataset(args.data, args.data_dir)
    if ds.kind != "image" or not ds.num_classes or "train" not in ds.labels or "test" not in ds.labels:
        raise UserError(f"--data {args.data}: expected labelled images with train and test splits "
                        "(fashion-mnist, mnist, digits, cifar10)")
    k = ds.num_classes
    names = ds.class_names or [str(c) for c in range(k)]
    rare = im.parse_classes(args.rare_classes, k, ds.class_names, ds.name)
    x_train, y_train = ds.split("train"), ds.labels["train"]
    split = im.select_imbalanced(y_train, k, rare, args.rare_count, args.majority_count, args.split_seed, names)
    out = Path(args.out)
    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"ganforge: {ds.name}: rare classes {', '.join(f'{c} ({names[c]})' for c in rare)} with "
          f"{args.rare_count} images each ({len(split.held_back):,} held back); {len(split.indices):,} training "
          "images in all", flush=True)

    cgan_seconds, run = None, None
    if ratios and (args.cgan_run or args.cgan_steps > 0):
        from ..run import load_run

        run_dir = Path(args.cgan_run) if args.cgan_run else out / "cgan"
        if not args.cgan_run:
            cgan_seconds = train_cgan(ds, split, args, run_dir)
        run = load_run(run_dir)
        check_cgan_run(run, ds, args, split)
        if tuple(run.data.shape) != tuple(ds.shape):
            raise UserError(f"--cgan-run {run_dir}: images of shape {run.data.shape}, expected {ds.shape}")
    elif ratios:
        print("ganforge: --cgan-steps 0 and no --cgan-run: the cGAN arms are skipped", flush=True)
        ratios = []
    use_smote = im.smote_available()
    if not use_smote:
        print("ganforge: SMOTE skipped: imbalanced-learn is not installed (pip install 'ganforge[augment]')",
              flush=True)

    steps = im.classifier_steps(args.epochs, len(split.indices), args.batch_size)
    x_test, y_test = ds.split("test"), ds.labels["test"]
    builders = [("imbalanced", lambda s: im.imbalanced_arm(x_train, y_train, split)),
                ("oversample", lambda s: im.oversample_arm(x_train, y_train, split, s)),
                ("weighted", lambda s: im.weighted_arm(x_train, y_train, split))]
    if use_smote:
        builders.append(("smote", lambda s: im.smote_arm(x_train, y_train, split, s)))
    if run is not None:
        sampler = class_sampler(run)
        for r in ratios:
            builders.append((f"cgan x{r:g}", lambda s, r=r: im.cgan_arm(x_train, y_train, split, r, sampler, s)))
    print(f"ganforge: {len(builders)} arms x {args.seeds} seeds; {steps:,} classifier updates each (batch "
          f"{args.batch_size}); scored on {len(y_test):,} test images", flush=True)

    rows, counts, seconds = [], {}, {}
    step_hook = governed_step_hook(args, lambda s: print(f"  {s}", flush=True))  # the cGAN's, if any
    for seed in range(args.seeds):
        for name, build in builders:
            t0 = time.perf_counter()
            arm = build(seed)
            im.check_no_leakage(arm.source, split)
            counts[name] = [int(v) for v in arm.counts(k)]
            model = fit_classifier(arm.x, arm.y, k, steps, args.batch_size, seed=seed, class_weight=arm.class_weight,
                                   step_hook=step_hook)
            scores = im.classification_scores(y_test, predict(model, x_test), k, rare)
            secs = time.perf_counter() - t0
            seconds.setdefault(name, []).append(secs)
            rows.append({"arm": name, "seed": seed, "train_images": len(arm.y), **scores,
                         "seconds": round(secs, 1)})
            print(f"  seed {seed}  {name:12s} balanced accuracy {scores['balanced_accuracy']:.4f}  macro-F1 "
                  f"{scores['macro_f1']:.4f}  rare recall {scores['rare_recall']:.4f}  ({len(arm.y):,} images, "
                  f"{secs:.0f} s)", flush=True)
    summary = summarise(rows, [b[0] for b in builders])
    total = time.perf_counter() - t_start
    write_tables(out, rows, summary, counts, names, rare, split, args, ds.name, steps, cgan_seconds, run, total)
    print(format_summary(summary))
    print(f"ganforge: wrote {out / 'augment.md'}, {out / 'summary.csv'}, {out / 'results.csv'} ({total:.0f} s)")
    return 0


def summarise(rows: list[dict], arms: list[str]) -> list[dict]:
    """One row per arm: the mean and std over seeds of every score."""
    from ..imbalance import mean_std

    summary = []
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        row = {"arm": arm, "seeds": len(mine), "train_images": mine[0]["train_images"]}
        for key in SCORES:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([r[key] for r in mine])
        summary.append(row)
    return summary


def format_summary(summary: list[dict]) -> str:
    lines = [f"{'arm':12s}  {'balanced accuracy':>17s}  {'macro-F1':>15s}  {'rare recall':>15s}"]
    for row in summary:
        cells = [f"{row[f'{k}_mean']:.4f} ± {row[f'{k}_std']:.4f}" for k in ("balanced_accuracy", "macro_f1",
                                                                           "rare_recall")]
        lines.append(f"{row['arm']:12s}  {cells[0]:>17s}  {cells[1]:>15s}  {cells[2]:>15s}")
    return "\n".join(lines)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})
    return buf.getvalue()


def write_tables(out: Path, rows, summary, counts, names, rare, split, args, data_name, steps, cgan_seconds, run,
                 total) -> None:
    atomic_write_text(out / "results.csv", _csv(rows))
    atomic_write_text(out / "summary.csv", _csv(summary))
    md = [f"# Augmentation for imbalanced classes: {data_name}", "",
          f"Rare classes {', '.join(f'{c} ({names[c]})' for c in rare)}: {args.rare_count} training images each "
          f"({len(split.held_back):,} held back, never used); other classes "
          f"{args.majority_count or 'all their'} images each; split seed {args.split_seed}. Classifier: the "
          f"domain CNN, {steps:,} updates of {args.batch_size} for every arm ({args.epochs:g} passes over the "
          f"{len(split.indices):,} imbalanced images), seeds 0-{args.seeds - 1}. Scores on the whole real test "
          "split, mean ± std over seeds.", ""]
    if run is not None:
        md += [f"cGAN: {run.config.model} ({run.config.conditioning}), {run.run_dir}, step {run.step}"
               + (f", trained here in {cgan_seconds:.0f} s" if cgan_seconds is not None else "") +
               "; trained on the imbalanced set only. `cgan xR`: round(R x "
               f"{split.largest}) synthetic images per rare class.", ""]
    md += ["| arm | train images | balanced accuracy | macro-F1 | rare-class recall | accuracy |",
           "|---|---|---|---|---|---|"]
    for row in summary:
        cells = [f"{row[f'{k}_mean']:.4f} ± {row[f'{k}_std']:.4f}" for k in SCORES]
        md.append(f"| {row['arm']} | {row['train_images']:,} | " + " | ".join(cells) + " |")
    md += ["", "Training images per class:", "", "| arm | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for arm, c in counts.items():
        md.append(f"| {arm} | " + " | ".join(f"{v:,}" for v in c) + " |")
    md += ["", f"Total {total:.0f} s.", ""]
    atomic_write_text(out / "augment.md", "\n".join(md))
