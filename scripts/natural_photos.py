"""A folder of natural-photo patches for super-resolution, built offline from photos two pip packages ship.

    python scripts/natural_photos.py --out data/natural-photos --skimage /tmp/whl/scikit_image-0.26.0-*.whl
    ganforge train --model srresnet --data folder:data/natural-photos --image-size 64 --pairs sr4 ...

The photos (RGB, full resolution, never resized):

- scikit-image 0.26.0's ``skimage/data/``: astronaut.png (512x512), chelsea.png (451x300), coffee.png (600x400),
  motorcycle_left.png (741x500), rocket.jpg (640x427), and four greyscale photos, camera.png (the cameraman)
  and the textures brick.png, grass.png, gravel.png (512x512 each, read as RGB with equal channels): the
  **training** photos. ``--skimage`` names the wheel (``pip download --no-deps scikit-image==0.26.0``; read as
  a zip, nothing installed), an unpacked ``skimage/data`` folder, or nothing (the installed package's folder,
  located without importing it). motorcycle_right.png is left out: it is the other view of a stereo pair,
  nearly the same picture as motorcycle_left. The microscopy and astronomy images are not natural photos.
- scikit-learn's ``sklearn/datasets/images/``: china.jpg and flower.jpg (640x427), and matplotlib's
  ``mpl-data/sample_data/grace_hopper.jpg`` (512x600): the **test** photos.

Patches are ``--size`` x ``--size`` crops on a regular grid from each photo's top-left corner: every
``--train-stride`` pixels in a training photo (overlapping when the stride is below the size, as SR training
crops are), every ``--size`` pixels in a test photo (no overlap, each test pixel measured once). The split is
by photo: ``OUT/train/`` holds patches of training photos only and ``OUT/test/`` of test photos only, and
``folder:OUT`` takes those subfolders as its splits (``ganforge.data.folder``), so no test photo ever gives a
training patch. Files are lossless PNGs named ``PHOTO_ROW_COL.png`` (the crop's top-left pixel);
``OUT/whole-test/`` holds each test photo whole (lossless PNG of the decoded photo), for the whole-image
measures of the SR papers (``bench/sr_table.py --whole-test``; ``folder:OUT`` ignores it).
``OUT/SOURCES.txt`` lists each photo with its package, SHA-256 and patch count. The same inputs give the same
folder.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

#: scikit-image's natural colour photos used for training, and scikit-learn's two, used for testing.
TRAIN_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "camera.png",
                "brick.png", "grass.png", "gravel.png")
TEST_PHOTOS = ("china.jpg", "flower.jpg")
#: matplotlib's one photograph among its sample data, a third test photo.
MATPLOTLIB_TEST_PHOTOS = ("grace_hopper.jpg",)
#: Where each photo comes from, for SOURCES.txt.
PACKAGE_OF = {**{n: "scikit-image 0.26.0 skimage/data" for n in TRAIN_PHOTOS},
              **{n: "scikit-learn sklearn/datasets/images" for n in TEST_PHOTOS},
              **{n: "matplotlib mpl-data/sample_data" for n in MATPLOTLIB_TEST_PHOTOS}}


class SourceError(Exception):
    """A photo source that cannot be read: printed as one line, exit 2."""


def grid_patches(photo: np.ndarray, size: int, stride: int) -> list[tuple[int, int, np.ndarray]]:
    """Crops ``(row, col, (size, size, 3) uint8)`` of ``photo (H, W, 3)`` at rows and columns
    ``0, stride, 2 stride, ...`` that fit entirely inside it, in row-major order."""
    h, w = photo.shape[:2]
    return [(r, c, photo[r:r + size, c:c + size]) for r in range(0, h - size + 1, stride)
            for c in range(0, w - size + 1, stride)]


def read_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def skimage_photo_bytes(source: str | None) -> dict[str, bytes]:
    """The training photos' file contents from a scikit-image wheel, a ``skimage/data`` folder, or (None) the
    installed package's data folder."""
    if source is None:
        spec = importlib.util.find_spec("skimage")
        if spec is None or not spec.submodule_search_locations:
            raise SourceError("--skimage: not given and scikit-image is not installed: expected the wheel "
                              "(pip download --no-deps scikit-image==0.26.0) or its skimage/data folder")
        source = str(Path(next(iter(spec.submodule_search_locations))) / "data")
    path = Path(source)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            names = set(wheel.namelist())
            missing = [n for n in TRAIN_PHOTOS if f"skimage/data/{n}" not in names]
            if missing:
                raise SourceError(f"--skimage {path}: no skimage/data/{missing[0]} inside: expected a "
                                  "scikit-image wheel (0.26.0 ships these photos)")
            return {n: wheel.read(f"skimage/data/{n}") for n in TRAIN_PHOTOS}
    if path.is_dir():
        folder = path / "skimage" / "data" if (path / "skimage" / "data").is_dir() else path
        missing = [n for n in TRAIN_PHOTOS if not (folder / n).is_file()]
        if missing:
            raise SourceError(f"--skimage {path}: no {missing[0]} in {folder}: expected scikit-image's "
                              "skimage/data folder")
        return {n: (folder / n).read_bytes() for n in TRAIN_PHOTOS}
    raise SourceError(f"--skimage {path}: not a wheel (zip) or a folder")


