"""``--log tensorboard``: TensorBoard event files beside metrics.jsonl (which is always written).

What goes in: every number of a metrics.jsonl line as a scalar under its own key (``loss/D``, ``loss/G``,
``D/real``, ``D/fake``, ``images_per_s``, ``metric/fid`` ...), every sample grid written to ``samples/`` as an
image ``samples`` at its step, and the run's config as text ``config`` (YAML). A resumed run purges the events
after the step it resumes from, as metrics.jsonl is truncated there. ``tensorboard --logdir runs/`` shows
every run under ``runs/``. Needs the optional ``tensorboard`` package (``pip install 'ganforge[tensorboard]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import UserError


class TensorBoardLog:
    """Writes one run's events into ``run_dir`` with ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any], start_step: int = 0):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("--log tensorboard: needs the tensorboard package: pip install "
                            "'ganforge[tensorboard]' (or pip install tensorboard)") from None
        # resuming from step S: events after S are dropped, as metrics.jsonl keeps the lines up to S
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=start_step + 1 if start_step else None)
        text = yaml.safe_dump(config, sort_keys=False)
        self.writer.add_text("config", "    " + text.replace("\n", "\n    "), start_step)  # markdown code block

    def scalars(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl record ``{"step": S, key: number, ...}``: each number as a scalar at step S."""
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def image_file(self, tag: str, path: str | Path, step: int) -> None:
        """A PNG written by the loop (a sample grid, or the points plot of toy data) as image ``tag``."""
        from PIL import Image

        with Image.open(path) as im:
            hwc = np.asarray(im.convert("RGB"))  # (H, W, 3) uint8
        self.writer.add_image(tag, hwc, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
