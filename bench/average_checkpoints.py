"""Uniform average of G's weights over a run's kept checkpoints, written as a checkpoint ``ganforge eval
--checkpoint FILE`` reads (the rest of the file, D and the optimizers, is the last checkpoint's).

Polyak averaging after the fact (Yazıcı et al. 2019 average G's weights during training, which ``--g-ema``
does): each of ``--steps``'s ``checkpoints/step_XXXXXX.pt`` (kept with ``--keep-every``) weighs the same.

    python bench/average_checkpoints.py runs/gan14-mnist --steps 15000 20000 25000 30000 --out /tmp/avg.pt
    ganforge eval runs/gan14-mnist --checkpoint /tmp/avg.pt --metrics parzen --n 10000 --data-dir DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ganforge.checkpoint import load_checkpoint
from ganforge.errors import run_script


def average_generator(paths: list[Path]) -> dict:
    """The last checkpoint with every floating-point ``generator.*`` tensor replaced by its mean over
    ``paths`` (integer buffers, e.g. batch norm's counters, are the last checkpoint's) and G's running
    average (``generator_ema.*``, ``--g-ema``) left out, so that sampling uses the mean (a run with
    ``--g-ema`` starts its average at the loaded G)."""
    checkpoints = [load_checkpoint(p) for p in paths]
    out = checkpoints[-1]
    out["model"] = {k: v for k, v in out["model"].items() if not k.startswith("generator_ema.")}
    for name, value in out["model"].items():
        if name.startswith("generator.") and value.is_floating_point():
            out["model"][name] = torch.stack([c["model"][name] for c in checkpoints]).mean(0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run directory with checkpoints/step_XXXXXX.pt files")
    parser.add_argument("--steps", type=int, nargs="+", required=True, help="steps of the kept checkpoints")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    args = parser.parse_args()
    paths = [args.run / "checkpoints" / f"step_{s:06d}.pt" for s in args.steps]
    torch.save(average_generator(paths), args.out)
    print(f"wrote {args.out}: G averaged over {len(paths)} checkpoints (steps {args.steps[0]}-{args.steps[-1]})")


if __name__ == "__main__":
    sys.exit(run_script(main))
