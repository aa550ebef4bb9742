"""Wall time of the 2014 Parzen protocol at full size: 10,000 samples x (1,000 val + 10,000 test) x 784 dims.

    python bench/bench_parzen.py [--run RUN_DIR] [--n 10000] [--threads N]

Without --run the "samples" are the first n Fashion-MNIST training images (uniform noise if Fashion-MNIST
is missing): the timing does not depend on where the samples come from. Prints the time of the sigma
search (10 sigmas on 1,000 validation images, one distance pass) and of the test pass, and their total.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from ganforge.data import load_dataset
from ganforge.errors import UserError, run_script
from ganforge.metrics.parzen import DEFAULT_SIGMAS, parzen_log_likelihood, select_parzen_sigma


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=None, help="take the samples from this run")
    ap.add_argument("--n", type=int, default=10_000, help="number of samples  [10000]")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads  [torch's default]")
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="distance precision")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    try:
        ds = load_dataset("fashion-mnist")
        val = torch.from_numpy(ds.split("val")[:1000]).float() / 255
        test = torch.from_numpy(ds.split("test")).float() / 255
        source = "Fashion-MNIST"
    except UserError:
        g = torch.Generator().manual_seed(0)
        val, test = torch.rand(1000, 1, 28, 28, generator=g), torch.rand(10_000, 1, 28, 28, generator=g)
        ds, source = None, "uniform noise (Fashion-MNIST not found)"
    if args.run:
        from ganforge.run import load_run

        samples = load_run(args.run).sample(args.n, seed=0)
        source += f", samples from {args.run}"
    elif ds is not None:
        samples = torch.from_numpy(ds.split("train")[:args.n]).float() / 255
    else:
        samples = torch.rand(args.n, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    print(f"bench_parzen: {len(samples)} samples x {len(val)} val + {len(test)} test x "
          f"{samples[0].numel()} dims ({source}); torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, {args.dtype}, load average {os.getloadavg()[0]:.1f}")
    t0, c0 = time.perf_counter(), time.process_time()
    sigma, curve = select_parzen_sigma(samples, val, DEFAULT_SIGMAS, dtype=dtype)
    t1 = time.perf_counter()
    ll = parzen_log_likelihood(samples, test, sigma, dtype=dtype)
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"sigma search  {t1 - t0:6.2f} s   sigma {sigma:.4f}")
    print(f"test pass     {t2 - t1:6.2f} s   log-likelihood {ll.mean():.2f} +- {ll.std() / len(ll) ** 0.5:.2f}")
    print(f"total         {t2 - t0:6.2f} s wall, {c2 - c0:.2f} s CPU (all threads; wall on an idle machine is "
          f"about CPU / threads)")


if __name__ == "__main__":
    sys.exit(run_script(main))
