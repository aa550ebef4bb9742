"""``sgan``: the semi-supervised GAN (Odena 2016) with feature matching (Salimans et al. 2016).

D is a classifier with K outputs l_1..l_K; Salimans et al.'s parametrisation of the K+1-way classifier fixes
the "fake" logit at 0, so p(fake | x) = 1 / (Z(x) + 1) with Z(x) = sum_k exp l_k(x), and the "real" logit
is log Z(x) = logsumexp_k l_k(x). D's loss on each step is
    supervised:   cross-entropy of softmax(l) on a minibatch of the N labelled examples,
    unsupervised: softplus(-logsumexp l(x_real)) + softplus(logsumexp l(G(z)))   (real vs fake, the GAN part);
G matches D's features: || mean f(x_real) - mean f(G(z)) ||^2, f the layer before the logits.

The N labelled examples (``--labels N``, class-balanced) are the first ones of each class that the shared loop
hands to the model: the minibatch order is fixed by ``--seed``, so the subset is deterministic, and it is kept
in buffers (saved in checkpoints) so that the supervised-only baseline can train on exactly the same examples.
Every training example, labelled or not, is also used unlabelled. Without ``--labels`` all labels are used.

Networks: the DCGAN discriminator's convolutional trunk (without batch norm, whose running statistics would mix
real and fake batches at test time; with ``--dropout P`` after each hidden layer) with a K-way head, and the
DCGAN generator. The supervised-only baseline is the same network, dropout included.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model, split_last_layer, without_batch_norm
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .wgan import refuse_unused_options


class ClassifierNetwork(nn.Module):
    """``x (N, C, H, W)`` in [-1, 1] -> class logits ``(N, K)``; :meth:`features` is the trunk's ``(N, F)``.

    ``dropout`` > 0 puts ``nn.Dropout(dropout)`` after every hidden activation (Salimans et al.'s discriminators
    are regularised this way; with 25-100 labels an unregularised head memorises them within an epoch)."""

    def __init__(self, data: DataInfo, width: int, dropout: float = 0.0):
        super().__init__()
        channels, size = data.shape[0], data.shape[-1]
        # the conv to one logit is replaced by a K-way linear head on the flattened features
        body, _, feature_dim = split_last_layer(without_batch_norm(DCGANDiscriminator(channels, size, width)).net,
                                                data.shape)
        layers: list[nn.Module] = []
        for layer in body:
            layers.append(layer)
            if dropout and isinstance(layer, nn.LeakyReLU):
                layers.append(nn.Dropout(dropout))
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(feature_dim, data.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def class_quota(total: int, num_classes: int) -> torch.Tensor:
    """How many labelled examples of each class: ``total`` split as evenly as possible, ``(K,)`` int64."""
    return torch.tensor([total // num_classes + (c < total % num_classes) for c in range(num_classes)])


def unsupervised_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The GAN part of D's loss with real logit log Z = logsumexp_k l_k: -log D(x) - log(1 - D(G(z)))."""
    return F.softplus(-torch.logsumexp(logits_real, 1)).mean() + F.softplus(torch.logsumexp(logits_fake, 1)).mean()


def feature_matching_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """|| mean_x f(x) - mean_z f(G(z)) ||_2^2 over a minibatch of each (Salimans et al. 2016, section 3.1)."""
    return (features_real.mean(0) - features_fake.mean(0)).square().sum()


