"""Samples made elsewhere, for ``ganforge eval --samples PATH``: a folder of images or an ``.npy``/``.npz`` array.

What is accepted, and what it becomes (the metrics' input convention):

- a folder of images (PNG/JPEG/BMP/WebP, searched recursively, read in sorted path order), all of one size:
  grayscale files (PIL modes ``1``, ``L``, ``I``, ``I;16``) give ``(N, 1, H, W)``; if any file has colour,
  every image is read as RGB ``(N, 3, H, W)``; alpha is dropped;
- an ``.npy`` array, or an ``.npz`` holding one array: images ``(N, C, H, W)`` with C 1 or 3, ``(N, H, W)``
  (one channel), or channels-last ``(N, H, W, C)`` when the second axis cannot be channels; ``uint8`` in
  [0, 255] or floats in [0, 1]; or points ``(N, D)`` float for the toy datasets.

Images come back float32 in [0, 1]; uint8 values are divided by 255 exactly as dataset images are
(``to_unit_range``), so the PNGs of some images and the ``.npy`` of the same uint8 images score the same.
Anything else (no images, NaN, values outside [0, 1], mixed sizes) is a :class:`UserError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..images import upright_8bit
from .folder import EXTENSIONS

GRAY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}


def read_image_folder(root: Path) -> np.ndarray:
    """Every image under ``root`` as uint8 ``(N, C, H, W)`` (C 1 if all are grayscale, else 3)."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise UserError(f"--samples {root}: no images found ({', '.join(sorted(EXTENSIONS))}, searched "
                        "recursively)")
    images, modes = [], set()
    for p in files:
        try:
            with Image.open(p) as im:
                im.load()
                images.append(upright_8bit(im).copy())
                modes.add(images[-1].mode)
        except (UnidentifiedImageError, OSError) as e:
            raise UserError(f"--samples {root}: cannot read image {p} ({e})") from None
    size = images[0].size
    for p, im in zip(files, images, strict=True):
        if im.size != size:
            raise UserError(f"--samples {root}: image {p} is {im.size[0]}x{im.size[1]}, expected "
                            f"{size[0]}x{size[1]} like {files[0].name} (one size for all samples)")
    mode = "L" if modes <= GRAY_MODES else "RGB"
    arrays = []
    for im in images:
        a = np.asarray(im.convert(mode), dtype=np.uint8)
        arrays.append(a[None] if mode == "L" else a.transpose(2, 0, 1))
    return np.stack(arrays)


def read_array_file(path: Path) -> np.ndarray:
    """The array stored in an ``.npy`` file, or the one array of an ``.npz`` file (never unpickled)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:  # EOFError: an empty or cut file
        raise UserError(f"--samples {path}: cannot be read as a numpy array ({e or type(e).__name__})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if len(loaded.files) != 1:
                raise UserError(f"--samples {path}: holds arrays {', '.join(loaded.files) or '(none)'}, expected "
                                "exactly one")
            return loaded[loaded.files[0]]
    return loaded


def as_unit_samples(array: np.ndarray, name: str) -> torch.Tensor:
    """An array of samples -> float32 tensor: images ``(N, C, H, W)`` in [0, 1], or points ``(N, D)``."""
    a = np.asarray(array)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise UserError(f"--samples {name}: array of dtype {a.dtype}, expected uint8 or float")
    if a.ndim not in (2, 3, 4) or len(a) == 0:
        raise UserError(f"--samples {name}: array of shape {a.shape}, expected (N, C, H, W), (N, H, W) or "
                        "(N, D) with N >= 1")
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[-1] in (1, 3):
        a = a.transpose(0, 3, 1, 2)  # channels-last (N, H, W, C)
    if a.ndim == 4 and a.shape[1] not in (1, 3):
        raise UserError(f"--samples {name}: images of shape {a.shape}, expected 1 or 3 channels (N, C, H, W)")
    if np.issubdtype(a.dtype, np.integer):
        if a.ndim == 4 and (a.min() < 0 or a.max() > 255):
            raise UserError(f"--samples {name}: integer pixels in [{a.min()}, {a.max()}], expected [0, 255]")
        if a.ndim == 4:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.uint8)).float() / 255.0
        a = a.astype(np.float32)
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise UserError(f"--samples {name}: {bad} values are NaN or infinite, expected finite numbers")
    if a.ndim == 4 and (a.min() < 0 or a.max() > 1):
        raise UserError(f"--samples {name}: float pixels in [{a.min():.4g}, {a.max():.4g}], expected [0, 1] "
                        "(map [-1, 1] outputs with (x + 1) / 2, or store uint8)")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def load_samples(path: str | Path) -> torch.Tensor:
    """Samples from a folder of images or an ``.npy``/``.npz`` file: images float32 ``(N, C, H, W)`` in [0, 1],
    points float32 ``(N, D)``."""
    p = Path(path).expanduser()
    if p.is_dir():
        return as_unit_samples(read_image_folder(p), str(path))
    if not p.is_file():
        raise UserError(f"--samples {path}: no such file or directory")
    if p.suffix.lower() not in (".npy", ".npz"):
        raise UserError(f"--samples {path}: expected a folder of images, an .npy or .npz file, or a run directory")
    return as_unit_samples(read_array_file(p), str(path))
