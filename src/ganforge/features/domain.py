"""Domain classifiers: a small CNN per dataset whose penultimate layer gives features and whose softmax
gives class probabilities, for FID/KID/precision-recall on small images where Inception-v3 (trained on
299x299 ImageNet photos) sees little.

Architecture (``image_size`` 28: MNIST, Fashion-MNIST; 8: sklearn digits): blocks of
``conv3x3 -> batch norm -> ReLU -> 2x2 max pool`` halving the image until it is 3x3 (28 -> 14 -> 7 -> 3)
or 2x2 (8 -> 4 -> 2), channels 32, 64, 128; then ``linear -> ReLU`` to ``feature_dim`` (the features,
non-negative) and ``linear`` to the class logits. Inputs are float in [0, 1]; other sizes are resized
(bilinear, antialiased) to the classifier's.

Weights are safetensors files (``ganforge/weights/domain-<dataset>.safetensors``) whose metadata records
the architecture, the dataset, the training command and the test accuracy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.core import cache_dir
from ..errors import UserError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
FORMAT = "ganforge-domain-classifier-v1"


class DomainClassifier(nn.Module):
    """``x (N, channels, H, W)`` float in [0, 1] -> logits ``(N, num_classes)``; features ``(N, feature_dim)``."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, feature_dim: int = 128,
                 widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        self.channels, self.image_size = channels, image_size
        self.num_classes, self.feature_dim = num_classes, feature_dim
        blocks: list[nn.Module] = []
        size, c_in = image_size, channels
        for c_out in widths:
            if size < 4:
                break
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            size, c_in = size // 2, c_out
        self.conv = nn.Sequential(*blocks)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(c_in * size * size, feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def config(self) -> dict:
        return {"channels": self.channels, "image_size": self.image_size, "num_classes": self.num_classes,
                "feature_dim": self.feature_dim,
                "widths": [m.out_channels for m in self.conv if isinstance(m, nn.Conv2d)]}

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Images float in [0, 1] (or uint8 in [0, 255]) ``(N, C, H, W)`` -> the network's input in [-1, 1]."""
        x = torch.as_tensor(np.array(x) if isinstance(x, np.ndarray) and not x.flags.writeable else x)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise UserError(f"images of shape {tuple(x.shape)}: the domain classifier expected "
                            f"(N, {self.channels}, H, W) images")
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x.to(next(self.parameters()).device) * 2.0 - 1.0

    def embed_prepared(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of prepared input ``x`` in [-1, 1] (training uses this)."""
        return self.head(self.dropout(self.embed_prepared(x)))

    @torch.no_grad()
    def features_and_probs(self, x: torch.Tensor | np.ndarray,
                           batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features (N, feature_dim), probs (N, num_classes))`` float32 on the CPU, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            feats, probs = [], []
            for start in range(0, len(x), batch_size):
                h = self.embed_prepared(self.prepare(x[start:start + batch_size]))
                feats.append(h.cpu())
                probs.append(self.head(h).softmax(1).cpu())
        finally:
            self.train(was_training)
        return torch.cat(feats), torch.cat(probs)

    def features(self, x: torch.Tensor | np.ndarray, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate-layer features ``(N, feature_dim)`` of images ``(N, C, H, W)`` float in [0, 1]."""
        return self.features_and_probs(x, batch_size)[0]

    def probs(self, x: torch.Tensor | np.ndarray, batch_size: int = 1000) -> torch.Tensor:
        """Class probabilities ``(N, num_classes)`` of images ``(N, C, H, W)`` float in [0, 1]."""
        return self.features_and_probs(x, batch_size)[1]


def default_weights_path(data_name: str) -> Path:
    """Where ``ganforge features train --data NAME`` writes by default (the user's cache)."""
    return cache_dir() / "features" / f"domain-{data_name}.safetensors"


def packaged_weights_path(data_name: str) -> Path:
    return WEIGHTS_DIR / f"domain-{data_name}.safetensors"


def save_domain_classifier(model: DomainClassifier, path: str | Path, info: dict) -> None:
    """Write weights and architecture/provenance metadata as safetensors (atomically)."""
    import errno
    import os

    from safetensors import SafetensorError
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "config": json.dumps(model.config()), "info": json.dumps(info)}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
    except SafetensorError as e:  # an unwritable place: the user's file system, said as an OSError on their path
        raise OSError(errno.EIO, f"cannot be written ({e})", str(path)) from None
    os.chmod(tmp, 0o644)  # weights are shipped in the package: readable by everyone
    os.replace(tmp, path)


def read_domain_classifier(path: str | Path) -> tuple[DomainClassifier, dict]:
    """``(classifier in eval mode, info)`` from a safetensors file written by :func:`save_domain_classifier`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"domain classifier weights {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise UserError(f"domain classifier weights {path}: cannot be read as safetensors ({e})") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"domain classifier weights {path}: expected a file written by 'ganforge features train'")
    try:  # a file with ganforge's tag whose metadata or tensors were edited or damaged: one line, not a traceback
        cfg = json.loads(meta["config"])
        model = DomainClassifier(cfg["channels"], cfg["image_size"], cfg["num_classes"], cfg["feature_dim"],
                                 tuple(cfg["widths"]))
        model.load_state_dict(tensors)
        info = json.loads(meta.get("info", "{}"))
        if not isinstance(info, dict):
            raise TypeError(f"its info is a {type(info).__name__}, not an object")
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        why = " ".join(str(e).split())[:160]
        raise UserError(f"domain classifier weights {path}: damaged (its config and weights do not fit: {why}): "
                        "expected a file as 'ganforge features train' wrote it") from None
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise UserError(f"domain classifier weights {path}: {bad[0]} holds NaN or inf: expected finite weights "
                        "(train it again with 'ganforge features train')")
    info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    info["path"] = str(path)
    return model.eval(), info


def list_domain_classifiers() -> list[dict]:
    """Every domain classifier found, shipped ones first then the user's cache: ``{"dataset", "where"
    ("shipped" or "cache"), "path", "test_accuracy", "val_accuracy", "epochs", "size_mb"}`` read from each
    file's metadata (no weights are loaded). A cached file a shipped one overrides is marked ``"shadowed"``."""
    from safetensors import safe_open

    found, seen = [], set()
    for where, folder in (("shipped", WEIGHTS_DIR), ("cache", default_weights_path("x").parent)):
        for path in sorted(folder.glob("domain-*.safetensors")):
            try:
                with safe_open(str(path), framework="pt") as f:
                    meta = f.metadata() or {}
            except Exception:  # a damaged file: listed, so the user sees it
                meta = {}
            try:
                info = json.loads(meta.get("info", "{}")) if meta.get("format") == FORMAT else {}
            except ValueError:  # damaged metadata: listed without its figures
                info = {}
            info = info if isinstance(info, dict) else {}
            name = path.stem[len("domain-"):]
            found.append({"dataset": name, "where": where if name not in seen else "shadowed", "path": str(path),
                          "test_accuracy": info.get("test_accuracy"), "val_accuracy": info.get("val_accuracy"),
                          "epochs": info.get("epochs"), "size_mb": round(path.stat().st_size / 1e6, 2)})
            seen.add(name)
    return found


