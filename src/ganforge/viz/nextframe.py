"""Next-frame prediction figures: true vs predicted roll-outs of test sequences, as an animated GIF (one row per
sequence, the true clip on the left, the prediction on the right) or a still strip (two rows per sequence)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

#: Grey level of the frame around a context frame (given) and a predicted frame in the GIF.
CONTEXT_BORDER, PREDICTED_BORDER = 96, 255


def rollout_pairs(model, test_uint8, n: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(true, predicted)`` clips ``(n, k + steps, C, H, W)`` in [0, 1] of the first ``n`` evaluation sequences
    (the ones ``ganforge eval`` measures): the context, then the true future or the model's roll-out."""
    from ..data.sequences import evaluation_clips
    from ..models.nextframe import rollout

    clips, _ = evaluation_clips(test_uint8, model.seq_spec, n, steps)
    predicted = rollout(model, clips.context, steps, clips.future_actions())
    return clips.frames, torch.cat([clips.context, predicted], 1)


def clip_bytes(clip: torch.Tensor) -> torch.Tensor:
    """Clips ``(..., C, H, W)`` in [0, 1] -> uint8 in [0, 255] (a quarter of the float memory), rounded as image
    files are (:func:`ganforge.metrics.cas.to_uint8`)."""
    from ..metrics.cas import to_uint8

    return torch.from_numpy(to_uint8(clip))


def _to_rgb(frame: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` uint8 -> ``(H, W, 3)`` uint8."""
    x = frame.permute(1, 2, 0).numpy()
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x


def gif_frames(true: torch.Tensor, predicted: torch.Tensor, context: int, scale: int = 1) -> Iterator[np.ndarray]:
    """One ``(H', W', 3)`` uint8 picture per time step, made as it is asked for (a GIF of a thousand frames of
    64 rows is gigabytes as a list): row i shows sequence i, true | predicted (uint8 clips ``(n, T, C, H, W)``,
    :func:`clip_bytes`), each frame framed by a 2-pixel border, dark grey while it is given context, white once
    it is predicted."""
    if true.dtype != torch.uint8 or predicted.dtype != torch.uint8:
        raise TypeError(f"gif_frames: clips of {true.dtype} and {predicted.dtype}: expected uint8 (clip_bytes)")
    n, t_len, _, h, w = true.shape
    pad = 2
    cell_h, cell_w = h + 2 * pad, w + 2 * pad
    for t in range(t_len):
        canvas = np.zeros((n * cell_h + (n + 1) * pad, 2 * cell_w + 3 * pad, 3), dtype=np.uint8)
        border = CONTEXT_BORDER if t < context else PREDICTED_BORDER
        for i in range(n):
            top = pad + i * (cell_h + pad)
            for j, clip in enumerate((true, predicted)):
                left = pad + j * (cell_w + pad)
                canvas[top:top + cell_h, left:left + cell_w] = border if j == 1 else CONTEXT_BORDER
                canvas[top + pad:top + pad + h, left + pad:left + pad + w] = _to_rgb(clip[i, t])
        if scale > 1:
            canvas = canvas.repeat(scale, 0).repeat(scale, 1)
        yield canvas


def write_gif(pictures: Iterable[np.ndarray], path: Path, ms_per_frame: int = 300) -> Path:
    """Save uint8 ``(H, W, 3)`` pictures as a looping GIF (Pillow), atomically. Pillow takes them one at a
    time and keeps each as a palette image (a byte a pixel), so a generator of pictures is never all in memory
    as RGB."""
    import os

    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = iter(pictures)
    first = next(pictures, None)
    if first is None:
        raise ValueError(f"write_gif {path}: no pictures")
    first = Image.fromarray(first)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        first.save(tmp, format="GIF", save_all=True, append_images=(Image.fromarray(p) for p in pictures),
                   duration=ms_per_frame, loop=0)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_prediction_gif(model, test_uint8, path: Path, steps: int, n: int = 4) -> Path:
    """The GIF of :func:`gif_frames` for the first ``n`` evaluation sequences and ``steps`` predicted frames."""
    from ..images import grid_scale

    true, predicted = (clip_bytes(clip) for clip in rollout_pairs(model, test_uint8, n, steps))
    return write_gif(gif_frames(true, predicted, model.seq_spec.context, grid_scale(true.shape[-1])), path)


def prediction_strip(true: torch.Tensor, predicted: torch.Tensor) -> np.ndarray:
    """A uint8 ``(H', W', C)`` grid: for each sequence a row of its true frames, then a row of the predicted
    (context frames repeated, then the roll-out)."""
    from ..images import make_grid

    rows = torch.stack([true, predicted], 1).flatten(0, 2)  # (n * 2 * T, C, H, W)
    return make_grid(rows, nrow=true.shape[1])


def write_nextframe_comparison(run, path: Path, n: int = 4, steps: int = 5, data_dir: str | None = None
                               ) -> tuple[Path, str]:
    """The strip of :func:`prediction_strip` for a run's first ``n`` evaluation sequences, written as PNG;
    returns ``(path, caption)``."""
    from ..images import grid_scale, save_image

    ds = run.dataset(data_dir)  # as training read it; refused when the files changed since
    true, predicted = rollout_pairs(run.model, ds.split("test"), n, steps)
    save_image(prediction_strip(true, predicted), path, scale=grid_scale(true.shape[-1]))
    k = run.model.seq_spec.context
    return path, (f"{n} test sequences, each as two rows: true frames, then predicted (the first {k} frames are "
                  f"the given context, the last {steps} the model's roll-out)")
