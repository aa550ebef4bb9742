"""A folder of the user's own images (PNG/JPEG/BMP/WebP, searched recursively).

Each image is converted to RGB, its shorter side resized to ``size`` and centre-cropped to
``size x size``. A fixed 90/5/5 split (by sorted path, then a seeded shuffle) gives train/val/test, unless the
folder declares its own splits: with subfolders ``train/`` and ``test/`` (and optionally ``val/``), the images
under each are that split and nothing else (no ``val/``: val is a fixed 5% of ``train/``'s images, taken out of
train). Use this when images share a source, as patches cut from one photo do, and test images must come from
sources training never saw.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import UserError
from ..images import upright_8bit
from .core import ArrayDataset, cached_arrays, split_fixed

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
#: Largest image decoded by default (Pillow's own decompression-bomb limit, 2 x 89,478,485 pixels): a larger
#: file could exhaust memory when decoded; ``--max-image-pixels`` raises it.
MAX_IMAGE_PIXELS = 178_956_970
#: Subfolders that, with ``train/`` and ``test/`` both present, are the dataset's splits.
SPLIT_DIRS = ("train", "val", "test")


@contextlib.contextmanager
def _pillow_limit_off():
    """Pillow's global bomb check off while ``load_image`` applies its own, adjustable, limit."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def load_image(path: Path, size: int, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """One image file -> uint8 ``(3, size, size)``: shorter side resized to ``size``, centre-cropped. An image
    of more than ``max_pixels`` pixels is a :class:`UserError` (checked from its header, before decoding)."""
    with _pillow_limit_off():
        im = Image.open(path)
    with im:
        if im.width * im.height > max_pixels:
            raise UserError(f"image {path} has {im.width}x{im.height} = {im.width * im.height:,} pixels: expected "
                            f"at most {max_pixels:,} (a decompression-bomb guard; raise it with "
                            "--max-image-pixels N if the file is trusted)")
        im = upright_8bit(im).convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def has_declared_splits(root: Path) -> bool:
    """A folder with ``train/`` and ``test/`` subfolders: its splits are theirs, and only they are read."""
    return (root / "train").is_dir() and (root / "test").is_dir()


def load_folder(path: str, size: int, max_pixels: int = MAX_IMAGE_PIXELS) -> ArrayDataset:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"dataset folder:{path}: no such directory")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    declared = has_declared_splits(root)
    if declared:
        # the folder's own splits: an image belongs to the split named by its first path component
        split_of = {p: p.relative_to(root).parts[0] for p in files}
        files = [p for p in files if split_of[p] in SPLIT_DIRS]
        for split in ("train", "test"):
            if not any(split_of[p] == split for p in files):
                raise UserError(f"dataset folder:{path}: {split}/ holds no images: expected images under "
                                "train/ and test/ (and optionally val/)")
    if len(files) < 3:
        raise UserError(f"dataset folder:{path}: found {len(files)} images, expected at least 3 "
                        f"({', '.join(sorted(EXTENSIONS))}, searched recursively)")

    def build() -> dict[str, np.ndarray]:
        images, bad = [], []
        for p in files:
            try:
                images.append(load_image(p, size, max_pixels))
            except (UnidentifiedImageError, OSError) as e:
                bad.append((p, e))  # every unreadable file in one message, not one per rerun
        if bad:
            p, e = bad[0]
            more = f"; {len(bad) - 1} more unreadable: {', '.join(str(q.name) for q, _ in bad[1:4])}" \
                   f"{', ...' if len(bad) > 4 else ''}" if len(bad) > 1 else ""
            raise UserError(f"dataset folder:{path}: cannot read image {p} ({e}){more}")
        x = np.stack(images)
        if declared:
            names = np.array([split_of[p] for p in files])
            arrays = {s: x[names == s] for s in SPLIT_DIRS}
            if not len(arrays["val"]):  # no val/: a fixed 5% of train/ (never of test/)
                train, _, val = split_fixed(len(arrays["train"]), (0, max(1, len(arrays["train"]) // 20)))
                arrays["train"], arrays["val"] = arrays["train"][train], arrays["train"][val]
            return arrays
        n_hold = max(1, len(x) // 20)
        train, val, test = split_fixed(len(x), (n_hold, n_hold))
        return {"train": x[train], "val": x[val], "test": x[test]}

    key = ["folder", str(root.resolve()), size, [(str(p), p.stat().st_size, int(p.stat().st_mtime)) for p in files]]
    key += ["declared splits"] if declared else []  # the key of a folder without them is unchanged
    key += ["upright 8-bit"]  # decoded through images.upright_8bit: caches of the clipping, sideways decoder go
    arrays = cached_arrays(key, build)
    source = f"{len(files)} images under {root}" + (" (splits from its train/, val/, test/)" if declared else "")
    return ArrayDataset(f"folder:{path}", "image", arrays, source=source)
