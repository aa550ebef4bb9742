"""The 2-D lab: mode collapse and recovery on ``ring8`` / ``grid25``, several models side by side.

Each model trains with the shared :class:`ganforge.train.Trainer`; every few steps 2,000 samples from a
*fixed* set of latents are drawn and scored with :func:`ganforge.metrics.modes.mode_coverage` (a mode is
covered by a sample within 3 std of it). Output: one scatter GIF per model with the metrics on each frame,
``modes.json`` (the metrics at every frame) and ``comparison.png`` (models in rows, steps in columns, plus
modes covered over training).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from ..config import TrainConfig
from ..errors import UserError
from .lab1d import refuse_existing_run
from .plotting import figure_to_array, pyplot, save_figure, save_gif

NUM_POINTS = 2000  # samples per frame, from the same latents every time

#: Each model's recipe for the toy mixtures (the training options it needs beyond its name), after the
#: papers' settings: the 2014 GAN with Adam, WGAN-GP's Algorithm 1 (n_critic 5, Adam 1e-4, betas 0/0.9),
#: SN-GAN's hinge loss, LSGAN's least squares and WGAN's clipped critic with RMSProp.
RECIPES: dict[str, dict] = {
    "gan": {"objective": "nonsaturating", "optimizer": "adam", "lr": 2e-4, "beta1": 0.5, "beta2": 0.999},
    "wgan-gp": {"objective": "wasserstein", "optimizer": "adam", "k_disc": 5, "lr": 1e-4, "beta1": 0.0,
                "beta2": 0.9},
    "sngan": {"objective": "hinge", "optimizer": "adam", "lr": 2e-4, "beta1": 0.0, "beta2": 0.9},
    "lsgan": {"objective": "least-squares", "optimizer": "adam", "lr": 2e-4, "beta1": 0.5},
    "wgan": {"objective": "wasserstein", "optimizer": "rmsprop", "k_disc": 5, "lr": 5e-5},
}
DEFAULT_MODELS = ("gan", "wgan-gp", "sngan")


@dataclass
class ModelSpec2D:
    """One row of the comparison: a model name and the training options that differ from the lab's."""

    label: str
    model: str
    options: dict = field(default_factory=dict)


#: Options the lab sets for every model alike (``--data``, ``--steps``): a spec may not change them (a spec's
#: ``seed=`` may: ``gan gan:seed=1`` compares two seeds).
LAB_OWNED_OPTIONS = ("model", "data", "steps", "epochs")


def parse_model_spec(text: str) -> ModelSpec2D:
    """``NAME`` or ``NAME:key=value,key=value`` (values read as YAML scalars: ``5``, ``1e-4``, ``minimax``)."""
    name, _, rest = text.partition(":")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UserError(f"--model {text!r}: expected NAME or NAME:key=value,key=value")
    options: dict = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise UserError(f"--model {text!r}: option {item!r} is not key=value (with a value)")
        key = key.strip().replace("-", "_")
        if key in LAB_OWNED_OPTIONS:
            raise UserError(f"--model {text!r}: option {key} is the lab's own (every model is trained on the same "
                            f"data for the same steps): expected --{key} instead, or another key")
        options[key] = _scalar(value)
    return ModelSpec2D(text, name, options)


