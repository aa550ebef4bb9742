"""Does InfoGAN's categorical code control the class? (docs/models.md, "InfoGAN")

Draws ``--rows`` code sweeps (each row: one z and continuous codes, c1 through all K categories), labels every
image with the dataset's domain classifier, and prints the plug-in mutual information I(c1; predicted class)
in nats (0 when c1 has no effect on the class, log K when each category gives its own class), the share of rows
whose predicted class changes along the sweep, and writes a grid of the first 10 rows.

    .venv/bin/python bench/infogan_code_sweep.py RUN_DIR --rows 500 --grid docs/images/infogan-c1.png
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch

from ganforge.data import to_data_range
from ganforge.errors import run_script
from ganforge.features.extractors import build_extractor
from ganforge.images import grid_scale, make_grid, save_image
from ganforge.run import load_run


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in I(A; B) in nats of two integer label arrays of equal length."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", default=None)
    args = parser.parse_args()
    run = load_run(args.run_dir)
    classifier = build_extractor("domain", run.data_name)
    with torch.inference_mode():
        latent = run.model.code_sweep_latent("c1", args.rows, 0, torch.Generator().manual_seed(args.seed))
        x = to_data_range(run.model.generate(latent), "image").cpu()
        _, probs = classifier.features_and_probs(x)
    k = run.model.categories
    predicted = probs.argmax(1).numpy().reshape(args.rows, k)
    c1 = np.tile(np.arange(k), args.rows)
    mi = mutual_information(c1, predicted.reshape(-1))
    changes = float(np.mean([len(set(row)) > 1 for row in predicted]))
    distinct = float(np.mean([len(set(row)) for row in predicted]))
    print(f"I(c1; predicted class) = {mi:.3f} nats (log {k} = {math.log(k):.3f}); rows whose class changes "
          f"along the sweep: {changes:.3f}; distinct classes per row: {distinct:.2f} of {k}; "
          f"{run.config.model} step {run.step}")
    if args.grid:
        save_image(make_grid(x[: 10 * k], nrow=k), args.grid, scale=grid_scale(x.shape[-1]))


if __name__ == "__main__":
    sys.exit(run_script(main))
