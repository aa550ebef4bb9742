"""The one dataset API: every dataset is decoded once into in-memory arrays with explicit splits.

Images are ``uint8`` arrays ``(N, C, H, W)`` in [0, 255]; toy points are ``float32`` arrays ``(N, D)``.
Training turns a uint8 minibatch into floats in [-1, 1] on the device, per batch, so the loop does no
per-sample Python work.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..registry import Registry

SPLITS = ("train", "val", "test")


@dataclass
class ArrayDataset:
    """A dataset held in memory.

    ``arrays[split]`` is ``uint8 (N, C, H, W)`` for images or ``float32 (N, D)`` for points;
    ``labels[split]`` is ``int64 (N,)`` or absent. ``meta`` carries extras such as a mixture's modes.
    """

    name: str
    kind: str  # "image" or "points"
    arrays: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    num_classes: int | None = None
    class_names: list[str] | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: ``condition(x, seed)``: what the model is conditioned on for a minibatch ``x`` of targets (model range),
    #: made on the fly (SR pairs' low-resolution inputs, ``ganforge.data.pairs``); None for plain datasets
    condition: Callable[[torch.Tensor, int], Any] | None = None
    #: ``augment(x, seed)``: a random transform of a training minibatch of targets (model range), applied before
    #: ``condition`` (SR pairs' flips and rotations, ``ganforge.data.pairs``); None for none
    augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: ``(C, H, W)`` or ``(D,)``."""
        return tuple(self.arrays["train"].shape[1:])

    def split(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise UserError(f"dataset {self.name} has no split {name!r}: expected one of {', '.join(self.arrays)}")
        return self.arrays[name]

    def __len__(self) -> int:
        return len(self.arrays["train"])


def to_model_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1]; float points pass through unchanged."""
    if batch.dtype == torch.uint8:
        return batch.float().div_(127.5).sub_(1.0)
    return batch.float()


def to_data_range(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Model outputs -> the data's range: images float in [0, 1], points unchanged."""
    if kind == "image":
        return x.add(1.0).mul_(0.5).clamp_(0.0, 1.0)
    return x


@dataclass
class DatasetSource:
    """How to find and decode one named dataset.

    ``locate(data_dir)`` returns a human-readable description of where the data was found, or None;
    ``load(data_dir, download)`` returns the :class:`ArrayDataset` or raises :class:`UserError`.
    """

    name: str
    description: str
    locate: Callable[[str | None], str | None]
    load: Callable[[str | None, bool], ArrayDataset]
    how_to_get: str = ""
    #: a table: ``load`` also takes ``discrete_columns`` and ``continuous_columns`` (``ganforge.data.table``)
    table: bool = False


DATASETS: Registry[DatasetSource] = Registry("dataset")


def search_dirs(data_dir: str | None, subdirs: tuple[str, ...], system: tuple[str, ...] = ()) -> list[Path]:
    """Directories searched for a dataset's files, in order: --data-dir, $GANFORGE_DATA, ~/.ganforge/data,
    ./data, then system places (e.g. Debian's /usr/share/datasets). Each base is tried with each subdir."""
    bases: list[Path] = []
    if data_dir:
        bases.append(Path(data_dir).expanduser())
    if os.environ.get("GANFORGE_DATA"):
        bases.append(Path(os.environ["GANFORGE_DATA"]).expanduser())
    bases += [Path.home() / ".ganforge" / "data", Path("data")]
    out: list[Path] = []
    for base in bases:
        out.append(base)
        out += [base / s for s in subdirs]
    out += [Path(s) for s in system]
    seen: set[Path] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def cache_dir() -> Path:
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge"))


