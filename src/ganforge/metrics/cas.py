"""Classification Accuracy Score (Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional
Generative Models"): train a classifier on a conditional model's samples alone, labelled with the class each
was asked for, and measure its accuracy on real test images. Printed beside the same classifier trained on
as many real training images (the score a perfect generator approaches).

Here the classifier is the domain CNN (``ganforge.features.domain``), trained from scratch by
:func:`ganforge.features.train.fit_classifier` for :data:`CAS_EPOCHS` passes over ``per_class`` images of
each class; the paper trains a ResNet-50 on ImageNet-sized sets, so read the numbers against ``cas_real``,
not against the paper's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..errors import UserError

#: passes over the (generated or real) training set
CAS_EPOCHS = 5
BATCH_SIZE = 128

#: ``sample_class(c, n, rng) -> images (n, C, H, W)``, float in [0, 1] or uint8 in [0, 255]
ClassSampler = Callable[[int, int, torch.Generator], torch.Tensor]


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Images float in [0, 1] (or already uint8) -> uint8 in [0, 255], as saved as image files."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x.numpy()
    return x.float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).numpy()


def balanced_real_subset(labels: np.ndarray, num_classes: int, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of each class (chosen with ``seed``)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise UserError(f"cas: {per_class} real training images per class asked, class {c} has only "
                            f"{len(members)} (lower --n)")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def classification_accuracy_score(sample_class: ClassSampler, x_train: np.ndarray, y_train: np.ndarray,
                                  x_test: np.ndarray, y_test: np.ndarray, num_classes: int, per_class: int,
                                  seed: int = 0, epochs: float = CAS_EPOCHS) -> dict[str, float]:
    """``cas``: test accuracy of the classifier trained on ``per_class`` samples of every class from
    ``sample_class``; ``cas_real``: the same classifier (same updates, seed) trained on ``per_class`` real
    training images of every class; ``cas_per_class_min``: the generated-trained classifier's lowest recall of
    one class. ``x_*`` uint8 ``(N, C, H, W)``, ``y_*`` int ``(N,)``. Both in [0, 1]; chance is 1/K."""
    from ..features.train import fit_classifier, predict

    if per_class < 1:
        raise UserError(f"cas: {per_class} images per class: expected at least 1 (raise --n)")
    rng = torch.Generator().manual_seed(seed)
    x_gen = np.concatenate([to_uint8(sample_class(c, per_class, rng)) for c in range(num_classes)])
    y_gen = np.repeat(np.arange(num_classes), per_class)
    real = balanced_real_subset(y_train, num_classes, per_class, seed)
    steps = max(1, math.ceil(epochs * num_classes * per_class / BATCH_SIZE))
    pred_gen = predict(fit_classifier(x_gen, y_gen, num_classes, steps, BATCH_SIZE, seed=seed), x_test)
    pred_real = predict(fit_classifier(x_train[real], y_train[real], num_classes, steps, BATCH_SIZE, seed=seed),
                        x_test)
    recalls = [float((pred_gen[y_test == c] == c).mean()) for c in range(num_classes) if (y_test == c).any()]
    return {"cas": float((pred_gen == y_test).mean()), "cas_real": float((pred_real == y_test).mean()),
            "cas_per_class_min": min(recalls), "cas_images_per_class": per_class}


def model_class_sampler(model) -> ClassSampler:
    """A conditional GANModel's ``latent_for_labels`` as a :data:`ClassSampler` (eval mode, in batches)."""
    from ..data import to_data_range

    def sample_class(c: int, n: int, rng: torch.Generator) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = [to_data_range(model.generate(model.latent_for_labels(
                    torch.full((min(1000, n - s),), c, dtype=torch.int64), rng)), "image").cpu()
                    for s in range(0, n, 1000)]
        finally:
            model.train(was_training)
        return torch.cat(out)

    return sample_class


def _register() -> None:
    from .evaluate import register_metric

    @register_metric("cas", "conditional runs (cgan): Classification Accuracy Score, test accuracy of a classifier "
                            "trained on n/K samples per class, beside the same trained on as many real images")
    def cas(ctx) -> dict[str, float]:
        model = ctx.model
        if model is None or not hasattr(model, "latent_for_labels"):
            name = getattr(getattr(model, "cfg", None), "model", type(model).__name__)
            what = "held-out real data" if model is None else f"a {name} run"
            raise UserError(f"metric cas: {what} draws no class it is asked for: expected a conditional run "
                            "(cgan: --conditioning concat, projection or auxiliary)")
        ds = ctx.dataset
        if ds.kind != "image" or not ds.num_classes or "test" not in ds.labels:
            raise UserError(f"metric cas: {ds.name}: expected labelled images with a test split")
        per_class = ctx.n // ds.num_classes
        if ctx.log:
            ctx.log(f"cas: two classifiers, {per_class:,} generated / real images per class, {CAS_EPOCHS} epochs")
        return classification_accuracy_score(model_class_sampler(model), ds.split("train"), ds.labels["train"],
                                             ds.split("test"), ds.labels["test"], ds.num_classes, per_class,
                                             seed=ctx.seed)


_register()
