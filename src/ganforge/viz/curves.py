"""Training curves from ``RUN_DIR/metrics.jsonl``: losses, mean D(x) and D(G(z)), and metrics over steps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from .plotting import pyplot, save_figure

#: How the loop's log keys read on a plot.
PRETTY = {"D/real": "mean D(x)", "D/fake": "mean D(G(z))", "D/r_t": "r_t = mean sign D(x_real)",
          "augment/p": "augmentation probability p"}
#: Keys of the augmentation panel: ADA's overfitting heuristic and its probability p (``ganforge.augment``).
AUGMENTATION_KEYS = ("D/r_t", "augment/p")
BOOKKEEPING = {"step", "epoch", "time_s", "images_per_s"}


def read_metrics(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{key: (steps (n,), values (n,))}`` for every numeric key of a metrics.jsonl file (one JSON object
    per line with a ``step``); non-numeric values and blank lines are skipped. A UserError if unreadable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise UserError(f"metrics log {path}: cannot be read ({e.strerror})") from None
    lines = text.splitlines()
    series: dict[str, tuple[list[float], list[float]]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            step = float(record["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines) and not text.endswith("\n"):  # a write cut short by a kill: the run's log
                continue  # up to it is whole (train --resume drops the torn line itself)
            raise UserError(f"metrics log {path}: line {number} is not a JSON object with a step") from None
        for key, value in record.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            steps, values = series.setdefault(key, ([], []))
            steps.append(step)
            values.append(float(value))
    return {k: (np.asarray(s), np.asarray(v)) for k, (s, v) in series.items()}


def group_series(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, list[str]]:
    """Panels: ``losses`` (loss/*), ``discriminator`` (D/real, D/fake), ``augmentation`` (D/r_t, augment/p),
    ``metrics`` (metric/*), ``other``."""
    groups: dict[str, list[str]] = {"losses": [], "discriminator": [], "augmentation": [], "metrics": [],
                                    "other": []}
    for key in sorted(series):
        if key.startswith("loss/"):
            groups["losses"].append(key)
        elif key in ("D/real", "D/fake"):
            groups["discriminator"].append(key)
        elif key in AUGMENTATION_KEYS:
            groups["augmentation"].append(key)
        elif key.startswith("metric/"):
            groups["metrics"].append(key)
        elif key not in BOOKKEEPING:
            groups["other"].append(key)
    return {g: keys for g, keys in groups.items() if keys}


def ada_target(run_dir: Path) -> float:
    """The run's ``ada_target`` from its config.yaml (the default 0.6 when absent or unreadable)."""
    import yaml

    try:
        text = (run_dir / "config.yaml").read_text(encoding="utf-8", errors="replace")
        value = (yaml.safe_load(text) or {}).get("ada_target", 0.6)
    except (OSError, yaml.YAMLError, AttributeError):
        value = 0.6
    return float(value) if isinstance(value, (int, float)) else 0.6


def plot_training_curves(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """One PNG per non-empty group of :func:`group_series` (``curves_losses.png``, ``curves_discriminator.png``,
    ``curves_augmentation.png``, ``curves_metrics.png``, ``curves_other.png``); returns the files written
    (none when there is no log)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    series = read_metrics(path)
    plt = pyplot()
    written = []
    titles = {"losses": "losses", "discriminator": "discriminator outputs (1/2 at the equilibrium)",
              "augmentation": "overfitting heuristic r_t and augmentation probability p",
              "metrics": "metrics", "other": "other logged values"}
    for group, keys in group_series(series).items():
        if group == "metrics":  # metrics differ in scale: one small panel each
            fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys) + 0.4, 3.0), dpi=100, squeeze=False)
            for ax, key in zip(axes[0], keys, strict=True):
                steps, values = series[key]
                ax.plot(steps, values, "-o", ms=3)
                ax.set_title(key, fontsize=9)
                ax.set_xlabel("step")
        else:
            fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
            for key in keys:
                steps, values = series[key]
                ax.plot(steps, values, "-", marker="o" if len(steps) < 30 else None, ms=3, label=PRETTY.get(key, key))
            if group == "discriminator":
                ax.axhline(0.5, color="gray", lw=0.8, ls=":")
                ax.set_ylim(-0.02, 1.02)
            if group == "augmentation":
                target = ada_target(Path(run_dir))
                ax.axhline(target, color="gray", lw=0.8, ls=":", label=f"ADA target {target:g}")
                ax.set_ylim(-1.02, 1.02)
            ax.set_xlabel("step")
            ax.set_title(titles[group], fontsize=10)
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        written.append(save_figure(fig, Path(out_dir) / f"curves_{group}.png"))
    return written
