"""Why stylegan2's FID rises early on Fashion-MNIST 32x32: FID of G's average and of G itself, with D's state.

Trains ``configs/stylegan2.yaml`` (plus ``--set KEY=VALUE`` overrides) in-process, as
``bench/stylegan2_vs_dcgan.py`` does, and every ``--every`` steps prints one JSON line: the means over the last
``--every`` steps of the loop's logs (``D/real``, ``D/fake``, ``D/r_t``, ``D/r1``, losses), the FID (domain
features, ``--n`` samples, seed 0) of each ``--modes`` entry, and the per-layer noise strengths of G. A mode is
``ema`` or ``raw`` (G's average or G) and ``const`` or ``rand`` (the fixed per-layer noise of eval mode, or fresh
noise per sample as in training). ``rand`` draws from torch's global generator, which training draws from too,
so adding it changes the run that follows.

    .venv/bin/python bench/stylegan2_fid_rise.py --steps 200 --every 50 --n 1000 --out runs/sg2-fid-rise
    .venv/bin/python bench/stylegan2_fid_rise.py --steps 300 --set gp_weight=1 --modes ema_const,raw_const
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset
from ganforge.errors import run_script
from ganforge.metrics.evaluate import evaluate_samples
from ganforge.train import Trainer

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "stylegan2.yaml"


def samples(model, generator: torch.nn.Module, n: int, random_noise: bool) -> torch.Tensor:
    """``n`` images ``(n, C, 32, 32)`` in [0, 1] from ``generator`` on seed-0 latents; ``random_noise`` runs its
    noise inputs as in training (fresh per sample) instead of eval mode's fixed maps."""
    generator.train(random_noise)
    with torch.no_grad():
        z = model.sample_latent(n, torch.Generator().manual_seed(0))
        x = torch.cat([generator(z[i:i + 250]) for i in range(0, n, 250)])
    generator.train(True)
    return ((x.clamp(-1, 1) + 1) / 2).cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--n", type=int, default=1000, help="samples per FID")
    parser.add_argument("--modes", default="ema_const,raw_const,ema_rand")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe field (YAML value), e.g. gp_weight=1")
    parser.add_argument("--out", default="runs/sg2-fid-rise")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = TrainConfig.from_dict({**load_yaml_config(CONFIG), "data": "fashion-mnist", "image_size": 32,
                                 "steps": 10**9, "sample_every": 10**9, "checkpoint_every": 10**9, **overrides},
                                source="stylegan2 recipe")
    ds = load_dataset("fashion-mnist", image_size=32)
    trainer = Trainer(cfg, Path(args.out), dataset=ds, progress=False)
    model = trainer.model
    window: dict[str, list[float]] = {}
    trained = 0.0
    while trainer.step < args.steps:
        t0 = time.perf_counter()
        logs = trainer.train_step()
        trained += time.perf_counter() - t0
        for key, value in logs.items():
            window.setdefault(key, []).append(float(value))
        if trainer.step % args.every == 0:
            record = {"step": trainer.step, "train_s": round(trained, 1),
                      **{k: round(sum(v) / len(v), 4) for k, v in window.items()}}
            generators = {"ema": model.generator_ema or model.generator, "raw": model.generator}
            for mode in args.modes.split(","):
                which, noise = mode.split("_")
                x = samples(model, generators[which], args.n, noise == "rand")
                record[f"fid_{mode}"] = round(evaluate_samples(x, ds, "fid")["fid"], 1)
            record["noise_strength"] = [round(float(layer.noise_strength.detach()), 3)
                                        for layer in model.generator.layers]
            window = {}
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    sys.exit(run_script(main))