def _scalar(text: str):
    """``5`` -> 5, ``1e-4`` -> 0.0001 (YAML 1.1 would keep that a string), ``none`` -> None, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    value = yaml.safe_load(text)
    return value if value is None or isinstance(value, bool) else text


def parse_model_specs(texts: list[str] | None) -> list[ModelSpec2D]:
    """The models to compare: the given specs, or :data:`DEFAULT_MODELS` (those of them registered)."""
    from ..models import MODELS

    if not texts:
        texts = [m for m in DEFAULT_MODELS if m in MODELS] or ["gan"]
    specs = [parse_model_spec(t) for t in texts]
    for s in specs:
        spec = MODELS.get_or_fail(s.model)
        if "points" not in spec.data_kinds:
            raise UserError(f"--model {s.model}: cannot model 2-D points (it takes {' or '.join(spec.data_kinds)})")
    if len({s.label for s in specs}) != len(specs):
        raise UserError("--model: each model spec must be given once")
    return specs


def lab_config(spec: ModelSpec2D, data: str, steps: int, seed: int) -> TrainConfig:
    """The lab's run for one spec: its recipe, then the spec's options, on ``data`` with minibatches of 128."""
    values = {"model": spec.model, "data": data, "latent_dim": 2, "batch_size": 128, "width": 128, "seed": seed,
              "sample_every": steps, "checkpoint_every": steps, "device": "cpu",
              **RECIPES.get(spec.model, {}), **spec.options, "steps": steps}
    return TrainConfig.from_dict(values, source=f"--model {spec.label}").validate()


@dataclass
class Lab2DResult:
    out_dir: Path
    gifs: dict[str, Path]
    comparison: Path
    metrics: dict[str, list[dict]]
    seconds: float


def draw_points(ax, points: np.ndarray, means: np.ndarray, limit: float, title: str) -> None:
    ax.scatter(means[:, 0], means[:, 1], s=40, facecolors="none", edgecolors="k", linewidths=0.8)
    ax.scatter(points[:, 0], points[:, 1], s=1.5, c="tab:green", alpha=0.5)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def metric_text(step: int, m: dict) -> str:
    return f"step {step}: {m['modes_covered']}/{m['num_modes']} modes, HQ {m['high_quality_fraction']:.2f}"


def safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def train_and_record(spec: ModelSpec2D, data: str, steps: int, frame_steps: list[int], seed: int,
                     run_dir: Path) -> tuple[list[tuple[int, np.ndarray]], list[dict], float]:
    """Train one spec in ``run_dir`` (a normal run: config, metrics.jsonl with the mode metrics, checkpoint);
    at each of ``frame_steps`` draw :data:`NUM_POINTS` samples from fixed latents and score them.
    Returns ``([(step, points (NUM_POINTS, 2))], [mode metrics per frame], seconds)``. One thread: the
    lab runs one model per core."""
    from ..data import load_dataset
    from ..metrics.modes import mode_coverage
    from ..train import Trainer

    torch.set_num_threads(1)
    dataset = load_dataset(data)
    means, std = dataset.meta["means"], float(dataset.meta["std"])
    trainer = Trainer(lab_config(spec, data, steps, seed), run_dir, dataset=dataset, progress=False)
    latent = trainer.model.sample_latent(NUM_POINTS, torch.Generator().manual_seed(seed + 3))
    points, rows = [], []
    sums: dict[str, float] = {}
    count = 0
    t0 = time.perf_counter()
    while True:
        if trainer.step in frame_steps:
            x = trainer.generate(latent).numpy()
            m = mode_coverage(x, means, std)
            rows.append({"step": trainer.step, **m})
            points.append((trainer.step, x))
            # the run's own log, as the Trainer writes it, plus the mode metrics (for `ganforge report`)
            record = {"step": trainer.step, "epoch": round(trainer.step / trainer.steps_per_epoch, 4),
                      **{k: round(v / max(count, 1), 6) for k, v in sums.items()},
                      "metric/modes_covered": m["modes_covered"],
                      "metric/high_quality_fraction": round(m["high_quality_fraction"], 6)}
            with open(trainer.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            sums, count = {}, 0
        if trainer.step >= steps:
            break
        for k, v in trainer.train_step().items():
            sums[k] = sums.get(k, 0.0) + float(v)
        count += 1
    trainer.elapsed_s = time.perf_counter() - t0
    trainer.write_samples()
    trainer.save_checkpoint()
    return points, rows, trainer.elapsed_s


def run_lab2d(out_dir: str | Path, data: str = "ring8", specs: list[ModelSpec2D] | None = None, steps: int = 1500,
              frames: int = 21, seed: int = 0, columns: int = 5, workers: int | None = None,
              log: Callable[[str], None] | None = None) -> Lab2DResult:
    """Train every spec on ``data``, record ``frames`` frames each, write the GIFs, modes.json and
    comparison.png into ``out_dir`` (each model's run directory is ``out_dir/runs/<label>``).

    Models train in parallel, one process per CPU core (``workers``; 1 trains them in this process), each
    with one thread; the results do not depend on ``workers``."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from ..data import load_dataset

    if data not in ("ring8", "grid25"):
        raise UserError(f"2-D lab data {data!r} is unknown: expected ring8 or grid25")
    if steps < 1 or frames < 2:
        raise UserError(f"2-D lab: steps={steps} and frames={frames} are invalid: expected steps >= 1, frames >= 2")
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    specs = specs or parse_model_specs(None)
    out = Path(out_dir)
    refuse_existing_run(out)
    dataset = load_dataset(data)
    means = dataset.meta["means"]
    limit = float(np.abs(means).max()) * 1.5
    frame_steps = sorted(set(np.linspace(0, steps, frames).round().astype(int).tolist()))
    workers = max(1, min(len(specs), workers or os.cpu_count() or 1))
    jobs = [(spec, data, steps, frame_steps, seed, out / "runs" / safe_name(spec.label)) for spec in specs]
    if workers == 1:
        results = [train_and_record(*job) for job in jobs]
    else:  # spawn, not fork: a forked child of a process that has run torch's thread pool can hang
        threads = torch.get_num_threads()
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(train_and_record, *zip(*jobs, strict=True)))
        torch.set_num_threads(threads)
    all_points: dict[str, list[tuple[int, np.ndarray]]] = {}
    metrics: dict[str, list[dict]] = {}
    gifs: dict[str, Path] = {}
    plt = pyplot()
    for spec, (points, rows, seconds) in zip(specs, results, strict=True):
        say(f"{spec.label}: {steps} steps in {seconds:.1f} s; final {metric_text(steps, rows[-1])}")
        all_points[spec.label], metrics[spec.label] = points, rows
        images = []
        for (step, x), m in zip(points, rows, strict=True):
            fig, ax = plt.subplots(figsize=(3.6, 3.8), dpi=100)
            draw_points(ax, x, means, limit, f"{spec.label} on {data}\n{metric_text(step, m)}")
            fig.tight_layout()
            images.append(figure_to_array(fig))
        gifs[spec.label] = save_gif(images, out / f"{safe_name(spec.label)}.gif", fps=4)

    comparison = save_figure(draw_comparison(all_points, metrics, means, limit, data, columns), out / "comparison.png")
    (out / "modes.json").write_text(json.dumps({"data": data, "steps": steps, "models": metrics}, indent=1) + "\n")
    return Lab2DResult(out, gifs, comparison, metrics, time.perf_counter() - t0)


