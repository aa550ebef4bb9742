"""``RUN_DIR/report.html``: one offline page per run (config, curves, sample progression, final samples,
evaluation table, interpolations). Figures are written under ``RUN_DIR/report/`` and referenced by relative
paths, so the page works from any copy of the run directory; no script, stylesheet or font is fetched."""

from __future__ import annotations

import html
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import UserError
from ..rundir import atomic_write_text
from .curves import plot_training_curves
from .progression import sample_grids, write_progression
from .tables import write_table_figures

ASSETS = "report"  # RUN_DIR/report/: the page's images

CSS = """
body { font-family: sans-serif; max-width: 1040px; margin: 0 auto; padding: 16px 24px 48px; color: #222;
       background: #fff; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd;
       padding-bottom: 4px; margin-top: 1.6em; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; } img.px { image-rendering: pixelated; }
figure { margin: 8px 0 16px; } figcaption { font-size: 0.85em; color: #555; }
table { border-collapse: collapse; font-size: 0.9em; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 3px 10px; text-align: left; } th { background: #f3f3f3; }
td.num { text-align: right; font-family: monospace; }
.note { color: #666; font-size: 0.9em; } .row { display: flex; flex-wrap: wrap; gap: 16px; }
.row figure { flex: 1 1 300px; min-width: 0; }
footer { margin-top: 2em; font-size: 0.8em; color: #888; border-top: 1px solid #ddd; padding-top: 6px; }
"""

