"""CIFAR-10 from the python-pickle batches (``cifar-10-batches-py/``), read without running pickled code.

Splits: the first 45,000 training images train, the last 5,000 validate, the official 10,000 test.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from .core import DATASETS, ArrayDataset, DatasetSource, cached_arrays, file_key, search_dirs
from .download import default_download_dir, fetch
from .mnist import safe_unpickle

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
HOW_TO_GET = ("download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it "
              "and pass --data-dir DIR (the folder holding cifar-10-batches-py), or add --download")


def _find(data_dir: str | None) -> Path | None:
    for d in search_dirs(data_dir, ("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "cifar10")):
        if all((d / b).is_file() for b in BATCHES):
            return d
    return None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path.read_bytes(), str(path))
    if not isinstance(batch, dict):
        raise UserError(f"{path}: not a CIFAR-10 batch (expected a dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    try:
        x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(batch["labels"], dtype=np.int64)
    except (KeyError, ValueError) as e:
        raise UserError(f"{path}: not a CIFAR-10 batch ({e})") from None
    return x, y


def load(data_dir: str | None, download: bool) -> ArrayDataset:
    root = _find(data_dir)
    if root is None and download:
        dest = Path(data_dir).expanduser() if data_dir else default_download_dir("cifar10")
        archive = fetch(URL, dest / "cifar-10-python.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        root = _find(str(dest))
    if root is None:
        looked = ", ".join(str(d) for d in search_dirs(data_dir, ("cifar-10-batches-py",)))
        raise UserError(f"dataset cifar10 not found: looked for cifar-10-batches-py/data_batch_1..5 and "
                        f"test_batch in {looked}; {HOW_TO_GET}")

    def build() -> dict[str, np.ndarray]:
        parts = [_read_batch(root / b) for b in BATCHES]
        x_train = np.concatenate([p[0] for p in parts[:5]])
        y_train = np.concatenate([p[1] for p in parts[:5]])
        n_train = len(x_train) - len(x_train) // 10  # 45,000 of the official 50,000
        return {"train": x_train[:n_train], "val": x_train[n_train:], "test": parts[5][0],
                "train_y": y_train[:n_train], "val_y": y_train[n_train:], "test_y": parts[5][1]}

    arrays = cached_arrays(["cifar10", *[file_key(root / b) for b in BATCHES]], build)
    return ArrayDataset("cifar10", "image", {s: arrays[s] for s in ("train", "val", "test")},
                        {s: arrays[f"{s}_y"] for s in ("train", "val", "test")}, 10, CLASSES, str(root))


def locate(data_dir: str | None) -> str | None:
    root = _find(data_dir)
    return str(root) if root else None


DATASETS.register("cifar10")(DatasetSource("cifar10", "CIFAR-10 colour images, 32x32, 45k/5k/10k",
                                           locate, load, HOW_TO_GET))
