"""MNIST and Fashion-MNIST from IDX files (gzipped or not), and MNIST's classic ``mnist.pkl.gz``.

Splits follow the 2014 GAN paper's MNIST protocol: the first 50,000 training images train, the last
10,000 validate, and the official 10,000 test images test.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import UserError
from .core import DATASETS, ArrayDataset, DatasetSource, cached_arrays, file_key, search_dirs
from .download import default_download_dir, fetch

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]
URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
#: SHA-256 of the *decompressed* Fashion-MNIST files (identical whatever the gzip compression).
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def read_idx(path: Path) -> np.ndarray:
    """Decode an IDX file (ubyte data only), gzipped or not, checking its header against its size. The array is
    writable like every other loader's (an array over immutable ``bytes`` would be read-only, and the tensors
    ``torch.from_numpy`` makes of its splits would warn)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = bytearray(f.read())
    except (OSError, EOFError) as e:
        raise UserError(f"{path}: cannot be read as IDX ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path}: not an IDX ubyte file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(f"{path}: truncated or corrupt IDX file ({len(raw)} bytes, header says {expected})")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(dirs: list[Path]) -> dict[str, Path] | None:
    for d in dirs:
        found = {}
        for key, stem in IDX_FILES.items():
            for candidate in (d / f"{stem}.gz", d / stem, d / stem.replace("-idx", ".idx")):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(IDX_FILES):
            return found
    return None


def _dirs(name: str, data_dir: str | None) -> list[Path]:
    system = ("/usr/share/datasets/fashion-mnist",) if name == "fashion-mnist" else ("/usr/share/datasets/mnist",)
    subdirs = (name, name.replace("-", "_"), name.upper(), "FashionMNIST/raw" if "fashion" in name else "MNIST/raw")
    return search_dirs(data_dir, subdirs, system)


def _from_idx(name: str, files: dict[str, Path]) -> ArrayDataset:
    def build() -> dict[str, np.ndarray]:
        arrays = {k: read_idx(p) for k, p in files.items()}
        x_train, y_train = arrays["train_images"], arrays["train_labels"]
        x_test, y_test = arrays["test_images"], arrays["test_labels"]
        if len(x_train) != len(y_train) or len(x_test) != len(y_test) or x_train.shape[1:] != (28, 28):
            raise UserError(f"{name}: IDX files in {files['train_images'].parent} do not match "
                            "(expected 28x28 images and one label per image)")
        if len(x_train) <= 10000:
            raise UserError(f"{name}: {files['train_images']} holds {len(x_train):,} training images: expected "
                            "more than 10,000 (the last 10,000 are the validation split)")
        return {"train": x_train[:-10000], "val": x_train[-10000:], "test": x_test,
                "train_y": y_train[:-10000], "val_y": y_train[-10000:], "test_y": y_test}

    arrays = cached_arrays(["idx", name, *[file_key(p) for p in files.values()]], build)
    return _assemble(name, arrays, f"IDX files in {files['train_images'].parent}")


def _assemble(name: str, arrays: dict[str, np.ndarray], source: str) -> ArrayDataset:
    return ArrayDataset(
        name=name, kind="image",
        arrays={s: arrays[s][:, None] for s in ("train", "val", "test")},
        labels={s: arrays[f"{s}_y"].astype(np.int64) for s in ("train", "val", "test")},
        num_classes=10, class_names=FASHION_CLASSES if name == "fashion-mnist" else [str(i) for i in range(10)],
        source=source)


def _find_pkl(dirs: list[Path]) -> Path | None:
    for d in dirs:
        if (d / "mnist.pkl.gz").is_file():
            return d / "mnist.pkl.gz"
    return None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays and plain containers: ``mnist.pkl.gz`` and CIFAR batches are pickles,
    and an arbitrary pickle can run code, so every other global is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def safe_unpickle(raw: bytes, what: str):
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as e:  # any failure here means the file is not what it claims to be
        raise UserError(f"{what}: not a valid numpy pickle ({e})") from None


def _from_pkl(path: Path) -> ArrayDataset:
    def build() -> dict[str, np.ndarray]:
        try:
            raw = gzip.open(path, "rb").read()
        except (OSError, EOFError) as e:
            raise UserError(f"{path}: cannot be read ({e})") from None
        splits = safe_unpickle(raw, str(path))
        out = {}
        for split, (x, y) in zip(("train", "val", "test"), splits, strict=True):
            out[split] = np.clip(np.rint(np.asarray(x, np.float32) * 255), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
            out[f"{split}_y"] = np.asarray(y)
        return out

    return _assemble("mnist", cached_arrays(["pkl", file_key(path)], build), str(path))


def _locate(name: str):
    def locate(data_dir: str | None) -> str | None:
        dirs = _dirs(name, data_dir)
        if files := _find_idx(dirs):
            return f"IDX files in {files['train_images'].parent}"
        if name == "mnist" and (pkl := _find_pkl(dirs)):
            return str(pkl)
        return None

    return locate


def _load(name: str):
    def load(data_dir: str | None, download: bool) -> ArrayDataset:
        dirs = _dirs(name, data_dir)
        if files := _find_idx(dirs):
            return _from_idx(name, files)
        if name == "mnist" and (pkl := _find_pkl(dirs)):
            return _from_pkl(pkl)
        if download:
            dest = Path(data_dir).expanduser() if data_dir else default_download_dir(name)
            for stem in IDX_FILES.values():
                fetch(URLS[name] + stem + ".gz", dest / f"{stem}.gz")
            files = _find_idx([dest])
            if name == "fashion-mnist":
                import hashlib
                for p in files.values():
                    raw = gzip.open(p, "rb").read()
                    stem = p.name.removesuffix(".gz")
                    if hashlib.sha256(raw).hexdigest() != FASHION_SHA256[stem]:
                        p.unlink()
                        raise UserError(f"downloaded {p} does not match the published Fashion-MNIST file")
            return _from_idx(name, files)
        looked = ", ".join(str(d) for d in dirs)
        raise UserError(f"dataset {name} not found: looked for its 4 IDX files in {looked}; "
                        f"{HOW_TO_GET[name]}")

    return load


HOW_TO_GET = {
    "fashion-mnist": "install Debian's package (apt-get install dataset-fashion-mnist), pass --data-dir DIR "
                     "holding train-images-idx3-ubyte.gz etc., or add --download",
    "mnist": "pass --data-dir DIR holding train-images-idx3-ubyte.gz etc. or mnist.pkl.gz, "
             "set $GANFORGE_DATA, or add --download",
}

for _name, _desc in (("mnist", "MNIST handwritten digits, 28x28 grey, 50k/10k/10k"),
                     ("fashion-mnist", "Fashion-MNIST clothing, 28x28 grey, 50k/10k/10k")):
    DATASETS.register(_name)(DatasetSource(_name, _desc, _locate(_name), _load(_name), HOW_TO_GET[_name]))