class SemiSupervisedGAN(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "sgan")
        if data.kind != "image" or not data.num_classes:
            raise UserError(f"model sgan needs labelled images: {cfg.data} has none "
                            "(use digits, mnist, fashion-mnist or cifar10)")
        k = data.num_classes
        if cfg.labels is not None and cfg.labels < k:
            raise UserError(f"config value labels={cfg.labels} is invalid: expected at least one per class ({k})")
        width = cfg.width or 64
        self.discriminator = ClassifierNetwork(data, width, cfg.dropout)
        self.generator = DCGANGenerator(cfg.latent_dim, data.shape[0], data.shape[-1], width)
        n = cfg.labels or 0
        self.register_buffer("labelled_x", torch.zeros(n, *data.shape))
        self.register_buffer("labelled_y", torch.full((n,), -1, dtype=torch.int64))
        self.register_buffer("quota", class_quota(n, k) if n else torch.zeros(k, dtype=torch.int64))

    # ------------------------------------------------------------------ the labelled subset
    @property
    def num_labelled(self) -> int:
        return int((self.labelled_y >= 0).sum())

    @torch.no_grad()
    def remember_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Keep the first examples of each class until every class has its quota (no-op once full)."""
        n = len(self.labelled_y)
        filled = self.num_labelled
        if filled == n:
            return
        have = torch.bincount(self.labelled_y[:filled], minlength=len(self.quota))
        for xi, yi in zip(x, y.tolist(), strict=True):
            if have[yi] < self.quota[yi]:
                self.labelled_x[filled], self.labelled_y[filled] = xi, yi
                have[yi] += 1
                filled += 1
                if filled == n:
                    break

    def labelled_minibatch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """A minibatch of labelled examples: from the kept subset (drawn with replacement), or the real batch
        itself when every label is known (no ``--labels``)."""
        if len(self.labelled_y) == 0:
            return batch.x_real, batch.y_real
        self.remember_labelled(batch.x_real, batch.y_real)
        idx = torch.randint(self.num_labelled, (len(batch.x_real),), device=self.labelled_y.device)
        return self.labelled_x[idx], self.labelled_y[idx]

    # ------------------------------------------------------------------ phases
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, K)`` for images ``x (N, C, H, W)`` in [-1, 1]."""
        return self.discriminator(x)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_lab, y_lab = self.labelled_minibatch(batch)
        logits_lab = self.discriminator(x_lab)  # (m, K)
        supervised = F.cross_entropy(logits_lab, y_lab)
        logits_real = self.discriminator(batch.x_real)
        logits_fake = self.discriminator(self.generate(batch.latent))
        unsupervised = unsupervised_d_loss(logits_real, logits_fake)
        return supervised + unsupervised, {
            "D/supervised": supervised, "D/unsupervised": unsupervised,
            "D/train_accuracy": (logits_lab.argmax(1) == y_lab).float().mean(),
            "D/real": torch.sigmoid(torch.logsumexp(logits_real, 1)).mean(),
            "D/fake": torch.sigmoid(torch.logsumexp(logits_fake, 1)).mean()}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features_real = self.discriminator.features(batch.x_real).detach()
        features_fake = self.discriminator.features(self.generate(batch.latent))
        return feature_matching_loss(features_real, features_fake), {}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.g_loss, list(self.generator.parameters()))]  # G needs real features


register_model(ModelSpec("sgan", "Odena 2016 / Salimans et al. 2016: semi-supervised GAN, D a K+1-way classifier "
                                 "trained on --labels N examples plus all unlabelled data; G matches D's features",
                         SemiSupervisedGAN, ("image",)))


