"""Figures for a table run's report: per-column real-vs-synthetic histograms and the pair-trend heat map.

Both read decoded frames (:data:`ganforge.data.table.Frame`): the training split of the run's table and rows
sampled from the model. The numbers behind them are :mod:`ganforge.metrics.table`'s, so a figure and
``ganforge eval``'s shape and trend scores always tell the same story.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ..data.table import NUMERIC_KINDS, Frame
from ..metrics.table import column_shape, pair_trends
from .plotting import pyplot, save_figure

#: Discrete columns show at most this many categories (the most frequent in the real rows); the rest is "other".
MAX_BARS = 12
#: Numeric columns are binned into this many equal-width bins over the real values' range.
NUMERIC_BINS = 30


def category_frequencies(real: np.ndarray, synth: np.ndarray, max_bars: int = MAX_BARS
                         ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Relative frequencies ``(labels, real (B,), synth (B,))`` of the ``max_bars`` most frequent real
    categories (``""`` shown as ``(missing)``), plus one ``other`` bar when there are more; each sums to 1."""
    r, s = real.astype(str), synth.astype(str)
    values, counts = np.unique(r, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    kept = [str(v) for v in values[order][:max_bars]]
    fr = np.array([(r == v).mean() for v in kept])
    fs = np.array([(s == v).mean() for v in kept]) if len(s) else np.zeros(len(kept))
    labels = [v if v != "" else "(missing)" for v in kept]
    if len(values) > max_bars or (len(s) and fs.sum() < 1 - 1e-12):
        labels.append("other")
        fr, fs = np.append(fr, 1 - fr.sum()), np.append(fs, 1 - fs.sum())
    return labels, fr, fs


def trend_matrix(real: Frame, synth: Frame, table: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """``(names, M (C, C))``: ``M[i, j] = 1 - trend score`` of columns i and j (0 on the diagonal): the
    absolute correlation difference / 2 for two numeric columns, the total variation of the joint categories
    otherwise (:func:`ganforge.metrics.table.pair_trends`). 0 is a perfect match, 1 the worst."""
    names = [c["name"] for c in table["columns"]]
    scores = pair_trends(real, synth, table)
    m = np.zeros((len(names), len(names)))
    for (i, a), (j, b) in combinations(enumerate(names), 2):
        m[i, j] = m[j, i] = 1.0 - scores[f"{a}|{b}"]
    return names, m


def plot_column_histograms(real: Frame, synth: Frame, table: dict[str, Any], path: str | Path,
                           title: str = "") -> Path:
    """One panel per column: numeric columns as two step histograms (densities over the real range),
    discrete columns as paired bars of relative frequency; each panel's title carries the column-shape score."""
    plt = pyplot()
    shapes = column_shape(real, synth, table)
    cols = table["columns"]
    ncol = min(4, len(cols))
    nrow = -(-len(cols) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.6 * nrow), squeeze=False)
    for ax in axes.flat[len(cols):]:
        ax.axis("off")
    for ax, col in zip(axes.flat[:len(cols)], cols, strict=True):
        name = col["name"]
        if col["kind"] in NUMERIC_KINDS:
            r, s = real[name][~np.isnan(real[name])], synth[name][~np.isnan(synth[name])]
            lo, hi = (float(r.min()), float(r.max())) if len(r) else (0.0, 1.0)
            edges = np.linspace(lo, hi if hi > lo else lo + 1, NUMERIC_BINS + 1)
            ax.hist(r, bins=edges, density=True, histtype="step", color="#1f77b4", label="real")
            ax.hist(np.clip(s, lo, hi), bins=edges, density=True, histtype="step", color="#d62728",
                    label="synthetic")
        else:
            labels, fr, fs = category_frequencies(real[name], synth[name])
            x = np.arange(len(labels))
            ax.bar(x - 0.2, fr, 0.4, color="#1f77b4", label="real")
            ax.bar(x + 0.2, fs, 0.4, color="#d62728", label="synthetic")
            ax.set_xticks(x, [lb[:8] for lb in labels], rotation=60, fontsize=7)
        ax.set_title(f"{name}  (shape {shapes[name]:.3f})", fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_trend_heatmap(real: Frame, synth: Frame, table: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The :func:`trend_matrix` as a heat map (0 white: the pair's relation is kept; 1 dark: lost)."""
    plt = pyplot()
    names, m = trend_matrix(real, synth, table)
    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(m, cmap="Reds", vmin=0, vmax=max(0.2, float(m.max())))
    ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    fig.colorbar(image, ax=ax, label="1 - trend score")
    ax.set_title(title or "pair trends: real vs synthetic", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def write_table_figures(run, assets: Path, n: int = 2000, seed: int = 0, data_dir: str | None = None
                        ) -> list[tuple[Path, str]]:
    """Sample ``n`` rows of a table run (at most the training rows) and draw both figures under ``assets``;
    returns ``[(path, caption)]``. A UserError when the run's table cannot be loaded on this machine."""
    from ..data.table import TableSpec, frame_rows

    cfg = run.config
    ds = run.dataset(data_dir)  # as training read it; refused when the files changed since
    table, train = ds.meta["table"], ds.meta["frames"]["train"]
    n = min(n, frame_rows(train))
    synth = TableSpec(run.data.table).decode(run.sample(n, seed=seed).numpy())
    what = f"{cfg.model} on {run.data_name}, step {run.step}: {n:,} sampled rows vs the {frame_rows(train):,} " \
           "training rows"
    hist = plot_column_histograms(train, synth, table, assets / "table_columns.png")
    heat = plot_trend_heatmap(train, synth, table, assets / "table_trends.png")
    return [(hist, f"per-column distributions, real (blue) vs synthetic (red); {what}"),
            (heat, "pair trends lost: 1 - trend score per pair of columns (correlation difference / 2 for two "
                   "numeric columns, total variation of the joint categories otherwise)")]
