"""``ganforge upscale``: super-resolve image files with a trained srresnet/srgan run (PNG in, PNG out)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..rundir import check_output_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def add_parser(sub) -> None:
    p = sub.add_parser("upscale", help="super-resolve images with an srresnet or srgan run",
                       description="Upsample image files by the run's scale (x2 or x4) with its generator and write "
                                   "one PNG per input, same name, into --out. Images of any size; their channels "
                                   "must be the run's (grey for Fashion-MNIST/digits runs, RGB for colour ones; "
                                   "an alpha channel is dropped).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGES", nargs="+", help="image files, or folders of them")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the upscaled PNGs")
    p.add_argument("--checkpoint", default="latest", metavar="WHICH",
                   help="latest, best (checkpoints/best.pt of a --keep-best run) or a checkpoint file  [latest]")
    p.set_defaults(func=cmd_upscale)


def image_files(paths: list[str]) -> list[Path]:
    """Files named, and the image files directly inside folders named, in order; a UserError if none."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"image {path}: not found")
    if not files:
        raise UserError(f"IMAGES {' '.join(paths)}: no image files found (expected {', '.join(IMAGE_SUFFIXES)})")
    return files


def read_image(path: Path, channels: int):
    """One file -> float ``(1, channels, H, W)`` in [0, 1]; a UserError when its channels are not ``channels``."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    from ..images import upright_8bit

    try:
        with Image.open(path) as opened:
            if getattr(opened, "n_frames", 1) > 1:  # an animated GIF, a multi-page TIFF: which frame is meant?
                raise UserError(f"image {path}: {opened.n_frames} frames: expected a single image (save the frame "
                                "to upscale as its own file)")
            if opened.mode == "F":  # float samples: no one scale maps them to 8 bits (convert clips them)
                raise UserError(f"image {path}: 32-bit float samples (mode F): expected 8-bit (or 16-bit grey) "
                                "images")
            im = upright_8bit(opened)
            if im.mode == "P":
                im = im.convert("RGBA")
            bands = [b for b in im.getbands() if b != "A"]
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8) if len(bands) == 3 and channels == 1 else None
            grey_in_colour = rgb is not None and bool((rgb == rgb[..., :1]).all())  # a grey palette, WebP, GIF
            if len(bands) != channels and not grey_in_colour:
                kind = {1: "grey", 3: "RGB"}
                raise UserError(f"image {path}: {len(bands)} colour channel(s) ({im.mode}): the run models "
                                f"{channels}-channel ({kind.get(channels, '?')}) images")
            x = rgb[..., 0] if grey_in_colour else np.asarray(im.convert("L" if channels == 1 else "RGB"),
                                                              dtype=np.uint8)
    except Image.DecompressionBombError:  # a header that claims far more pixels than Pillow opens
        raise UserError(f"image {path}: larger than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, the limit Pillow opens "
                        "safely (a decompression-bomb guard)") from None
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"image {path}: cannot be read as an image ({e})") from None
    x = x[:, :, None] if x.ndim == 2 else x
    return torch.from_numpy(x.copy()).permute(2, 0, 1)[None].float() / 255.0


def cmd_upscale(args: argparse.Namespace) -> int:
    from ..images import save_image
    from ..models.srgan import SuperResolution, upscale
    from ..run import load_run

    run = load_run(args.run_dir, args.checkpoint)
    if not isinstance(run.model, SuperResolution):
        raise UserError(f"run {args.run_dir}: a {run.config.model} run: expected an srresnet or srgan run")
    files = image_files(args.images)
    channels = run.data.shape[0]
    images = [read_image(p, channels) for p in files]  # all read first: a bad file fails before any is written
    out = Path(args.out)
    check_output_dir(out)
    targets = [out / f"{path.stem}.png" for path in files]
    inputs = {path.resolve() for path in files}
    clash = next((t for t in targets if t.resolve() in inputs), None)
    if clash is not None:
        raise UserError(f"--out {out}: {clash} would overwrite an input image: expected an --out apart from the "
                        "images")
    seen: dict[Path, Path] = {}
    for path, target in zip(files, targets, strict=True):
        if target in seen:
            raise UserError(f"{seen[target]} and {path} would both be written to {target}: expected input images "
                            "with distinct names (or upscale them into separate --out directories)")
        seen[target] = path
    out.mkdir(parents=True, exist_ok=True)
    for path, x, target in zip(files, images, targets, strict=True):
        y = upscale(run.model, x)[0]  # (C, sH, sW) in [0, 1]
        save_image((y * 255.0).round().byte().permute(1, 2, 0).numpy(), target)
        print(f"{path} ({x.shape[-1]}x{x.shape[-2]}) -> {target} ({y.shape[-1]}x{y.shape[-2]})")
    return 0
