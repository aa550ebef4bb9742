"""Does a conditional GAN draw the class it is asked for? (docs/models.md, "Conditional GAN")

For each class c, draws ``--n`` samples of G(z | c) and labels them with the dataset's domain classifier
(``ganforge.features``, the one ``ganforge eval`` uses); prints per-class and overall agreement, and writes the
one-row-per-class grid.

    .venv/bin/python bench/cgan_class_accuracy.py RUN_DIR --n 1000 --grid docs/images/cgan-by-class.png
"""

from __future__ import annotations

import argparse
import sys

import torch

from ganforge.data import load_dataset, to_data_range
from ganforge.errors import run_script
from ganforge.features.extractors import build_extractor
from ganforge.images import grid_scale, make_grid, save_image
from ganforge.noise import with_temperature
from ganforge.run import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--n", type=int, default=1000, help="samples per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, nargs="+", default=[1.0],
                        help="noise temperatures to measure (1 = the training prior; < 1 = truncation)")
    parser.add_argument("--grid", default=None, help="also write a grid with one row of 10 samples per class")
    args = parser.parse_args()
    run = load_run(args.run_dir)
    ds = load_dataset(run.config.data, run.config.data_dir, False, run.config.image_size)
    classifier = build_extractor("domain", ds.name)
    rng = torch.Generator().manual_seed(args.seed)
    k = run.data.num_classes
    names = ds.class_names or [str(c) for c in range(k)]
    with torch.inference_mode():
        for t in args.temperature:
            correct = 0
            for c in range(k):
                latent = with_temperature(run.model.latent_for_labels(torch.full((args.n,), c), rng), t)
                _, probs = classifier.features_and_probs(to_data_range(run.model.generate(latent), "image").cpu())
                hits = int((probs.argmax(1) == c).sum())
                correct += hits
                print(f"temperature {t:g} class {c} {names[c]:12s} {hits / args.n:.3f}")
            print(f"temperature {t:g}: conditional samples labelled as the requested class: "
                  f"{correct / (k * args.n):.3f}; {run.config.model} step {run.step}")
        # the real-data reference: the classifier's own accuracy on the test split
        x_test = torch.from_numpy(ds.split("test")).float().div(255)
        _, probs = classifier.features_and_probs(x_test)
        real_acc = float((probs.argmax(1) == torch.from_numpy(ds.labels["test"])).float().mean())
        print(f"the classifier on real test images: {real_acc:.3f}")
        if args.grid:
            y = torch.arange(k).repeat_interleave(10)
            latent = with_temperature(run.model.latent_for_labels(y, rng), args.temperature[0])
            x = to_data_range(run.model.generate(latent), "image").cpu()
            save_image(make_grid(x, nrow=10), args.grid, scale=grid_scale(x.shape[-1]))


if __name__ == "__main__":
    sys.exit(run_script(main))