#: Figures the labs leave in a run directory, shown when present: (file, caption).
LAB_FIGURES = [
    ("lab1d.gif", "1-D lab: p_data (dotted), p_g (green), D(x) (dashed) and z -> x over training"),
    ("theory.png", "1-D lab: a discriminator trained to convergence against the final G, beside D*"),
]


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return html.escape(str(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.1f}"
    return html.escape(str(v))


def _table(rows: list[list], header: list[str] | None = None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i > 0 and isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _figure(run_dir: Path, path: Path, caption: str, pixels: bool = False) -> str:
    """A figure whose image is referenced relative to the run directory; ``pixels`` keeps small sample
    images sharp when the browser scales them."""
    rel = os.path.relpath(path, run_dir).replace(os.sep, "/")
    cls = ' class="px"' if pixels else ""
    return (f'<figure><img src="{html.escape(rel)}"{cls} alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def eval_table(record: dict) -> str:
    """The ``ganforge eval`` record as a table: one row per metric, a column for the run and, when
    measured, one for held-out real data (the floor)."""
    columns: dict[str, dict] = {}
    if isinstance(record.get("values"), dict):
        columns[f"{record.get('model', 'run')} step {record.get('step', '?')}"] = record["values"]
    if isinstance(record.get("real"), dict) and isinstance(record["real"].get("values"), dict):
        columns[f"real {record.get('dataset', '')}".strip()] = record["real"]["values"]
    if not columns:  # an unknown layout: show its scalar entries
        rows = [[k, v] for k, v in record.items() if isinstance(v, (int, float, str, bool))]
        return _table(rows, ["key", "value"])
    names = list(dict.fromkeys(k for values in columns.values() for k in values))
    rows = [[name] + [values.get(name, "") for values in columns.values()] for name in names]
    meta = ", ".join(f"{k} {_fmt(record[k])}" for k in ("dataset", "features", "n", "seed") if k in record)
    return _table(rows, ["metric"] + list(columns)) + (f'<p class="note">{meta}</p>' if meta else "")


def collapse_section(run_dir: Path, run, assets: Path, config: dict, data: str, seed: int) -> Section:
    """Collapse diagnostics (``viz.diagnostics``): the D(x) - D(G(z)) gap, modes over time on toy mixtures, and
    the nearest-neighbour memorisation panel for images (the last two need the run's dataset)."""
    from .diagnostics import gap_curve, memorisation_panel, modes_over_time

    s = Section("Collapse diagnostics")
    results = [gap_curve(run_dir, assets)]
    if data in ("ring8", "grid25"):
        results.append(modes_over_time(run_dir, assets, data, config.get("data_dir")))
    # a next-frame run's samples are predicted canvases, not examples of its data (the sprites): nothing to match
    if run is not None and run.data.kind == "image" and not hasattr(run.model, "seq_spec"):
        results.append(memorisation_panel(run, assets, seed=seed))
    for result in results:
        if isinstance(result, str):
            s.parts.append(f'<p class="note">{html.escape(result)}</p>')
        else:
            s.parts.append(_figure(run_dir, result[0], result[1], result[2]))
    return s


def comparison_section(title: str, run_dir: Path, draw) -> Section:
    """A section of one figure drawn by ``draw() -> (path, caption)`` from the run's test data; when that data
    is not on this machine (a UserError), the section says so instead."""
    try:
        path, caption = draw()
    except UserError as e:
        return Section(title, [f'<p class="note">{html.escape(str(e))}</p>'])
    return Section(title, [_figure(run_dir, path, caption, True)])


def anomaly_section(run_dir: Path) -> Section:
    """An anomaly run (``ganforge anomaly fit``): the method and normal classes, and what its latest ``ganforge
    anomaly score`` measured (AUROC, AUPRC) with the 8 most and least anomalous images and their residuals."""
    from ..anomaly.base import SCORE_FIGURE, SCORE_RECORD

    s = Section("Anomaly detection")
    try:
        record = json.loads((run_dir / SCORE_RECORD).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        s.parts.append(f'<p class="note">not scored yet: run <code>ganforge anomaly score {html.escape(str(run_dir))}'
                       " --out scores.csv</code> and then this report again</p>")
        return s
    keys = ("method", "normal_classes", "data", "split", "n", "anomalies", "auroc", "auprc", "scores")
    s.parts.append(_table([[k, record[k]] for k in keys if k in record]))
    if (run_dir / SCORE_FIGURE).is_file():
        s.parts.append(_figure(run_dir, run_dir / SCORE_FIGURE, "the 8 most (left) and 8 least anomalous images "
                               "scored, their reconstructions and the residual heat maps |x - x_hat|", True))
    return s


def write_report(run_dir: str | Path, sample: bool = True, interpolations: bool = True, seed: int = 0,
                 log=None) -> Path:
    """Write ``RUN_DIR/report.html`` and its figures under ``RUN_DIR/report/``; returns the HTML path.

    Works with whatever the run has: config.yaml, metrics.jsonl, samples/, checkpoints/latest.pt (for the
    final samples and interpolations), eval.json (another command's) and lab figures; missing parts are
    said to be missing, not errors. A UserError when RUN_DIR is not a run directory at all."""
    from ..run import require_run_dir

    run_dir = require_run_dir(run_dir)
    say = log or (lambda s: None)
    has_ckpt = (run_dir / "checkpoints" / "latest.pt").is_file()
    if not any((run_dir / name).exists() for name in ("config.yaml", "metrics.jsonl", "samples", "anomaly.yaml")) \
            and not has_ckpt:
        raise UserError(f"run directory {run_dir}: no config.yaml, metrics.jsonl, samples/ or checkpoint: "
                        "expected a directory written by 'ganforge train'")
    # the figures are drawn into a staging directory and swapped in with the page at the end: a report that
    # fails half-way (a torn metrics.jsonl, a full disk) leaves the earlier report and its figures whole
    for left in run_dir.glob(f".{ASSETS}.partial*"):  # what a report killed mid-draw left behind
        shutil.rmtree(left, ignore_errors=True)
    staging = run_dir / f".{ASSETS}.partial{os.getpid()}"
    staging.mkdir(parents=True)
    assets = run_dir / ASSETS
    try:
        page = _draw_report(run_dir, staging, sample, interpolations, seed, say)
        page = page.replace(f'src="{staging.name}/', f'src="{ASSETS}/')  # the figures' final place
        if assets.is_symlink() or assets.is_file():
            assets.unlink()  # a link or a file where the figures go: replaced, what it points to untouched
        elif assets.exists():
            shutil.rmtree(assets)  # the earlier report's figures, replaced by the new ones
        os.replace(staging, assets)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after the swap; what a failure left
    out = run_dir / "report.html"
    atomic_write_text(out, page)
    return out


def _draw_report(run_dir: Path, assets: Path, sample: bool, interpolations: bool, seed: int, say) -> str:
    """Every section's figures into ``assets``; returns the page (its images referenced under ``assets``)."""
    has_ckpt = (run_dir / "checkpoints" / "latest.pt").is_file()

    config: dict = {}
    config_note = "no config.yaml in this run directory"
    if (run_dir / "config.yaml").is_file():  # a report is a diagnosis: a damaged config is said, not fatal
        try:
            config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8", errors="replace")) or {}
            config_note = "config.yaml is empty"
        except yaml.YAMLError as e:
            config_note = f"config.yaml is not valid YAML ({str(e).splitlines()[0]})"
        if not isinstance(config, dict):
            config, config_note = {}, f"config.yaml holds a {type(config).__name__}, not the options of a run"
    sections: list[Section] = []

    run = None
    if has_ckpt and (sample or interpolations):
        from ..run import load_run

        run = load_run(run_dir)
    model = config.get("model") or (run.config.model if run else "?")
    data = config.get("data") or (run.data_name if run else "?")

    # ---- summary and configuration
    s = Section("Run")
    summary = [["directory", str(run_dir.resolve())], ["model", model], ["data", data]]
    if run is not None:
        summary.append(["step (latest checkpoint)", run.step])
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        lines = [ln for ln in metrics_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        if lines:
            try:
                last = json.loads(lines[-1])
                summary += [[f"last log: {k}", v] for k, v in last.items() if isinstance(v, (int, float))]
            except json.JSONDecodeError:
                pass
    s.parts.append(_table(summary))
    sections.append(s)
    s = Section("Configuration")
    s.parts.append(_table([[k, v] for k, v in config.items()], ["option", "value"]) if config
                   else f'<p class="note">{html.escape(config_note)}</p>')
    sections.append(s)

    # ---- curves
    say("curves ...")
    s = Section("Training curves")
    curves = plot_training_curves(run_dir, assets)
    captions = {"losses": "losses per phase (mean over each logging interval)",
                "discriminator": "mean D(x) on real and D(G(z)) on generated minibatches; both tend to 1/2 at "
                                 "the equilibrium", "metrics": "metrics logged during training", "other": "other logs",
                "augmentation": "r_t = mean sign D(x_real), ADA's overfitting heuristic (near 1: D is sure of "
                                "every real image it trains on), and --augment's probability p"}
    for p in curves:
        s.parts.append(_figure(run_dir, p, captions.get(p.stem.removeprefix("curves_"), p.stem)))
    if not curves:
        s.parts.append('<p class="note">no metrics.jsonl in this run directory</p>')
    sections.append(s)

    # ---- collapse diagnostics
    say("collapse diagnostics ...")
    sections.append(collapse_section(run_dir, run, assets, config, data, seed))

    # ---- progression
    say("sample progression ...")
    s = Section("Samples over training (fixed noise)")
    prog = write_progression(run_dir, assets)
    if prog:
        s.parts.append(_figure(run_dir, prog["strip"], "the same latents at a few moments of training"))
        s.parts.append(_figure(run_dir, prog["gif"], "every sample grid the run wrote, in order (animated)", True))
    else:
        s.parts.append('<p class="note">no sample grids (samples/step_*.png) in this run directory</p>')
    sections.append(s)

    # ---- final samples
    s = Section("Final samples")
    if run is not None and sample:
        say("final samples ...")
        path = assets / "final_samples.png"
        if run.data.kind == "table":
            say("table histograms and pair trends ...")
            s.title = "Synthetic rows against the real table"
            try:
                for fig_path, caption in write_table_figures(run, assets, seed=seed):
                    s.parts.append(_figure(run_dir, fig_path, caption))
            except UserError as e:  # the table is not on this machine
                s.parts.append(f'<p class="note">{html.escape(str(e))}</p>')
            path = None
        elif run.data.kind == "image":
            from ..images import grid_scale, make_grid, save_image

            x = run.sample(64, seed=seed)
            save_image(make_grid(x, nrow=8), path, scale=grid_scale(x.shape[-1]))
        else:
            from ..images import save_points_plot

            x = run.sample(2000, seed=seed)
            save_points_plot(x.numpy(), path, title=f"{model} on {data}: 2,000 samples")
        if path is not None:
            s.parts.append(_figure(run_dir, path, f"samples from the latest checkpoint (step {run.step}), seed {seed}",
                                      run.data.kind == "image"))
    elif sample_grids(run_dir):
        step, path = sample_grids(run_dir)[-1]
        s.parts.append(_figure(run_dir, path, f"the last sample grid the run wrote (step {step})", True))
    else:
        s.parts.append('<p class="note">no checkpoint and no sample grid</p>')
    sections.append(s)

    # ---- evaluation
    s = Section("Evaluation")
    eval_path = run_dir / "eval.json"
    if eval_path.is_file():
        try:
            record = json.loads(eval_path.read_text(encoding="utf-8", errors="replace"))
            s.parts.append(eval_table(record) if isinstance(record, dict) else '<p class="note">eval.json: not a '
                                                                                 "JSON object</p>")
            nn_grid = run_dir / "eval_nearest_neighbours.png"
            if nn_grid.is_file():
                s.parts.append(_figure(run_dir, nn_grid, "samples and their nearest training images (ganforge eval)"))
        except json.JSONDecodeError:
            s.parts.append('<p class="note">eval.json is not valid JSON</p>')
    else:
        s.parts.append(f'<p class="note">not evaluated yet: run <code>ganforge eval {html.escape(str(run_dir))}'
                       "</code> and then this report again</p>")
    sections.append(s)

    # ---- anomaly detection: the latest `ganforge anomaly score` of this run
    if (run_dir / "anomaly.yaml").is_file():
        sections.append(anomaly_section(run_dir))

    # ---- super-resolution: input / bicubic / SRResNet / SRGAN / ground truth
    is_sr = run is not None and hasattr(run.model, "spec") and hasattr(run.model, "inputs")
    if is_sr and sample:
        from .superres import write_sr_comparison

        say("super-resolution comparison ...")
        sections.append(comparison_section("Super-resolution", run_dir, lambda: write_sr_comparison(
            run, assets / "sr_comparison.png")))

    # ---- next-frame prediction: true vs predicted roll-outs of test sequences
    is_nextframe = run is not None and hasattr(run.model, "seq_spec")
    if is_nextframe and sample:
        from .nextframe import write_nextframe_comparison

        say("next-frame roll-outs ...")
        sections.append(comparison_section("Next-frame prediction", run_dir, lambda: write_nextframe_comparison(
            run, assets / "nextframe_rollouts.png")))

    # ---- interpolations (a super-resolution run's "latents" are low-resolution images, a next-frame run's
    # its input frames: nothing to walk)
    if run is not None and interpolations and run.data.kind == "image" and not is_sr and not is_nextframe:
        from ..images import grid_scale, save_image
        from .latent import interpolation_grid, require_tensor_latent

        try:
            require_tensor_latent(run)
        except UserError as e:
            sections.append(Section("Latent interpolations", [f'<p class="note">{html.escape(str(e))}</p>']))
        else:
            say("interpolations ...")
            s = Section("Latent interpolations")
            parts = []
            for mode in ("spherical", "linear"):
                grid = interpolation_grid(run, rows=6, steps=10, mode=mode, seed=seed)
                path = assets / f"interpolation_{mode}.png"
                save_image(grid, path, scale=grid_scale(run.data.shape[-1]))
                parts.append(_figure(run_dir, path, f"{mode}: each row walks from one random z to another", True))
            s.parts.append('<div class="row">' + "".join(parts) + "</div>")
            sections.append(s)

    # ---- lab figures
    extras = [(run_dir / name, cap) for name, cap in LAB_FIGURES if (run_dir / name).is_file()]
    if extras:
        sections.append(Section("Lab figures", [_figure(run_dir, p, cap) for p, cap in extras]))

    title = f"ganforge report: {model} on {data} ({run_dir.name})"
    body = [f"<h1>{html.escape(title)}</h1>"]
    for sec in sections:
        body.append(f"<h2>{html.escape(sec.title)}</h2>")
        body += sec.parts
    body.append(f'<footer id="end">written by ganforge report from {html.escape(str(run_dir))}</footer>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
