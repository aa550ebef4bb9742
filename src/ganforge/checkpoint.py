"""Crash-safe checkpoints.

A checkpoint is one ``torch.save`` file of tensors, numbers, strings and containers only, read back with
``torch.load(..., weights_only=True)`` (no arbitrary unpickling). Writes go to a temporary file in the
same directory, are fsync'ed, then renamed over the old file: a kill at any moment leaves either the old or
the new checkpoint, never a torn one.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import UserError

FORMAT = "ganforge-checkpoint-v1"


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file, fsync, rename over ``path``. A write that fails (a full disk, a
    permission, a quota) is a :class:`UserError` naming the file; the previous ``path`` is left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise UserError(f"checkpoint {path} cannot be written ({e.strerror or e}); "
                        "the previous checkpoint is kept") from None
    except RuntimeError as e:  # torch's zip writer reports a failed write as RuntimeError (inline_container.cc)
        if "write" not in str(e) and "inline_container" not in str(e):
            raise
        raise UserError(f"checkpoint {path} cannot be written (the file system refused the write: a full "
                        "disk or a quota?); the previous checkpoint is kept") from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


#: What every checkpoint holds (latest.pt, step_N.pt and best.pt); a resume needs the training state too.
CHECKPOINT_KEYS = ("step", "config", "data", "model")
RESUME_KEYS = ("elapsed_s", "optimizers", "sampler_cursor", "noise_rng", "torch_rng", "cuda_rng")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    required: tuple[str, ...] = CHECKPOINT_KEYS) -> dict[str, Any]:
    """Load a ganforge checkpoint safely; a missing or damaged file, or one without a ``required`` entry (a
    hand-edited file), is a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        size = path.stat().st_size
        with warnings.catch_warnings():  # a TorchScript file: torch warns in two lines before it fails (below)
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as e:
        raise UserError(f"checkpoint {path} cannot be read ({e.strerror or e})") from None
    except Exception as e:  # torch raises many types for damaged or foreign files
        # torch's own message may be empty, many lines long, or advise weights_only=False (unsafe): not shown
        what = "is empty (0 bytes)" if size == 0 else f"is damaged or not a torch file ({type(e).__name__})"
        raise UserError(f"checkpoint {path} cannot be loaded: the file {what}; expected a ganforge "
                        "checkpoint written by ganforge train") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not a ganforge checkpoint (expected format {FORMAT})")
    missing = [key for key in required if key not in ckpt]
    if missing:
        raise UserError(f"checkpoint {path} is damaged: it has no {', '.join(missing)} (expected every entry "
                        "ganforge train writes)")
    return ckpt


def load_model_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)``; a checkpoint whose tensors do not fit the model this version of
    ganforge builds from its config (an older network layout, a hand-edited file) is a :class:`UserError`."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:200]
        raise UserError(f"checkpoint {path} does not fit the {type(model).__name__} built from its config "
                        f"(saved by another ganforge version?): {detail}") from None