def draw_comparison(all_points: dict[str, list[tuple[int, np.ndarray]]], metrics: dict[str, list[dict]],
                    means: np.ndarray, limit: float, data: str, columns: int = 5):
    """Models in rows; ``columns`` evenly spaced frames, then modes covered against step."""
    plt = pyplot()
    labels = list(all_points)
    fig, axes = plt.subplots(len(labels), columns + 1, figsize=(2.2 * (columns + 1), 2.3 * len(labels)), dpi=100,
                             squeeze=False)
    for r, label in enumerate(labels):
        points, rows = all_points[label], metrics[label]
        picks = np.linspace(0, len(points) - 1, columns).round().astype(int)
        for c, i in enumerate(picks):
            step, x = points[i]
            m = rows[i]
            title = f"step {step}\n{m['modes_covered']}/{m['num_modes']} modes, HQ {m['high_quality_fraction']:.2f}"
            draw_points(axes[r, c], x, means, limit, title)
        axes[r, 0].set_ylabel(label, fontsize=9)
        ax = axes[r, columns]
        ax.plot([m["step"] for m in rows], [m["modes_covered"] for m in rows], "-o", ms=2, color="tab:green",
                label="modes covered")
        ax.set_ylim(0, rows[0]["num_modes"] + 0.5)
        ax.set_title("modes covered", fontsize=8)
        ax.tick_params(labelsize=7)
        ax2 = ax.twinx()
        ax2.plot([m["step"] for m in rows], [m["high_quality_fraction"] for m in rows], "--", color="tab:blue", lw=1)
        ax2.set_ylim(0, 1.05)
        ax2.tick_params(labelsize=7, colors="tab:blue")
    fig.suptitle(f"{data}: generated samples (green) over the modes (circles); HQ = fraction within 3 std of a mode",
                 fontsize=9)
    fig.tight_layout()
    return fig
