"""The super-resolution table of the lectures (Ledig et al. 2017): bicubic vs SRResNet vs SRGAN, PSNR / SSIM /
perceptual distance / FID, on Fashion-MNIST x4 (7x7 -> 28x28) or any dataset with ``--data`` and ``--pairs``.

Trains ``srresnet`` (pixel MSE) for ``--srresnet-steps``, then ``srgan`` from it (``--init-from``, content loss on
``--content-features``, by default the shipped domain classifier's; adversarial weight 1e-3) for
``--srgan-steps``, evaluates both and bicubic upsampling on the first ``--n`` test images (degraded as
``ganforge eval`` degrades them; perceptual distance and FID of the upscaled vs the true test images in
``--features``), prints a markdown table and writes the input / bicubic / SRResNet / SRGAN / ground truth figure
(``--figure``).

    OMP_NUM_THREADS=1 .venv/bin/python bench/sr_table.py --threads 1
    OMP_NUM_THREADS=1 .venv/bin/python bench/sr_table.py --threads 1 --data folder:runs/natural-photos \
        --image-size 64 --content-features inception:PATH --features inception:PATH \
        --whole-test runs/natural-photos/whole-test ...   (docs/applications.md)

With ``--whole-test DIR`` the main table is the papers' whole-image one (``sr_whole_image_table``: each photo of
DIR downscaled and upscaled whole, PSNR/SSIM on Y without the border, averaged over the photos; perceptual
distance and FID on the results' 64-px grid crops); the ``--data`` test patches then give PSNR/SSIM only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.config import TrainConfig
from ganforge.data import load_dataset
from ganforge.data.pairs import bicubic_upsample, evaluation_pairs
from ganforge.errors import run_script
from ganforge.images import grid_scale, save_image
from ganforge.metrics.restoration import psnr, shave
from ganforge.models import config_for
from ganforge.models.srgan import default_border, sr_measures_table, sr_whole_image_table, upscale
from ganforge.train import Trainer
from ganforge.viz.superres import comparison_grid, sr_columns


def train(cfg: TrainConfig, run_dir: Path, ds) -> tuple[torch.nn.Module, float]:
    shutil.rmtree(run_dir, ignore_errors=True)
    trainer = Trainer(cfg, run_dir, dataset=ds, progress=False)
    t0 = time.perf_counter()
    trainer.fit()
    return trainer.model.eval(), time.perf_counter() - t0


#: A test image on which bicubic reaches this PSNR is "flat" (sky, out-of-focus background) in the breakdown.
FLAT_PSNR = 40.0


def flat_textured_psnr(models: dict, test_uint8, border: int) -> dict | None:
    """Mean PSNR of bicubic and each model on the test images where bicubic reaches :data:`FLAT_PSNR` and on the
    rest: ``{"bicubic": (flat, rest), name: ..., "n_flat": count}``; None when either group is empty."""
    spec = next(iter(models.values())).spec
    low, high = evaluation_pairs(test_uint8, spec)
    ups = {"bicubic": bicubic_upsample(low, spec.scale), **{k: upscale(m, low) for k, m in models.items()}}
    scores = {k: psnr(shave(up, border), shave(high, border)) for k, up in ups.items()}
    flat = scores["bicubic"] >= FLAT_PSNR
    if not bool(flat.any()) or bool(flat.all()):
        return None

    def mean(p: torch.Tensor) -> float:
        return float(p[torch.isfinite(p)].mean())

    return {**{k: (mean(p[flat]), mean(p[~flat])) for k, p in scores.items()}, "n_flat": int(flat.sum())}


def whole_photos(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    """The images of ``folder`` (sorted by name) as uint8 ``(C, H, W)`` RGB, and their names."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"--whole-test {folder}: no .png/.jpg images in it")
    photos = []
    for p in files:
        with Image.open(p) as im:
            photos.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1).copy())
    return photos, [p.stem for p in files]


