"""Where a DCGAN training step spends its time: torch.profiler over ganforge's own loop.

    python bench/profile_dcgan_step.py [--size 28] [--batch-size 64] [--steps 10]

Prints the operators by self CPU time and the share of the step that convolutions take. Run it on an idle
machine: figures taken while other processes share the cores describe the machine, not the step.
"""

from __future__ import annotations  # noqa: I001  (ganforge must be imported before torch)

import sys
import argparse
import tempfile
import time

import ganforge  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
import torch
from torch.profiler import ProfilerActivity, profile

from ganforge.models import config_for
from ganforge.train import Trainer
from ganforge.errors import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--data", default="fashion-mnist")
    args = parser.parse_args()
    cfg = config_for(model="dcgan", data=args.data, batch_size=args.batch_size,
                     image_size=None if args.size == 28 else args.size)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, progress=False)
        for _ in range(3):
            trainer.train_step()  # warm-up: oneDNN primitive caches, allocator
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                trainer.train_step()
        wall = time.perf_counter() - start
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key.lower() or "mkldnn" in e.key.lower())
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    print(f"dcgan {args.size}x{args.size}, batch {args.batch_size}, {torch.get_num_threads()} threads: "
          f"{args.steps} steps in {wall:.2f} s ({args.steps * args.batch_size / wall:.0f} real img/s under the "
          f"profiler); convolution kernels {100 * conv / total:.0f}% of self CPU time")


if __name__ == "__main__":
    sys.exit(run_script(main))
