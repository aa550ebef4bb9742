"""The one-class table: every method, each class in turn the normal one, AUROC and AUPRC on the test split.

:func:`run_table` fits each (method, normal class) in ``OUT/runs/METHOD-cC``, scores the test split (AnoGAN:
a stratified subset, see ``anogan_subset``), appends one JSON line per result to ``OUT/results.jsonl`` (so an
interrupted table resumes where it stopped) and writes ``OUT/table.md`` and ``OUT/table.csv``; for
reconstruction methods on images, ``OUT/figures/METHOD-cC.png`` shows the 8 most and 8 least anomalous test
images with their reconstructions and residual heat maps |x - x_hat|.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.oneclass import is_anomaly, one_class_dataset
from ..errors import UserError
from ..metrics.anomaly import auprc, auroc
from ..rundir import atomic_write_text
from .base import AnomalyConfig, AnomalyMethod, build_method, load_source, source_fingerprint


def stratified_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of about ``n`` examples, the same number from each class (all of a class when it has
    fewer), chosen from ``seed``; every index when ``n`` is 0 or at least ``len(labels)``."""
    if not n or n >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    per_class = max(1, n // len(classes))
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(chosen))


def extremes(scores: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` highest scores (most anomalous first), then the ``k`` lowest (least anomalous last)."""
    order = np.argsort(-scores, kind="mergesort")
    return np.r_[order[:k], order[-k:]]


def save_residual_figure(x: np.ndarray, x_hat: np.ndarray, scores: np.ndarray, labels: np.ndarray, title: str,
                         path: Path) -> None:
    """Three rows for ``x (16, C, H, W)`` float in [0, 1] (8 most, then 8 least anomalous): the images with
    their class and score, the reconstructions ``x_hat``, and the residuals |x - x_hat| (mean over channels)
    as heat maps on one colour scale."""
    from ..viz.plotting import pyplot

    plt = pyplot()
    n = len(x)
    fig, axes = plt.subplots(3, n, figsize=(1.1 * n, 3.9), squeeze=False)
    residual = np.abs(x - x_hat).mean(1)
    vmax = max(float(residual.max()), 1e-6)
    for i in range(n):
        img = x[i].transpose(1, 2, 0)
        rec = x_hat[i].transpose(1, 2, 0)
        gray = img.shape[2] == 1
        axes[0, i].imshow(img[..., 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=1)
        axes[0, i].set_title(f"y={labels[i]}\n{scores[i]:.3g}", fontsize=6)
        axes[1, i].imshow(rec[..., 0] if gray else rec, cmap="gray" if gray else None, vmin=0, vmax=1)
        axes[2, i].imshow(residual[i], cmap="inferno", vmin=0, vmax=vmax)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for row, name in enumerate(("x", "x_hat", "|x-x_hat|")):
        axes[row, 0].set_ylabel(name, fontsize=7)
    fig.suptitle(f"{title}: 8 most anomalous (left), 8 least anomalous (right)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def residual_figure(method: AnomalyMethod, x: np.ndarray, labels: np.ndarray, scores: np.ndarray, title: str,
                    path: Path) -> bool:
    """The extremes figure for a reconstruction-based method on images; False (nothing written) otherwise."""
    if x.ndim != 4:
        return False
    chosen = extremes(scores)
    x_hat = method.reconstruct(x[chosen])
    if x_hat is None:
        return False
    save_residual_figure(x[chosen].astype(np.float32) / 255.0, x_hat, scores[chosen], labels[chosen], title, path)
    return True


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except ValueError as e:  # not UTF-8, or a line that is not JSON
        raise UserError(f"{path}: damaged ({str(e).splitlines()[0]}): expected the lines 'ganforge anomaly table' "
                        "writes (move it away to start the table again)") from None


def table_settings(base: AnomalyConfig, anogan_subset: int) -> dict[str, Any]:
    """What the cells of a table share and its numbers depend on: every field of ``base`` but the per-cell
    ``method`` and ``normal_classes``, the machine's ``data_dir`` and the training options of
    :data:`HOW_NOT_WHAT`, plus ``anogan_subset``."""
    settings = {k: v for k, v in asdict(base).items() if k not in ("method", "normal_classes", "data_dir")}
    settings["train"] = {k: v for k, v in base.train.items() if k not in HOW_NOT_WHAT}
    return json.loads(json.dumps({**settings, "anogan_subset": anogan_subset}))  # as the file will read back


#: training options that say where and how a run goes, not what it computes: a table resumes across them
HOW_NOT_WHAT = {"device", "compile", "channels_last", "log", "sample_every", "checkpoint_every", "keep_every",
                "time_budget", "sync_bn", "adam_fused", "eval_every", "eval_n", "eval_metrics"}


def check_table_settings(out_dir: Path, settings: dict[str, Any], has_results: bool) -> None:
    """``OUT/table_settings.json``: written with the first cell; a later table into the same ``OUT`` must ask
    for the same settings (it resumes the cells already measured), else it is refused in one line rather than
    publishing old numbers under new headings. A table from before this file existed adopts the settings."""
    path = out_dir / "table_settings.json"
    if path.is_file() and has_results:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise UserError(f"{path}: damaged ({str(e).splitlines()[0]}): expected the settings 'ganforge anomaly "
                            "table' writes") from None
        if not isinstance(saved, dict):
            raise UserError(f"{path}: damaged (not a JSON object): expected the settings 'ganforge anomaly table' "
                            "writes")
        if saved.get("train_fingerprint") is None:  # a table from before the data's hash was kept: adopts it
            saved["train_fingerprint"] = settings.get("train_fingerprint")
        changed = sorted(k for k in set(saved) | set(settings)
                         if saved.get(k) != settings.get(k) and k != "train_fingerprint")
        if changed:
            what = ", ".join(f"{k} {saved.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise UserError(f"anomaly table: {out_dir} holds a table made with other settings ({what}): expected "
                            "the same settings to resume it, or another --out")
        if saved["train_fingerprint"] != settings.get("train_fingerprint"):
            raise UserError(f"anomaly table: {out_dir} holds cells measured on other data (the files of "
                            f"{settings.get('data')} changed since): expected the same files to resume it, or "
                            "another --out")
    atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def run_table(base: AnomalyConfig, methods: list[str], classes: tuple[int, ...], out_dir: Path,
              anogan_subset: int = 1000, figures: bool = True, log: Callable[[str], None] = print,
              command_args: Any = None) -> list[dict]:
    """Fit and score every method with each class of ``classes`` as the (single) normal class; returns the result
    rows (also in ``out_dir/results.jsonl``) and writes the table files. ``base`` carries the dataset and the
    method options; its ``method`` and ``normal_classes`` are replaced per cell. ``command_args``: the parsed
    arguments of ``anomaly table``, handed to each method (:attr:`AnomalyMethod.command_args`)."""
    source = load_source(base.data, base.data_dir, base.train)
    # each cell's run records the data's hash (anomaly score of it refuses changed files), and so does the table:
    # a table resumed over other files would mix two datasets' cells
    base = replace(base, train_fingerprint=source_fingerprint(source))
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    check_table_settings(out_dir, table_settings(base, anogan_subset), results_path.is_file())
    rows = read_results(results_path)
    done = {(r["method"], r["class"]) for r in rows}
    names: dict[int, str] = {}
    for c in classes:
        data = one_class_dataset(source, [c], base.val_fraction, base.seed, base.label_column)
        if data.kind == "table":  # a table's classes are values of its label column
            names[c] = f"{data.meta['one_class']['label_column']}={data.class_names[c]}"
        x_test, y_test = data.split("test"), data.labels["test"]
        for name in methods:
            if (name, c) in done:
                continue
            cfg = replace(base, method=name, normal_classes=[c]).validate()
            method = build_method(cfg)
            method.command_args = command_args
            run_dir = out_dir / "runs" / f"{name}-c{c}"
            if run_dir.exists():  # an unfinished cell of an interrupted table: start it again, its files kept aside
                i = 1
                while (kept := run_dir.with_name(f"{run_dir.name}.interrupted-{i}")).exists():
                    i += 1
                run_dir.rename(kept)
                log(f"anomaly table: {name} on class {c} was interrupted; starting it again (its files: {kept})")
            started = time.perf_counter()
            run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(run_dir)
            method.fit(data, run_dir)
            fit_s = time.perf_counter() - started
            subset = stratified_subset(y_test, anogan_subset, base.seed) if name == "anogan" else np.arange(len(y_test))
            started = time.perf_counter()
            scores = method.score(x_test[subset])
            score_s = time.perf_counter() - started
            target = is_anomaly(y_test[subset], [c])
            row = {"method": name, "class": c, "auroc": auroc(scores, target), "auprc": auprc(scores, target),
                   "n_test": int(len(subset)), "n_train": int(len(data.split("train"))),
                   "fit_s": round(fit_s, 1), "score_s": round(score_s, 1)}
            if c in names:
                row["value"] = names[c]
            if figures:
                residual_figure(method, x_test[subset], y_test[subset], scores, f"{name}, normal class {c}",
                                out_dir / "figures" / f"{name}-c{c}.png")
            rows.append(row)
            with results_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            log(f"{name} normal={names.get(c, c)}: AUROC {row['auroc']:.3f} AUPRC {row['auprc']:.3f} "
                f"(fit {fit_s:.0f} s, score {score_s:.0f} s, {len(subset)} test)")
    write_table(rows, methods, classes, out_dir, base, names)
    return rows


def write_table(rows: list[dict], methods: list[str], classes: tuple[int, ...], out_dir: Path,
                base: AnomalyConfig, names: dict[int, str] | None = None) -> None:
    """``table.csv`` (one line per method and class, plus its mean) and ``table.md`` (AUROC and AUPRC, a column
    per class and the mean over the classes present). ``names``: a heading per class (a table's
    ``column=value``), the class number where absent."""
    names = names or {}
    cell = {(r["method"], r["class"]): r for r in rows}
    csv = ["method,class,auroc,auprc,n_test,fit_s,score_s"]
    md = [f"One-class anomaly detection on {base.data}: each class in turn the normal one (training on its "
          f"training examples only, {base.val_fraction:g} of them held out), the whole test split scored "
          "(anogan: a stratified subset, n_test below).", ""]
    for metric in ("auroc", "auprc"):
        md += [f"**{metric.upper()}**", "",
               "| method | " + " | ".join(names.get(c, str(c)) for c in classes) + " | mean |",
               "|---|" + "---|" * (len(classes) + 1)]
        for m in methods:
            values = [cell[(m, c)][metric] if (m, c) in cell else None for c in classes]
            present = [v for v in values if v is not None]
            mean = float(np.mean(present)) if present else None
            md.append(f"| {m} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in values) +
                      f" | {'-' if mean is None else f'{mean:.3f}'} |")
        md.append("")
    for m in methods:
        mine = [cell[(m, c)] for c in classes if (m, c) in cell]
        for r in mine:
            csv.append(f"{m},{names.get(r['class'], r['class'])},{r['auroc']:.6f},{r['auprc']:.6f},{r['n_test']},"
                       f"{r['fit_s']},{r['score_s']}")
        if mine:
            csv.append(f"{m},mean,{np.mean([r['auroc'] for r in mine]):.6f},"
                       f"{np.mean([r['auprc'] for r in mine]):.6f},,{sum(r['fit_s'] for r in mine):.1f},"
                       f"{sum(r['score_s'] for r in mine):.1f}")
    n_test = sorted({r["n_test"] for r in rows if r["method"] in methods})
    md.append(f"n_test per cell: {', '.join(map(str, n_test))}; fit and score seconds in table.csv.")
    atomic_write_text(out_dir / "table.csv", "\n".join(csv) + "\n")
    atomic_write_text(out_dir / "table.md", "\n".join(md) + "\n")
