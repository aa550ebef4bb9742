"""Threads and OpenMP's wait policy on a shared CPU: the quick dcgan 28x28 benchmark in fresh processes.

PyTorch's CPU wheels use GNU OpenMP, whose worker threads spin while they wait for each other. When other
processes compete for the cores, a spinning thread burns the time slice its partner needs, and two threads
can train several times slower than one. ``OMP_WAIT_POLICY=PASSIVE`` (read once, when torch is imported)
makes waiting threads sleep instead. This script measures each setting in its own process, one after the
other, and prints images/s and the share of the matmul peak for each::

    python bench/bench_threads.py [--rounds R] [--steps S]
"""

import argparse
import json
import os
import subprocess
import sys

from ganforge.errors import run_script

SETTINGS = [
    ("2 threads, default (spinning) wait", {}, 2),
    ("2 threads, OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    ("1 thread", {}, 1),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    for label, env, threads in SETTINGS:
        cmd = [sys.executable, "-m", "ganforge", "bench", "--quick", "--json", "--threads", str(threads),
               "--rounds", str(args.rounds), "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
        for row in map(json.loads, out.splitlines()):
            print(f"{label:38s} {row['impl']:9s} {row['images_per_s']:7.1f} img/s  "
                  f"{row['share_of_peak']:4.0%} of matmul peak ({row['peak_matmul_flops'] / 1e9:.1f} GFLOP/s)  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
