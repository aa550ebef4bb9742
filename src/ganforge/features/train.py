"""Training a domain classifier: ``ganforge features train --data NAME`` (reproducible: fixed seed,
fixed data order, CPU by default).

Adam (lr 1e-3, halved every third of the run), cross-entropy, small random translations (up to 1/14 of the
image side, zero-filled) as augmentation; the epoch with the best validation accuracy is kept and its test
accuracy recorded in the weights' metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ArrayDataset
from ..errors import TrainingDiverged, UserError
from .domain import DomainClassifier


def random_translate(x: torch.Tensor, max_shift: int, rng: torch.Generator) -> torch.Tensor:
    """Shift each image ``(N, C, H, W)`` by integer offsets in [-max_shift, max_shift] (zero fill = -1 here)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=rng)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=rng)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # (N, 1, 1, W)
    idx_n = torch.arange(n)[:, None, None, None]
    idx_c = torch.arange(x.shape[1])[None, :, None, None]
    return padded[idx_n, idx_c, rows, cols]


def refuse_non_finite(loss: torch.Tensor, step, lr: float) -> None:
    """A classifier whose loss is NaN or infinite has broken weights: it must not be saved nor used as a metric's
    features; :class:`TrainingDiverged` (one line, exit 3) instead."""
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"classifier training diverged at step {step} (loss {loss.item()}): lower the "
                               f"learning rate (now {lr:g})")


@torch.inference_mode()
def accuracy(model: DomainClassifier, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy on uint8 images ``(N, C, H, W)`` with int labels ``(N,)``."""
    probs = model.probs(torch.tensor(images), batch_size)  # a copy: IDX arrays are read-only buffers
    return float((probs.argmax(1).numpy() == labels).mean())


def train_domain_classifier(dataset: ArrayDataset, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                            seed: int = 0, log=print, step_hook: Callable[[str], None] | None = None
                            ) -> tuple[DomainClassifier, dict]:
    """Train on the train split; keep the best epoch on val. Returns ``(model in eval mode, info)`` with
    ``val_accuracy``, ``test_accuracy``, ``epochs``, ``seed``, ``seconds``. ``step_hook(where)``, if given,
    is called after every update (the command's thread governor: ``threads.governed_step_hook``)."""
    if dataset.kind != "image" or dataset.num_classes is None or "train" not in dataset.labels:
        raise UserError(f"dataset {dataset.name}: a domain classifier needs labelled images")
    torch.manual_seed(seed)
    c, h, _ = dataset.shape
    model = DomainClassifier(c, h, dataset.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.5)
    x_train = torch.tensor(dataset.split("train"))  # copies: IDX arrays are read-only buffers
    y_train = torch.tensor(dataset.labels["train"])
    rng = torch.Generator().manual_seed(seed)
    best, best_state, t0 = -1.0, None, time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=rng)
        total = 0.0
        for start in range(0, len(perm), batch_size):
            idx = perm[start:start + batch_size]
            x = random_translate(model.prepare(x_train[idx]), max(1, h // 14), rng)
            loss = F.cross_entropy(model(x), y_train[idx])
            refuse_non_finite(loss, f"{epoch + 1}.{start // batch_size + 1}", lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            if step_hook is not None:
                step_hook(f"epoch {epoch + 1}/{epochs}")
        sched.step()
        val_acc = accuracy(model, dataset.split("val"), dataset.labels["val"])
        log(f"epoch {epoch + 1}/{epochs}  loss {total / len(perm):.4f}  val accuracy {val_acc:.4f}  "
            f"{time.perf_counter() - t0:.0f} s")
        if val_acc > best:
            best, best_state = val_acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    info = {"dataset": dataset.name, "val_accuracy": best,
            "test_accuracy": accuracy(model, dataset.split("test"), dataset.labels["test"]),
            "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "seconds": round(time.perf_counter() - t0, 1)}
    return model, info


def fit_classifier(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, num_classes: int, steps: int,
                   batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                   class_weight: np.ndarray | torch.Tensor | None = None,
                   step_hook: Callable[[str], None] | None = None) -> DomainClassifier:
    """A fresh domain-classifier CNN trained for exactly ``steps`` updates on ``x`` (uint8 images ``(N, C, H,
    W)`` in [0, 255]) with labels ``y (N,)`` in [0, num_classes): the recipe of
    :func:`train_domain_classifier` (Adam at ``lr`` halved every third of the run, random translations), with
    no validation split and a fixed number of updates, so that training sets of different sizes (the arms of
    ``ganforge augment``, CAS's generated and real sets) get the same compute. Minibatches walk seeded
    permutations of the set epoch after epoch. ``class_weight (num_classes,)`` weights each example's
    cross-entropy by its class (the weighted mean, as ``F.cross_entropy(weight=...)``). ``step_hook(where)``,
    if given, is called after every update (the command's thread governor). Returns the model in eval mode."""
    if steps < 1:
        raise UserError(f"classifier steps {steps}: expected an integer >= 1")
    x = torch.as_tensor(np.array(x) if isinstance(x, np.ndarray) else x)
    y = torch.as_tensor(np.asarray(y) if isinstance(y, np.ndarray) else y).long()
    if x.dtype != torch.uint8 or x.ndim != 4 or len(x) != len(y) or len(x) == 0:
        raise UserError(f"classifier training images {tuple(x.shape)} {x.dtype}: expected uint8 (N, C, H, W) "
                        f"with one label each ({len(y)} given)")
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    torch.manual_seed(seed)
    c, h, _ = x.shape[1:]
    model = DomainClassifier(c, h, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 3), gamma=0.5)
    rng = torch.Generator().manual_seed(seed)
    model.train()
    perm, cursor = torch.randperm(len(x), generator=rng), 0
    for step in range(steps):
        if cursor >= len(perm):
            perm, cursor = torch.randperm(len(x), generator=rng), 0
        idx = perm[cursor:cursor + batch_size]
        cursor += batch_size
        xb = random_translate(model.prepare(x[idx]), max(1, h // 14), rng)
        loss = F.cross_entropy(model(xb), y[idx], weight=weight)
        refuse_non_finite(loss, step + 1, lr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step_hook is not None:
            step_hook(f"classifier step {step + 1}/{steps}")
    return model.eval()


@torch.inference_mode()
def predict(model: DomainClassifier, images: np.ndarray | torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes ``(N,)`` int64 of images ``(N, C, H, W)``, uint8 in [0, 255] or float in [0, 1]."""
    x = torch.as_tensor(np.array(images) if isinstance(images, np.ndarray) else images)
    return model.probs(x, batch_size).argmax(1).numpy()
