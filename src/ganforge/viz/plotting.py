"""Matplotlib (Agg) and animation helpers shared by the figures in ``ganforge.viz``.

Frames are ``uint8 (H, W, 3)`` RGB arrays. A GIF is always written (Pillow); an MP4 only when an ``ffmpeg``
executable is on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend; a UserError if matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("matplotlib: not installed; ganforge's figures need it: pip install 'ganforge[plots]'") \
            from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure to ``uint8 (H, W, 3)`` RGB and close it."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt = pyplot()
    plt.close(fig)
    return np.ascontiguousarray(rgba[..., :3])


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    path = Path(path)
    tmp = _atomic_path(path)
    fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
    os.replace(tmp, path)
    return path


def save_png(frame: np.ndarray, path: str | Path) -> Path:
    """Write one ``uint8 (H, W, 3)`` frame as PNG atomically."""
    path = Path(path)
    tmp = _atomic_path(path)
    Image.fromarray(frame).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def save_gif(frames: list[np.ndarray], path: str | Path, fps: float = 8.0, hold_last: int = 4) -> Path:
    """An endlessly looping GIF of ``frames`` (``uint8 (H, W, 3)``, equal sizes); the last frame is held
    ``hold_last`` times longer so the final state can be read."""
    if not frames:
        raise ValueError("save_gif: no frames")
    path = Path(path)
    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for f in frames]
    durations = [round(1000 / fps)] * len(images)
    durations[-1] *= max(1, hold_last)
    tmp = _atomic_path(path)
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    os.replace(tmp, path)
    return path


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def save_mp4(frames: list[np.ndarray], path: str | Path, fps: float = 8.0) -> Path | None:
    """An H.264 MP4 of ``frames`` when ``ffmpeg`` is on PATH; None (and nothing written) otherwise."""
    if not frames or not ffmpeg_available():
        return None
    path = Path(path)
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmpdir:
        for i, f in enumerate(frames):
            # yuv420p needs even sides: pad by one white pixel where needed
            f = np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)
            Image.fromarray(f).save(Path(tmpdir) / f"frame_{i:05d}.png")
        tmp = _atomic_path(path)
        result = subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-framerate", str(fps), "-i",
                                 str(Path(tmpdir) / "frame_%05d.png"), "-pix_fmt", "yuv420p", "-c:v", "libx264",
                                 str(tmp)], capture_output=True)
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            return None
    os.replace(tmp, path)
    return path
