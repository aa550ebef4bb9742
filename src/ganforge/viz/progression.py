"""The fixed-noise grids a run writes (``RUN_DIR/samples/step_XXXXXX.png``, same latents every time) as a
GIF over training and as a strip of a few labelled moments: the lectures' "epoch 0 ... epoch 995" figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .plotting import save_gif, save_mp4, save_png

SAMPLE_NAME = re.compile(r"step_(\d+)\.png$")


def sample_grids(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``[(step, path)]`` of the run's sample grids, by step."""
    found = []
    for p in (Path(run_dir) / "samples").glob("step_*.png"):
        m = SAMPLE_NAME.search(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def epochs_by_step(run_dir: str | Path) -> dict[int, float]:
    """``{step: epoch}`` from metrics.jsonl (empty when there is none)."""
    path = Path(run_dir) / "metrics.jsonl"
    out: dict[int, float] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                r = json.loads(line)
                out[int(r["step"])] = float(r["epoch"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return out


def caption(step: int, epochs: dict[int, float]) -> str:
    if step in epochs:
        return f"step {step}  (epoch {epochs[step]:.3g})"
    return f"step {step}"


def labelled_frame(image: Image.Image, text: str, size: tuple[int, int] | None = None, band: int = 18) -> np.ndarray:
    """``uint8 (H + band, W, 3)``: the image (resized to ``size`` if given) under a white band with ``text``."""
    image = image.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (image.width, image.height + band), "white")
    canvas.paste(image, (0, band))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((4, 3), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def pick_moments(steps: list[int], count: int = 6) -> list[int]:
    """Up to ``count`` of ``steps``: the first, the last, and the rest spread evenly in sqrt(step), denser
    early where most of the change happens (the lectures show epochs 0, 9, 59, 162, 416, 995)."""
    if len(steps) <= count:
        return list(steps)
    root = np.sqrt(np.asarray(steps, dtype=np.float64))
    chosen: list[int] = []
    for t in np.linspace(root[0], root[-1], count):
        candidates = [i for i in range(len(steps)) if steps[i] not in chosen]
        chosen.append(steps[min(candidates, key=lambda i: abs(root[i] - t))])
    return sorted(chosen)


def write_progression(run_dir: str | Path, out_dir: str | Path, fps: float = 4.0, strip_count: int = 6,
                      max_frames: int = 60) -> dict[str, Path]:
    """Write ``progression.gif`` (every grid, at most ``max_frames`` evenly chosen; ``progression.mp4`` too when
    ffmpeg exists) and ``progression_strip.png`` (``strip_count`` labelled moments side by side). Returns the
    files written by kind (``{}`` when the run has no sample grids)."""
    grids = sample_grids(run_dir)
    if not grids:
        return {}
    out_dir = Path(out_dir)
    epochs = epochs_by_step(run_dir)
    first = Image.open(grids[-1][1])
    size = first.size
    if len(grids) > max_frames:
        keep = np.linspace(0, len(grids) - 1, max_frames).round().astype(int)
        grids_gif = [grids[i] for i in sorted(set(keep.tolist()))]
    else:
        grids_gif = grids
    frames = [labelled_frame(Image.open(p), caption(s, epochs), size) for s, p in grids_gif]
    written = {"gif": save_gif(frames, out_dir / "progression.gif", fps=fps)}
    mp4 = save_mp4(frames, out_dir / "progression.mp4", fps=fps)
    if mp4 is not None:
        written["mp4"] = mp4
    moments = pick_moments([s for s, _ in grids], strip_count)
    paths = dict(grids)
    # the strip: each moment at most 240 px wide so six fit on a page
    scale = min(1.0, 240 / size[0])
    small = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    tiles = [labelled_frame(Image.open(paths[s]).convert("RGB").resize(small, Image.Resampling.LANCZOS),
                            caption(s, epochs), band=18) for s in moments]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, dtype=np.uint8)
    strip = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    written["strip"] = save_png(strip, out_dir / "progression_strip.png")
    return written
