"""Saving images: sample grids as PNG, and scatter plots for toy points."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Pillow's modes of more than 8 bits per grey pixel (16-bit PNG, TIFF): scaled to 8 bits, not clipped
WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def upright_8bit(im: Image.Image) -> Image.Image:
    """An opened image as a camera shows it and in 8 bits a channel: EXIF orientation applied (a phone's
    portrait JPEG is stored sideways), 16-bit grey scaled by 1/256 (``convert`` would clip it to 255, white).
    Other modes are returned as they are, for the caller's ``convert``."""
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im)
    if im.mode in WIDE_GREY_MODES:
        im = im.point(lambda v: v / 256).convert("L")
    return im


def make_grid(images: torch.Tensor | np.ndarray, nrow: int | None = None, padding: int = 2,
              pad_value: float = 1.0) -> np.ndarray:
    """``images (N, C, H, W)`` float in [0, 1] -> one uint8 ``(rows*H', cols*W', C)`` grid image."""
    x = torch.as_tensor(images).detach().float().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    ncol = nrow or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncol)
    grid = torch.full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def save_image(array: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write a uint8 ``(H, W, C)`` array as PNG (atomically), upscaled by ``scale`` with nearest pixels."""
    im = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    im.save(tmp, format="PNG")
    os.replace(tmp, path)


def grid_scale(height: int) -> int:
    """Upscale factor that makes small images (e.g. 8x8 digits) visible in a grid."""
    return max(1, 64 // height)


def save_points_plot(points: np.ndarray, path: str | Path, reference: np.ndarray | None = None,
                     title: str = "") -> None:
    """Scatter (2-D) or histogram (1-D) of generated points, over real ones when given (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if points.shape[1] == 1:
        both = points if reference is None else np.concatenate([points, reference])
        bins = np.linspace(both.min(), both.max(), 60)
        if reference is not None:
            ax.hist(reference[:, 0], bins=bins, density=True, alpha=0.5, label="data", color="k")
        ax.hist(points[:, 0], bins=bins, density=True, alpha=0.6, label="generator", color="g")
        ax.legend(loc="upper right")
    else:
        if reference is not None:
            ax.scatter(reference[:, 0], reference[:, 1], s=2, c="k", alpha=0.3, label="data")
        ax.scatter(points[:, 0], points[:, 1], s=2, c="g", alpha=0.5, label="generator")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", markerscale=4)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