def cached_arrays(key_parts: list[Any], build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Decode once, then read back from ``cache_dir()/<hash>.npz`` (no pickle) on later starts.

    ``key_parts`` must identify the content: source paths with their sizes and mtimes, sizes, options.
    """
    key = hashlib.sha256(repr(key_parts).encode()).hexdigest()[:20]
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home is no reason to fail: the data is decoded again next time
    return arrays


def file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, int(st.st_mtime))


#: Data names that carry a path after their prefix.
PATH_PREFIXES = ("folder:", "csv:", "parquet:")


def absolute_data_name(name: str) -> str:
    """``folder:imgs`` -> ``folder:/abs/cwd/imgs`` (``~`` expanded); other names unchanged. A run stores its data
    this way so that ``sample --drs``, ``latent neighbours`` or ``eval`` of the run find it from any directory."""
    for prefix in PATH_PREFIXES:
        if name.startswith(prefix):
            return prefix + os.path.abspath(os.path.expanduser(name[len(prefix):]))
    return name


def is_table_name(name: str) -> bool:
    """Whether ``--data NAME`` names a table (a CSV or parquet file, or a bundled table), without loading it."""
    source = DATASETS.get(name)
    return name.startswith(("csv:", "parquet:")) or (source is not None and source.table)


def load_dataset(name: str, data_dir: str | None = None, download: bool = False,
                 image_size: int | None = None, max_image_pixels: int | None = None,
                 discrete_columns: str | None = None, continuous_columns: str | None = None) -> ArrayDataset:
    """Load a dataset by name (``folder:PATH`` for a folder of images, ``csv:PATH`` for a table), optionally
    resized to ``image_size``. ``max_image_pixels``: the largest image a folder may hold (default
    ``folder.MAX_IMAGE_PIXELS``). ``discrete_columns``/``continuous_columns``: comma-separated column names
    whose inferred kind a table overrides."""
    if name.startswith(("csv:", "parquet:")):
        from .table import load_table

        path = name[len("csv:"):] if name.startswith("csv:") else name  # load_table reads the parquet: prefix
        ds = load_table(path, None, discrete_columns, continuous_columns)
    elif is_table_name(name):
        ds = DATASETS.get(name).load(data_dir, download, discrete_columns, continuous_columns)
    elif name.startswith("folder:"):
        from .folder import MAX_IMAGE_PIXELS, load_folder

        ds = load_folder(name[len("folder:"):], image_size or 64, max_image_pixels or MAX_IMAGE_PIXELS)
    else:
        ds = DATASETS.get_or_fail(name).load(data_dir, download)
    check_dataset(ds)
    if image_size is not None and ds.kind == "image" and ds.shape[-1] != image_size:
        ds = resize_dataset(ds, image_size)
    return ds


def check_dataset(ds: ArrayDataset) -> None:
    """Every split holds at least one example, and every label is a class in ``[0, num_classes)``."""
    for split, arr in ds.arrays.items():
        if len(arr) == 0:
            raise UserError(f"dataset {ds.name} ({ds.source}): its {split} split is empty: expected at least "
                            "one example in each of " + ", ".join(ds.arrays))
    for split, y in ds.labels.items():
        if len(y) and ds.num_classes is not None and (y.min() < 0 or y.max() >= ds.num_classes):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise UserError(f"dataset {ds.name} ({ds.source}): {split} label {bad} is out of range: expected "
                            f"class labels 0 to {ds.num_classes - 1}")


def resize_dataset(ds: ArrayDataset, size: int) -> ArrayDataset:
    """Resize every split once (antialiased bilinear), keeping uint8 storage."""
    resized = {}
    for split, arr in ds.arrays.items():
        out = []
        for start in range(0, len(arr), 4096):
            chunk = torch.from_numpy(arr[start:start + 4096]).float()
            chunk = torch.nn.functional.interpolate(chunk, size=(size, size), mode="bilinear",
                                                    antialias=True, align_corners=False)
            out.append(chunk.round_().clamp_(0, 255).to(torch.uint8).numpy())
        resized[split] = np.concatenate(out) if out else arr
    return ArrayDataset(ds.name, ds.kind, resized, ds.labels, ds.num_classes, ds.class_names,
                        ds.source + f" (resized to {size}x{size})", ds.meta)


def split_fixed(n: int, sizes: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices for train/val/test from a fixed permutation: the last ``sizes`` go to val and test."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = sizes
    return perm[: n - n_val - n_test], perm[n - n_val - n_test: n - n_test], perm[n - n_test:]


class MinibatchSampler:
    """Draws minibatches of the training split held on ``device``, epoch by epoch without replacement.

    The order is a pure function of ``(seed, epoch)``, so the whole sampler state is one integer,
    ``cursor`` (examples drawn so far): a resumed run draws exactly the batches an uninterrupted run would.
    """

    def __init__(self, data: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int):
        self.data, self.labels = data, labels
        self.batch_size, self.seed = batch_size, seed
        self.cursor = 0
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.data), generator=g).to(self.data.device)
            self._perm_epoch = epoch
        return self._perm

    def next_indices(self) -> torch.Tensor:
        n, m = len(self.data), self.batch_size
        parts, need = [], m
        while need:
            epoch, offset = divmod(self.cursor, n)
            take = min(need, n - offset)
            parts.append(self._permutation(epoch)[offset:offset + take])
            self.cursor += take
            need -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A minibatch: ``x`` float in the model's range, shape ``(m, *example_shape)``; ``y`` int64 or None."""
        idx = self.next_indices()
        x = to_model_range(self.data.index_select(0, idx))
        y = self.labels.index_select(0, idx) if self.labels is not None else None
        return x, y
