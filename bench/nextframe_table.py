"""The next-frame prediction table (Mathieu, Couprie & LeCun 2016) on moving Fashion-MNIST sprites: copying the last
frame vs the multi-scale predictor trained with L2 alone vs the same network with L2 + GDL + adversarial loss,
PSNR / SSIM / sharpness at future steps 1..5, and the action-conditioned model's centroid check.

Trains ``nextframe`` on ``--sequences moving2`` twice for the same steps and seed, once with ``--adversarial-weight
0 --gdl-weight 0`` (L2 alone) and once with the defaults (L2 + GDL + adversarial 0.05), and a third time with
L2 + GDL and no D (which tells the GDL's share from the adversary's; ``--no-gdl-row`` skips it), then an
action-conditioned model on ``--sequences action``. Each model's roll-out is measured on the first ``--n``
evaluation sequences (test-split sprites, the fixed evaluation seed: what ``ganforge eval`` measures) and its row
printed as soon as it is done; the table comes last. Writes true vs predicted GIFs into ``--gif-dir``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/nextframe_table.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from ganforge.data import load_dataset
from ganforge.data.sequences import ACTION_MOVES, ACTIONS, render, resize_sprites
from ganforge.errors import run_script
from ganforge.models import config_for
from ganforge.models.nextframe import nextframe_measures, rollout
from ganforge.train import Trainer
from ganforge.viz.nextframe import write_prediction_gif


def train(cfg, run_dir: Path, ds) -> tuple[torch.nn.Module, float, float]:
    """Train ``cfg`` in a fresh ``run_dir``; returns the model (eval mode), wall and CPU seconds."""
    shutil.rmtree(run_dir, ignore_errors=True)
    trainer = Trainer(cfg, run_dir, dataset=ds, progress=False)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit()
    return trainer.model.eval(), time.perf_counter() - t0, time.process_time() - c0


def centroid(frames: torch.Tensor) -> torch.Tensor:
    """Intensity centroids ``(N, 2)`` (y, x) in pixels of frames ``(N, C, H, W)`` in [0, 1]."""
    grid = torch.arange(frames.shape[-1], dtype=torch.float64)
    f = frames.double().sum(1)  # (N, H, W)
    mass = f.sum((1, 2)).clamp_min(1e-12)
    return torch.stack([(f.sum(2) * grid).sum(1) / mass, (f.sum(1) * grid).sum(1) / mass], 1)


def centroid_check(model, test_uint8, n: int = 500) -> dict[str, list[float]]:
    """Test sprites at rest in the middle of the canvas for the k context frames, then each action: the mean
    displacement (dy, dx) in pixels of the predicted frame's centroid from the last context frame's."""
    spec = model.seq_spec
    sprites = resize_sprites(test_uint8[:n], spec.sprite).float()[:, None] / 255.0  # (n, 1, C, s, s)
    middle = (spec.canvas - spec.sprite) // 2
    context = render(sprites, torch.full((len(sprites), spec.context, 1, 2), middle), spec.canvas)
    before = centroid(context[:, -1])
    moves = {}
    for a, name in enumerate(ACTIONS):
        one_hot = torch.nn.functional.one_hot(torch.full((len(sprites), 1), a), len(ACTIONS)).float()
        moves[name] = (centroid(rollout(model, context, 1, one_hot)[:, 0]) - before).mean(0).tolist()
    return moves


ROW_KEYS = ("psnr", "ssim", "sharpness", "grad_ratio")


def print_table(rows: dict[str, dict[str, float]], steps: int) -> None:
    for key, title in zip(ROW_KEYS, ("PSNR (dB)", "SSIM", "sharpness difference (dB)",
                                     "gradient ratio (1 = as sharp as the truth)"), strict=True):
        print(f"\n{title}\n")
        print("| method | " + " | ".join(f"step {t}" for t in range(1, steps + 1)) + " |")
        print("|---|" + "---|" * steps)
        for name, values in rows.items():
            cells = [f"{values[f'{key}_{t}']:.{3 if key in ('ssim', 'grad_ratio') else 2}f}"
                     for t in range(1, steps + 1)]
            print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--canvas", type=int, default=32, help="canvas side (sprites 7/16 of it)  [32: 14x14 sprites]")
    parser.add_argument("--context-frames", type=int, default=4)
    parser.add_argument("--frame-scales", type=int, default=3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1200, help="training steps of each moving2 model")
    parser.add_argument("--action-steps", type=int, default=500, help="training steps of the action model")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam rate of every model (beta1 0.5)")
    parser.add_argument("--no-gdl-row", action="store_true", help="skip the L2 + GDL model without D")
    parser.add_argument("--n", type=int, default=500, help="evaluation sequences measured")
    parser.add_argument("--future", type=int, default=5, help="future steps measured")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/nextframe-table")
    parser.add_argument("--gif-dir", default=None, help="where the GIFs go  [OUT]")
    parser.add_argument("--json", default=None, help="also write the table's values here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    ds = load_dataset(args.data, args.data_dir)
    test = ds.split("test")
    out, gif_dir = Path(args.out), Path(args.gif_dir or args.out)
    common = {"model": "nextframe", "data": args.data, "data_dir": args.data_dir, "canvas": args.canvas,
              "context_frames": args.context_frames, "frame_scales": args.frame_scales, "width": args.width,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "device": "cpu",
              "checkpoint_every": 100_000}
    runs = [("L2 only", "l2", {"adversarial_weight": 0.0, "gdl_weight": 0.0}),
            ("L2 + GDL + adversarial", "adv", {})]
    if not args.no_gdl_row:
        runs.insert(1, ("L2 + GDL", "gdl", {"adversarial_weight": 0.0}))
    rows: dict[str, dict[str, float]] = {}
    record: dict = {"args": vars(args), "seconds": {}, "cpu_seconds": {}}
    for name, tag, extra in runs:
        cfg = config_for(sequences="moving2", steps=args.steps, sample_every=args.steps, **common, **extra)
        model, wall, cpu = train(cfg, out / tag, ds)
        values = nextframe_measures(model, test, args.n, args.future)
        if "copy last frame" not in rows:
            rows["copy last frame"] = {k.removeprefix("copy_"): v for k, v in values.items() if k.startswith("copy_")}
        rows[name] = {k: v for k, v in values.items() if not k.startswith("copy_")}
        record["seconds"][name], record["cpu_seconds"][name] = round(wall), round(cpu)
        print(f"{name}: {args.steps} steps in {wall:.0f} s ({cpu:.0f} CPU s); step 1 PSNR {values['psnr_1']:.2f} "
              f"(copy {values['copy_psnr_1']:.2f}), gradient ratio {values['grad_ratio_1']:.3f}", flush=True)
        gif = write_prediction_gif(model, test, gif_dir / f"nextframe-moving2-{tag}.gif", args.future)
        print(f"  wrote {gif} ({gif.stat().st_size / 1024:.0f} KB)", flush=True)

    cfg = config_for(sequences="action", steps=args.action_steps, sample_every=args.action_steps, **common)
    action_model, wall, cpu = train(cfg, out / "action", ds)
    moves = centroid_check(action_model, test, args.n)
    action_values = nextframe_measures(action_model, test, args.n, args.future)
    record["seconds"]["action"], record["cpu_seconds"]["action"] = round(wall), round(cpu)
    gif = write_prediction_gif(action_model, test, gif_dir / "nextframe-action.gif", args.future)
    print(f"action model: {args.action_steps} steps in {wall:.0f} s ({cpu:.0f} CPU s); wrote {gif} "
          f"({gif.stat().st_size / 1024:.0f} KB)", flush=True)

    print(f"\n{ds.name} moving2 sprites on {args.canvas}x{args.canvas}, {args.context_frames} context frames, "
          f"{args.steps} steps each; first {args.n} evaluation sequences (test-split sprites)")
    print_table(rows, args.future)
    step = action_model.seq_spec.action_step
    print(f"\naction model ({args.action_steps} steps): predicted centroid displacement from a sprite at rest, "
          f"mean over {min(args.n, len(test))} test sprites (commanded: {step} px)\n")
    print("| action | commanded (dy, dx) | predicted (dy, dx) |")
    print("|---|---|---|")
    for a, name in enumerate(ACTIONS):
        dy, dx = ACTION_MOVES[a]
        print(f"| {name} | ({dy * step}, {dx * step}) | ({moves[name][0]:+.2f}, {moves[name][1]:+.2f}) |")
    # (no PSNR here: copying the last frame is exact after "none", an infinite PSNR the mean leaves out)
    print(f"\naction model, step 1: SSIM {action_values['ssim_1']:.3f} (copy last frame "
          f"{action_values['copy_ssim_1']:.3f}), gradient ratio {action_values['grad_ratio_1']:.3f}")
    total = time.perf_counter() - t_start
    print(f"\ntotal {total:.0f} s wall, {time.process_time():.0f} s CPU")
    record.update({"table": rows, "action_moves": moves, "action_values": action_values, "total_seconds": round(total),
                   "total_cpu_seconds": round(time.process_time())})
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(run_script(main))