def load_domain_classifier(data_family: str, path: str | Path | None = None) -> DomainClassifier:
    """The domain classifier of a dataset (``fashion-mnist``, ``digits``, or one you trained, e.g. ``mnist``):
    ``path`` if given, else the weights shipped in the package, else those in the user's cache. Its ``info``
    attribute holds the metadata (test accuracy, sha256 of the file)."""
    if path:
        model, model.info = read_domain_classifier(path)
        return model
    for candidate in (packaged_weights_path(data_family), default_weights_path(data_family)):
        if candidate.is_file():
            model, info = read_domain_classifier(candidate)
            model.info = info
            return model
    from ..data import DATASETS, is_table_name
    from ..threads import TOY_DATA

    source = DATASETS.get(data_family)
    if data_family in TOY_DATA or is_table_name(data_family):
        raise UserError(f"no domain classifier for dataset {data_family!r}: it holds "
                        f"{'a table' if data_family not in TOY_DATA else 'points'}, and domain classifiers "
                        "are for labelled image sets: expected an image dataset such as digits or fashion-mnist")
    if source is None and not data_family.startswith("folder:"):
        raise UserError(f"no domain classifier for dataset {data_family!r}: no such dataset: expected one of "
                        f"{', '.join(sorted(DATASETS))} (ganforge features list shows the classifiers)")
    raise UserError(f"no domain classifier for dataset {data_family!r}: expected one shipped in {WEIGHTS_DIR} "
                    f"or trained with 'ganforge features train --data {data_family}' "
                    f"(writes {default_weights_path(data_family)})")