def print_whole_table(whole: dict, names: list[str], args, scale: int) -> None:
    border = args.border if args.border is not None else f"{scale}"
    print(f"\nwhole test photos ({', '.join(names)}), each downscaled and upscaled whole; PSNR and SSIM on Y "
          f"without a {border}-pixel border, mean over the photos; perceptual distance and FID over the "
          f"{whole['bicubic'].get('n_patches', 0)} 64-px grid crops of the results\n")
    print(f"| method | PSNR (dB) | SSIM | perceptual distance ({args.features}) | FID ({args.features}) | "
          f"PSNR per photo ({' / '.join(names)}) |")
    print("|---|---|---|---|---|---|")
    for name, vals in whole.items():
        print(f"| {name} | {vals['psnr']:.2f} | {vals['ssim']:.4f} | {vals.get('perceptual', float('nan')):.2f} "
              f"| {vals.get('fid', float('nan')):.2f} | {' / '.join(f'{p:.2f}' for p in vals['psnr_per_image'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--image-size", type=int, default=None, help="a folder's image side")
    parser.add_argument("--pairs", default="sr4")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--sr-blocks", type=int, default=8)
    parser.add_argument("--sr-skip", default="none", help="bicubic: G learns a residual over bicubic (not the "
                        "paper's; for short CPU runs)  [none]")
    parser.add_argument("--sr-norm", default="batch", help="batch (the paper's) or none (EDSR's)  [batch]")
    parser.add_argument("--sr-upsample-init", default="default", help="default or icnr  [default]")
    parser.add_argument("--pair-augment", default="none", help="none or dihedral (flips and quarter turns)  [none]")
    parser.add_argument("--whole-test", default=None,
                        help="folder of whole test photos (scripts/natural_photos.py's OUT/whole-test): the main "
                             "table measures them whole, as Ledig et al. measure Set14; the --data test split's "
                             "patches then give a secondary PSNR/SSIM table  [none]")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--srresnet-steps", type=int, default=800)
    parser.add_argument("--srresnet-lr", type=float, default=1e-3,
                        help="SRResNet's Adam rate (the paper's 1e-4 needs far more steps than a CPU run has)")
    parser.add_argument("--srresnet-final-lr", type=float, default=None,
                        help="decay SRResNet's rate exponentially to this by its last step (--lr-decay)  [constant]")
    parser.add_argument("--srgan-steps", type=int, default=300)
    parser.add_argument("--srgan-lr", type=float, default=1e-4, help="SRGAN's Adam rate (the paper's)")
    parser.add_argument("--content-features", default=None,
                        help="SRGAN's content network: a domain-classifier file or inception[:PATH]  [the "
                             "dataset's shipped classifier]")
    parser.add_argument("--features", default="domain",
                        help="features of the perceptual distance and FID: domain[:...] or inception[:PATH]")
    parser.add_argument("--n", type=int, default=2000, help="test images measured")
    parser.add_argument("--border", type=int, default=None,
                        help="PSNR and SSIM leave out this many pixels at each side (Ledig et al. 2017: the scale "
                             "factor's width; 0: whole images)  [the scale factor]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/sr-table")
    parser.add_argument("--figure", default=None, help="PNG of the comparison  [OUT/sr_comparison.png]")
    parser.add_argument("--figure-stride", type=int, default=1,
                        help="the figure shows measured test images 0, K, 2K, ... (8 of them)  [1: the first 8]")
    parser.add_argument("--json", default=None, help="also write the table's values here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data, args.data_dir, image_size=args.image_size)
    out = Path(args.out)
    common = {"data": args.data, "data_dir": args.data_dir, "image_size": args.image_size, "pairs": args.pairs,
              "width": args.width,
              "sr_blocks": args.sr_blocks, "sr_skip": args.sr_skip, "batch_size": args.batch_size, "seed": args.seed,
              "sr_norm": args.sr_norm, "sr_upsample_init": args.sr_upsample_init, "pair_augment": args.pair_augment,
              "device": "cpu"}
    final_lr = args.srresnet_final_lr or args.srresnet_lr
    decay = (args.srresnet_lr / final_lr) ** (1.0 / args.srresnet_steps)  # lr0 / decay^steps = final_lr
    srresnet, t_srresnet = train(config_for(model="srresnet", lr=args.srresnet_lr, steps=args.srresnet_steps,
                                            lr_decay=decay, sample_every=args.srresnet_steps, **common),
                                 out / "srresnet", ds)
    print(f"srresnet: {args.srresnet_steps} steps in {t_srresnet:.0f} s", flush=True)
    srgan, t_srgan = train(config_for(model="srgan", lr=args.srgan_lr, steps=args.srgan_steps,
                                      sample_every=args.srgan_steps, init_from=str(out / "srresnet"),
                                      content_features=args.content_features, **common),
                           out / "srgan", ds)
    print(f"srgan: {args.srgan_steps} steps in {t_srgan:.0f} s", flush=True)

    models = {"SRResNet": srresnet, "SRGAN": srgan}
    results: dict = {"args": vars(args), "train_seconds": {"srresnet": t_srresnet, "srgan": t_srgan}}
    if args.whole_test:
        t0 = time.perf_counter()
        photos, names = whole_photos(Path(args.whole_test))
        whole = sr_whole_image_table(models, photos, args.features, args.border)
        print(f"whole-image measures ({args.features} features): {time.perf_counter() - t0:.0f} s", flush=True)
        print_whole_table(whole, names, args, srresnet.spec.scale)
        results["whole"] = {**whole, "photos": names}
    test = ds.split("test")[: args.n]
    t0 = time.perf_counter()
    patch_features = "none" if args.whole_test else args.features  # the whole-image table has them
    table = sr_measures_table(models, test, ds.name, patch_features, args.border)
    border = default_border(srresnet.spec.scale, min(test.shape[-2:])) if args.border is None else args.border
    print(f"measures ({patch_features} features): {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\n{ds.name} {args.pairs}, first {len(test)} test images "
          f"(SRResNet {args.srresnet_steps} steps, SRGAN +{args.srgan_steps} steps; PSNR and SSIM on Y without a "
          f"{border}-pixel border)\n")
    print(f"| method | PSNR (dB) | SSIM | perceptual distance ({args.features}) | FID ({args.features}) |")
    print("|---|---|---|---|---|")
    for name, vals in table.items():
        print(f"| {name} | {vals['psnr']:.2f} | {vals['ssim']:.4f} | {vals.get('perceptual', float('nan')):.2f} "
              f"| {vals.get('fid', float('nan')):.2f} |")
    flat = flat_textured_psnr({"SRResNet": srresnet, "SRGAN": srgan}, test, border)
    if flat is not None:
        n_flat = flat.pop("n_flat")
        print(f"\nPSNR (dB) on the {n_flat} test images where bicubic reaches {FLAT_PSNR:.0f} dB (flat: sky, blur) "
              f"and on the other {len(test) - n_flat}:")
        for name, (p_flat, p_rest) in flat.items():
            print(f"  {name}: flat {p_flat:.2f}, the rest {p_rest:.2f}")
        table["flat_textured_psnr"] = {**flat, "n_flat": n_flat}
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table, **results}, indent=2) + "\n")

    low, high = evaluation_pairs(test[:: args.figure_stride][:8], srresnet.spec)
    names, images = sr_columns(low, high, [("SRResNet", srresnet), ("SRGAN", srgan)], srresnet.spec.scale)
    figure = Path(args.figure or out / "sr_comparison.png")
    save_image(comparison_grid(images), figure, scale=grid_scale(high.shape[-1]))
    print(f"\nwrote {figure} (columns: {' / '.join(names)})")


if __name__ == "__main__":
    sys.exit(run_script(main))
