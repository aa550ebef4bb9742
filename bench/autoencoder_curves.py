"""The lectures' autoencoder comparison: MLP, deep fully-connected, convolutional and denoising convolutional.

Trains each ``ae`` kind (configs/ae.yaml, ``--ae-kind``) and the ``vae`` with the shared loop, evaluates the
validation loss (mean per-pixel cross-entropy on clean validation images; for ``denoise`` also on noisy ones)
every ``--every`` steps, and writes the curves, a reconstruction grid (rows: originals, then each model;
noisy inputs and their denoised reconstructions last) and VAE samples decoded from z ~ N(0, I).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/autoencoder_curves.py --data digits --out docs/images
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset, to_data_range
from ganforge.errors import run_script
from ganforge.images import grid_scale, make_grid, save_image
from ganforge.train import Trainer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@torch.no_grad()
def validation_bce(model, x: torch.Tensor, noisy: bool = False) -> float:
    """Mean per-pixel cross-entropy of reconstructions of ``x`` (model range) against clean ``x``."""
    model.eval()
    inputs = model.corrupt(x) if noisy else x
    recon = model.reconstruct(inputs).add(1).mul(0.5).clamp(1e-6, 1 - 1e-6)
    model.train()
    return F.binary_cross_entropy(recon, x.add(1).mul(0.5)).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--runs", default="runs/autoencoders")
    args = parser.parse_args()
    ds = load_dataset(args.data)
    x_val = torch.from_numpy(ds.split("val")[:1000]).float().div(127.5).sub(1)
    out = Path(args.out)
    curves, models = {}, {}
    kinds = [("ae", k) for k in ("mlp", "deep", "conv", "denoise")] + [("vae", None)]
    for model, kind in kinds:
        values = {**load_yaml_config(CONFIGS / f"{model}.yaml"), "data": args.data, "steps": args.steps,
                  "sample_every": args.steps, "checkpoint_every": args.steps}
        if kind:
            values["ae_kind"] = kind
        name = kind or model
        run_dir = Path(args.runs) / name
        shutil.rmtree(run_dir, ignore_errors=True)
        trainer = Trainer(TrainConfig.from_dict(values), run_dir, dataset=ds, progress=False)
        curve = []
        for step in range(1, args.steps + 1):
            trainer.train_step()
            if step % args.every == 0 or step == args.steps:
                curve.append((step, validation_bce(trainer.model, x_val),
                              validation_bce(trainer.model, x_val, noisy=True) if kind == "denoise" else None))
        trainer.save_checkpoint()
        curves[name], models[name] = curve, trainer.model
        print(f"{name:8s} validation cross-entropy {curve[-1][1]:.4f}"
              + (f"  on noisy inputs {curve[-1][2]:.4f}" if curve[-1][2] is not None else ""), flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, curve in curves.items():
        ax.plot([c[0] for c in curve], [c[1] for c in curve], label=name)
        if curve[0][2] is not None:
            ax.plot([c[0] for c in curve], [c[2] for c in curve], "--", label=f"{name} (noisy inputs)")
    ax.set_xlabel("step")
    ax.set_ylabel("validation cross-entropy per pixel")
    ax.set_title(f"autoencoders on {args.data}")
    ax.legend()
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"autoencoders-{args.data}-curves.png")
    plt.close(fig)

    x = x_val[:10]
    torch.manual_seed(0)
    with torch.no_grad():
        for m in models.values():
            m.eval()
        noisy = models["denoise"].corrupt(x)
        rows = [x] + [models[n].reconstruct(x) for n in ("mlp", "deep", "conv", "vae")] \
            + [noisy, models["denoise"].reconstruct(noisy), models["conv"].reconstruct(noisy)]
        grid = to_data_range(torch.cat(rows), "image")
        save_image(make_grid(grid, nrow=10), out / f"autoencoders-{args.data}-reconstructions.png",
                   scale=grid_scale(x.shape[-1]))
        z = torch.randn(100, models["vae"].cfg.latent_dim, generator=torch.Generator().manual_seed(0))
        samples = to_data_range(models["vae"].generate(z), "image")
        save_image(make_grid(samples, nrow=10), out / f"vae-{args.data}-samples.png", scale=grid_scale(x.shape[-1]))
    print("rows of the reconstruction grid: originals, mlp, deep, conv, vae, noisy inputs, denoise on them, "
          "conv on them")


if __name__ == "__main__":
    sys.exit(run_script(main))
