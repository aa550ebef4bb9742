"""Mode coverage of the GAN family on the toy mixtures ring8 and grid25 (docs/models.md, "Mode coverage").

Trains each (model, recipe) on each mixture with the shared loop, draws 10,000 samples and counts the modes
covered with ``ganforge.metrics.modes.mode_coverage`` (a mode is covered by >= 1 sample within 3 std of it, as
in VEEGAN's tables; the stricter PacGAN count, >= 80 of the 10,000, is printed beside it).

    OMP_NUM_THREADS=1 .venv/bin/python bench/gan_family_modes.py --out runs/modes --figures docs/images
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

from ganforge.data import load_dataset
from ganforge.errors import run_script
from ganforge.images import save_points_plot
from ganforge.metrics.modes import mode_coverage
from ganforge.models.base import config_for
from ganforge.train import Trainer

#: label -> model, each trained with its paper's optimiser settings (``ModelSpec.defaults``:
#: the 2014 GAN with Adam 2e-4 / 0.5, WGAN-GP's Adam 1e-4 / (0, 0.9) with 5 critic steps and lambda 10,
#: SN-GAN's hinge loss with Adam 2e-4 / (0, 0.9)); for points, the Lipschitz-constrained critics are the
#: ReLU MLP of models/wgan.py and the 2014 GAN keeps its maxout discriminator.
RECIPES = {
    "gan (nonsaturating)": "gan",
    "wgan-gp": "wgan-gp",
    "sngan (hinge)": "sngan",
}


#: The stricter count of PacGAN (Lin et al. 2018): a mode is lost with fewer than 20 high-quality samples out
#: of 2,500, i.e. 80 out of the 10,000 drawn here; the VEEGAN count (>= 1 sample) is printed beside it.
STRICT_COUNT = 80
NUM_SAMPLES = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--models", nargs="+", default=list(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=256,
                        help="MLP width: G's and the critics' hidden units (gan: width/5 maxout units)")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--out", default="runs/modes")
    parser.add_argument("--figures", default=None, help="also write each run's final scatter plot here")
    args = parser.parse_args()
    rows = []
    for data in args.data:
        ds = load_dataset(data)
        for label in args.models:
            cfg = config_for(model=RECIPES[label], data=data, steps=args.steps, batch_size=args.batch_size,
                             seed=args.seed, width=args.width, latent_dim=args.latent_dim, sample_every=args.steps,
                             checkpoint_every=args.steps)
            run_dir = Path(args.out) / f"{cfg.model}-{cfg.objective}-{data}-s{args.seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            trainer = Trainer(cfg, run_dir, dataset=ds, progress=False)
            t0 = time.perf_counter()
            trainer.fit()
            seconds = time.perf_counter() - t0
            x = trainer.generate(trainer.model.sample_latent(NUM_SAMPLES, torch.Generator().manual_seed(123)))
            cov = mode_coverage(x, ds.meta["means"], ds.meta["std"])
            strict = sum(c >= STRICT_COUNT for c in cov["mode_counts"])
            rows.append((data, label, cov["modes_covered"], strict, cov["num_modes"], cov["high_quality_fraction"],
                         seconds))
            print(f"{data:7s} {label:20s} modes {cov['modes_covered']:2d}/{cov['num_modes']} "
                  f"(>= {STRICT_COUNT} samples: {strict:2d})  high-quality {cov['high_quality_fraction']:.3f}  "
                  f"{seconds:.0f} s", flush=True)
            if args.figures:
                save_points_plot(x.numpy()[:2000], Path(args.figures) / f"modes-{cfg.model}-{cfg.objective}-{data}.png",
                                 ds.split("test")[:2000], title=f"{label} on {data}, {args.steps} steps")
    print(f"\n| data | model | modes covered (>= 1 sample) | modes with >= {STRICT_COUNT} samples | "
          "high-quality fraction | train time (s) |")
    print("|---|---|---|---|---|---|")
    for data, label, covered, strict, k, hq, seconds in rows:
        print(f"| {data} | {label} | {covered}/{k} | {strict}/{k} | {hq:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    sys.exit(run_script(main))