# ---------------------------------------------------------------------- accuracy (ganforge eval --metrics accuracy)
def _test_split(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    x = dataset.split("test")
    y = dataset.labels.get("test")
    if y is None:
        raise UserError(f"accuracy: dataset {dataset.name} has no test labels")
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


@torch.no_grad()
def classifier_accuracy(classify, x_uint8: torch.Tensor, y: torch.Tensor, device: torch.device,
                        batch_size: int = 1000) -> float:
    """Share of ``x_uint8 (N, C, H, W)`` whose argmax of ``classify(x in [-1, 1])`` equals ``y (N,)``."""
    correct = 0
    for start in range(0, len(x_uint8), batch_size):
        x = x_uint8[start:start + batch_size].to(device).float().div(127.5).sub(1.0)
        correct += int((classify(x).argmax(1).cpu() == y[start:start + batch_size]).sum())
    return correct / len(x_uint8)


def _sgan_model(run_or_model, what: str) -> SemiSupervisedGAN:
    model = getattr(run_or_model, "model", run_or_model)  # a LoadedRun or the GANModel itself
    if not isinstance(model, SemiSupervisedGAN):
        name = getattr(getattr(model, "cfg", None), "model", type(model).__name__)
        raise UserError(f"{what}: the run is a {name} run, expected sgan (a discriminator with a class head)")
    return model


def sgan_test_accuracy(run, dataset) -> dict:
    """Test accuracy of a trained ``sgan``'s discriminator used as a K-way classifier.

    ``run``: a :class:`ganforge.run.LoadedRun` (or the model); ``dataset``: its :class:`ArrayDataset`. Returns
    ``{"accuracy": float in [0, 1], "labels": N labelled examples used (the training split's size without
    --labels)}``."""
    model = _sgan_model(run, "accuracy")
    x, y = _test_split(dataset)
    was_training = model.training
    model.eval()
    try:
        accuracy = classifier_accuracy(model.classify, x, y, model.device)
    finally:
        model.train(was_training)
    return {"accuracy": accuracy, "labels": len(model.labelled_y) or len(dataset)}


def supervised_baseline_accuracy(run, dataset, steps: int | None = None, seed: int = 0) -> dict:
    """The same classifier network trained on the run's N labelled examples alone (cross-entropy, the run's
    optimiser settings), and its test accuracy: the "CNN" column of Odena's table beside the ``sgan`` one.

    ``steps`` defaults to as many updates as the run's discriminator took (``steps * k_disc``; 2,000 when the
    run was given in epochs), on minibatches of the run's size drawn from the N examples with replacement.
    Returns ``{"accuracy", "labels", "steps"}``."""
    model = _sgan_model(run, "supervised baseline")
    if len(model.labelled_y) == 0:
        raise UserError("supervised baseline: the sgan run used every label (no --labels N): nothing to compare")
    cfg = model.cfg
    steps = steps or (cfg.steps * cfg.k_disc if cfg.steps else 2000)
    device = model.device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = ClassifierNetwork(model.data, cfg.width or 64, cfg.dropout).to(device)
        optimizer = torch.optim.Adam(classifier.parameters(), lr=cfg.resolved_lr, betas=(cfg.beta1, cfg.beta2))
        n = model.num_labelled
        x_lab, y_lab = model.labelled_x[:n], model.labelled_y[:n]
        classifier.train()
        with torch.enable_grad():
            for _ in range(steps):
                idx = torch.randint(n, (cfg.batch_size,)).to(device)
                loss = F.cross_entropy(classifier(x_lab[idx]), y_lab[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    classifier.eval()
    x, y = _test_split(dataset)
    return {"accuracy": classifier_accuracy(classifier, x, y, device), "labels": n, "steps": steps}


def _register_accuracy_metric() -> None:
    """``ganforge eval --metrics accuracy``: sgan's test accuracy beside the supervised-only baseline."""
    from ..metrics.evaluate import register_metric

    @register_metric("accuracy", "sgan: test accuracy of D's class head, and of the same network trained on "
                                 "the N labelled examples alone (accuracy_supervised_only)")
    def accuracy(ctx) -> dict[str, float]:
        if ctx.model is None:
            raise UserError("accuracy: needs an sgan run (held-out real data has no classifier to test)")
        values = {"accuracy": sgan_test_accuracy(ctx.model, ctx.dataset)["accuracy"]}
        if len(_sgan_model(ctx.model, "accuracy").labelled_y):
            baseline = supervised_baseline_accuracy(ctx.model, ctx.dataset, seed=ctx.seed)
            values.update(accuracy_supervised_only=baseline["accuracy"], labels=baseline["labels"])
        return values


_register_accuracy_metric()

__all__ = ["SemiSupervisedGAN", "sgan_test_accuracy", "supervised_baseline_accuracy"]
