"""Does D overfit the training subset? D's verdicts on the images it trained on against held-out ones.

ADA's heuristic r_t = E[sign D(x_real)] on the training images rises when D overfits, but it also rises when D
simply wins; the direct sign of overfitting (the ADA paper's Figure 1) is the gap between D's outputs on the
training images and on real images it never saw. For each kept checkpoint of each run (``--keep-every``;
``checkpoints/step_XXXXXX.pt``, and ``latest.pt``), this script scores, without augmentation and with D in
training mode (batch norm on minibatches of ``--batch-size`` real-only or fake-only images, as in training):
the run's ``--subset`` training images, as many held-out images of the dataset's test split, and as many
samples of G. Prints one markdown row per checkpoint: the mean sign of D's logits and the mean D(x) on each.

    .venv/bin/python bench/ada_overfitting.py runs/ada6k/none-s0 runs/ada6k/ada-s0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ganforge.data import load_dataset, to_model_range
from ganforge.errors import run_script
from ganforge.run import load_run
from ganforge.train import train_subset


@torch.no_grad()
def verdicts(discriminator: torch.nn.Module, x: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """(mean sign of the logits, mean sigmoid of the logits) of ``discriminator`` over ``x (N, C, H, W)`` in
    [-1, 1], judged in minibatches of ``batch_size``."""
    logits = torch.cat([discriminator(x[i:i + batch_size]).flatten() for i in range(0, len(x), batch_size)])
    return float(torch.sign(logits).mean()), float(torch.sigmoid(logits).mean())


def checkpoints(run: Path) -> list[Path]:
    kept = sorted((run / "checkpoints").glob("step_*.pt"))
    latest = run / "checkpoints" / "latest.pt"
    return kept + ([latest] if latest.is_file() else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    print("| run | step | r train (sign) | r held-out (sign) | r fakes (sign) | D(x) train | D(x) held-out | D(G(z)) |")
    print("|---|---|---|---|---|---|---|---|")
    ds = None
    for run in args.runs:
        seen: set[int] = set()
        for path in checkpoints(run):
            loaded = load_run(run, path)
            if loaded.step in seen:
                continue
            seen.add(loaded.step)
            cfg = loaded.config
            if ds is None:
                ds = load_dataset(cfg.data, cfg.data_dir, image_size=cfg.image_size)
            train, _ = train_subset(ds, cfg.subset, cfg.subset_seed)
            n = len(train)
            heldout = ds.split("test")[:n]
            torch.manual_seed(0)
            model = loaded.model
            x_fake = model.generate(model.sample_latent(n, torch.Generator().manual_seed(0)))
            d = model.discriminator.train()  # batch norm as in training; no_grad: nothing is learnt
            r_train, p_train = verdicts(d, to_model_range(torch.from_numpy(train)), args.batch_size)
            r_held, p_held = verdicts(d, to_model_range(torch.from_numpy(heldout)), args.batch_size)
            r_fake, p_fake = verdicts(d, x_fake, args.batch_size)
            print(f"| {run.name} | {loaded.step} | {r_train:.3f} | {r_held:.3f} | {r_fake:.3f} | {p_train:.3f} | "
                  f"{p_held:.3f} | {p_fake:.3f} |", flush=True)


if __name__ == "__main__":
    sys.exit(run_script(main))
