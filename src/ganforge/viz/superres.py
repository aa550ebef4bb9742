"""Super-resolution figures: test images as input / bicubic / SRResNet / SRGAN / ground truth, side by side
(Ledig et al. 2017, Figure 2's layout), one row per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def comparison_grid(columns: list[torch.Tensor]) -> np.ndarray:
    """Columns of images ``(N, C, H, W)`` float in [0, 1] (all the same shape) -> a uint8 ``(H', W', C)`` grid
    with row i holding image i of every column, in order."""
    from ..images import make_grid

    stacked = torch.stack(columns, 1)  # (N, K, C, H, W): row i = image i of each column
    return make_grid(stacked.flatten(0, 1), nrow=len(columns))


def sr_columns(low: torch.Tensor, high: torch.Tensor, models: list[tuple[str, object]], scale: int
               ) -> tuple[list[str], list[torch.Tensor]]:
    """``(names, images)`` of the comparison: the input (nearest-neighbour enlarged, so its pixels show),
    bicubic, each ``(name, model)``'s upscaling, and the ground truth; all ``(N, C, H, W)`` in [0, 1]."""
    from ..data.pairs import bicubic_upsample
    from ..models.srgan import upscale

    names = ["input", "bicubic"] + [name for name, _ in models] + ["ground truth"]
    images = [F.interpolate(low, scale_factor=scale, mode="nearest"), bicubic_upsample(low, scale)]
    images += [upscale(model, low) for _, model in models] + [high]
    return names, images


def run_comparison_models(run) -> list[tuple[str, object]]:
    """The models a run's comparison shows: an srgan run with its ``--init-from`` SRResNet run (when that run
    is still there) as ``[("SRResNet", ...), ("SRGAN", ...)]``; otherwise the run's own model."""
    from ..run import load_run

    name = {"srresnet": "SRResNet", "srgan": "SRGAN"}.get(run.config.model, run.config.model)
    models: list[tuple[str, object]] = [(name, run.model)]
    init = run.config.init_from
    if run.config.model == "srgan" and init and (Path(init) / "checkpoints" / "latest.pt").is_file():
        models.insert(0, ("SRResNet", load_run(init).model))
    return models


def write_sr_comparison(run, path: Path, n: int = 8, data_dir: str | None = None) -> tuple[Path, str]:
    """The comparison of the first ``n`` test images of the run's dataset, degraded as in evaluation, written
    as PNG to ``path``; returns ``(path, caption)``."""
    from ..data.pairs import evaluation_pairs
    from ..images import grid_scale, save_image

    ds = run.dataset(data_dir)  # as training read it; refused when the files changed since
    low, high = evaluation_pairs(ds.split("test")[:n], run.model.spec)
    names, images = sr_columns(low, high, run_comparison_models(run), run.model.spec.scale)
    save_image(comparison_grid(images), path, scale=grid_scale(high.shape[-1]))
    return path, f"first {len(low)} test images, x{run.model.spec.scale}; columns: " + " / ".join(names)