def sklearn_photo_bytes() -> dict[str, bytes]:
    """The test photos' file contents from the installed scikit-learn (``sklearn/datasets/images``)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("scikit-learn is not installed: expected it for china.jpg and flower.jpg")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images"
    missing = [n for n in TEST_PHOTOS if not (folder / n).is_file()]
    if missing:
        raise SourceError(f"scikit-learn: no {missing[0]} in {folder}")
    return {n: (folder / n).read_bytes() for n in TEST_PHOTOS}


def matplotlib_photo_bytes() -> dict[str, bytes]:
    """The matplotlib test photo's file contents (``mpl-data/sample_data``), located without importing it."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("matplotlib is not installed: expected it for grace_hopper.jpg")
    folder = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data"
    missing = [n for n in MATPLOTLIB_TEST_PHOTOS if not (folder / n).is_file()]
    if missing:
        raise SourceError(f"matplotlib: no {missing[0]} in {folder}")
    return {n: (folder / n).read_bytes() for n in MATPLOTLIB_TEST_PHOTOS}


def build_patch_folder(out: Path, photos: dict[str, dict[str, bytes]], size: int, train_stride: int) -> dict:
    """Write ``out/train/`` and ``out/test/`` from ``photos = {"train": {name: bytes}, "test": {...}}`` (image
    file contents); returns ``{split: {name: patch count}}``. ``out/whole-test/`` holds the test photos whole
    (``STEM.png``). ``out`` is replaced if it exists."""
    if out.exists():
        shutil.rmtree(out)
    counts: dict[str, dict[str, int]] = {}
    lines = [f"natural-photo patches, {size}x{size} RGB; train stride {train_stride}, test stride {size}",
             "split  photo  source  sha256  size  patches"]
    for split, stride in (("train", train_stride), ("test", size)):
        (out / split).mkdir(parents=True)
        counts[split] = {}
        for name, data in sorted(photos[split].items()):
            photo = read_rgb(data)
            stem = Path(name).stem
            patches = grid_patches(photo, size, stride)
            for r, c, patch in patches:
                Image.fromarray(patch).save(out / split / f"{stem}_{r:04d}_{c:04d}.png")
            counts[split][name] = len(patches)
            if split == "test":
                (out / "whole-test").mkdir(exist_ok=True)
                Image.fromarray(photo).save(out / "whole-test" / f"{stem}.png")
            lines.append(f"{split}  {name}  {PACKAGE_OF.get(name, '-').replace(' ', '_')}  "
                         f"{hashlib.sha256(data).hexdigest()}  "
                         f"{photo.shape[1]}x{photo.shape[0]}  {len(patches)}")
    (out / "SOURCES.txt").write_text("\n".join(lines) + "\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write (replaced if it exists)")
    parser.add_argument("--skimage", default=None,
                        help="scikit-image wheel or skimage/data folder  [the installed package's]")
    parser.add_argument("--size", type=int, default=64, help="patch side in pixels  [64]")
    parser.add_argument("--train-stride", type=int, default=32, help="grid step in training photos  [32]")
    args = parser.parse_args(argv)
    try:
        if args.size < 8 or args.train_stride < 1:
            raise SourceError(f"--size {args.size} / --train-stride {args.train_stride}: expected a size >= 8 "
                              "and a stride >= 1")
        photos = {"train": skimage_photo_bytes(args.skimage),
                  "test": {**sklearn_photo_bytes(), **matplotlib_photo_bytes()}}
        counts = build_patch_folder(Path(args.out), photos, args.size, args.train_stride)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for split, per_photo in counts.items():
        print(f"{split}: {sum(per_photo.values())} patches from "
              + ", ".join(f"{n} ({k})" for n, k in per_photo.items()))
    print(f"wrote {args.out} (folder:{args.out} --image-size {args.size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
