"""``sgan``: the semi-supervised GAN (Odena 2016; Salimans et al. 2016, "Improved Techniques for Training GANs").

D is a classifier with K outputs l_1..l_K; Salimans et al.'s parametrisation of the K+1-way classifier fixes
the "fake" logit at 0 (no explicit fake class), so p(fake | x) = 1 / (Z(x) + 1) with Z(x) = sum_k exp l_k(x),
and the "real" logit is log Z(x) = logsumexp_k l_k(x). D's loss on each step is
    supervised:   cross-entropy of softmax(l) on a minibatch of the N labelled examples,
    unsupervised: -log Z/(Z+1) on real, log(1+Z) on fake = softplus(-logsumexp l(x_real)) + softplus(logsumexp
                  l(G(z)))   (real vs fake, the GAN part);
G matches D's features: || mean f(x_real) - mean f(G(z)) ||^2, f the layer before the logits.

The N labelled examples (``--labels N``) are drawn once, before the first step, by :meth:`on_train_data`: class
balanced (N split as evenly as the K classes allow), uniformly within each class from a generator seeded by
``--seed``; they are kept in buffers (saved in checkpoints, so resuming keeps them) and repeated: each D step
takes a minibatch from them with replacement. The supervised-only baseline trains on exactly these examples.
Every training example, labelled or not, is also used unlabelled. Without ``--labels`` all labels are used.

Networks (``--sgan-network``):
- ``dcgan``: the DCGAN discriminator's convolutional trunk (without batch norm, whose running statistics would
  mix real and fake batches at test time) with a K-way head, and the DCGAN generator;
- ``mlp``: Salimans et al.'s permutation-invariant MNIST networks. D: Gaussian noise (std 0.3 on inputs in
  [0, 1]), then weight-normalised ReLU layers of 1000, 500, 250, 250, 250 units, each followed by Gaussian noise
  of std 0.5, and a weight-normalised K-way output; G: z -> 500 -> 500 (softplus, batch norm) -> a
  weight-normalised layer to the image, sigmoid (here 2 sigmoid - 1, the model range);
- ``conv``: D is Salimans et al.'s CIFAR-10 discriminator narrowed to 32/64 channels (weight-normalised 3x3
  convolutions, leaky ReLU, dropout 0.2 on the input and 0.5 after each strided block, global mean pooling to
  64 features), G the ``mlp``'s generator.
``--dropout P`` adds dropout after every hidden layer of the ``dcgan`` and ``mlp`` D's, and replaces the
``conv`` D's 0.5. The supervised-only baseline is the same
D network, noise and dropout included (:func:`build_classifier` builds both).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import remedies
from ..config import TrainConfig
from ..data.core import cache_dir, to_model_range
from ..errors import UserError
from ..rundir import atomic_write_text
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


class WeightNormLinear(nn.Module):
    """``y = x W^T + b`` with ``W = g * V / ||V||`` row by row (Salimans & Kingma 2016): the direction ``V
    (out, in)`` and the length ``g (out,)`` of each unit's weight vector are separate. ``x (N, in)``.

    ``train_scale=False`` keeps ``g`` fixed (a buffer, set once by the data-dependent initialisation), as the
    hidden layers of Salimans et al.'s MNIST discriminator (their ``DenseLayer``'s ``train_scale=False``): only
    directions and biases learn. Computed as ``(x V^T) * g / ||V|| + b``, scaling the ``(N, out)`` outputs
    rather than forming the ``(out, in)`` weight on every call (the same function; for the mlp's 784 -> 1000
    layer on 100 rows, a tenth of the elementwise work)."""

    def __init__(self, d_in: int, d_out: int, init_scale: float = 1.0, train_scale: bool = True,
                 init_std: float = 1.0):
        super().__init__()
        self.init_std = init_std  # the outputs' std that the data-dependent initialisation sets
        self.v = nn.Parameter(torch.randn(d_out, d_in) * 0.05)
        scale = torch.full((d_out,), float(init_scale))
        if train_scale:
            self.g = nn.Parameter(scale)
        else:
            self.register_buffer("g", scale)
        self.bias = nn.Parameter(torch.zeros(d_out))

    @property
    def weight(self) -> torch.Tensor:
        return self.g[:, None] * self.v / self.v.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias, F.linear(x, self.v), self.g / self.v.norm(dim=1))


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise to every value while training; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std else x

    def extra_repr(self) -> str:
        return f"std={self.std}"


SALIMANS_D_UNITS = (1000, 500, 250, 250, 250)
SALIMANS_INPUT_NOISE, SALIMANS_HIDDEN_NOISE = 0.3, 0.5
SALIMANS_G_UNITS = (500, 500)


class WeightNormConv2d(nn.Module):
    """A weight-normalised convolution (Salimans & Kingma 2016): each output channel's filter is ``g * V / ||V||``
    and ``g (out,)`` is a buffer fixed by the data-dependent initialisation (as the hidden layers of Salimans et
    al.'s CIFAR-10 discriminator). ``x (N, C_in, H, W)`` -> ``(N, C_out, H', W')``, computed as ``conv(x, V) *
    g / ||V|| + b``. The filters are kept channels-last, which CPU convolutions run ~1.5x faster (a
    channels-last filter makes ``conv2d`` compute in that layout whatever the input's)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        v = torch.randn(c_out, c_in, kernel, kernel) * 0.05
        self.v = nn.Parameter(v.contiguous(memory_format=torch.channels_last))
        self.register_buffer("g", torch.ones(c_out))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.stride, self.padding = stride, padding
        self.init_std = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.v, None, self.stride, self.padding)
        return torch.addcmul(self.bias[:, None, None], y, (self.g / self.v.flatten(1).norm(dim=1))[:, None, None])


class WeightNormClassifier(nn.Module):
    """A discriminator of weight-normalised layers: ``x (N, C, H, W)`` in [-1, 1] -> class logits ``(N, K)``;
    :meth:`features` is ``trunk``'s output ``(N, F)``, the feature-matching layer, and ``head`` maps it to
    the logits. Inputs are mapped to [0, 1] first (the authors' MNIST range, in which their noise levels are set).
    Subclasses build ``trunk`` and ``head``; :meth:`init_from_data` is their shared initialisation."""

    trunk: nn.Sequential
    head: nn.Sequential

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk((x + 1) / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, rng: torch.Generator | None = None) -> None:
        """Salimans & Kingma's data-dependent initialisation: layer by layer on ``x (n, C, H, W)`` in [-1, 1],
        set each weight-normalised layer's g and b so that its pre-activations have mean 0 and standard
        deviation ``layer.init_std`` over ``x`` (and, for a convolution, over positions),
        per unit or channel. The noise (and dropout) layers act as in training, with draws from ``rng``
        (CPU), as in the authors' code (``get_output(..., deterministic=False, init=True)``): the scales then
        count the noise, so each hidden layer's signal keeps the authors' ratio to the fixed noise after it
        (initialised without noise, the signal is larger and the noise regularises less)."""
        h = (x + 1) / 2
        for layer in [*self.trunk, *self.head]:
            if isinstance(layer, (WeightNormLinear, WeightNormConv2d)):
                t = layer(h)
                dims = [d for d in range(t.dim()) if d != 1]
                scale = layer.init_std / (t.std(dims) + 1e-6)
                layer.g.mul_(scale)
                layer.bias.sub_(t.mean(dims)).mul_(scale)
            h = training_noise(layer, h, rng) if isinstance(layer, (GaussianNoise, nn.Dropout)) else layer(h)


class SalimansClassifier(WeightNormClassifier):
    """Salimans et al.'s MNIST discriminator: ``x (N, C, H, W)`` in [-1, 1] -> class logits ``(N, K)``;
    :meth:`features` is the last hidden layer's ``(N, 250)`` (before its noise), the feature-matching layer.

    Inputs in [0, 1] are flattened; ``dropout`` > 0 adds ``nn.Dropout`` after each hidden layer's noise."""

    def __init__(self, data: DataInfo, dropout: float = 0.0):
        super().__init__()
        d_in = int(np.prod(data.shape))
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(SALIMANS_INPUT_NOISE)]
        for i, units in enumerate(SALIMANS_D_UNITS):
            if i:
                layers += [GaussianNoise(SALIMANS_HIDDEN_NOISE)] + ([nn.Dropout(dropout)] if dropout else [])
            layers += [WeightNormLinear(d_in, units, train_scale=False), nn.ReLU()]
            d_in = units
        self.trunk = nn.Sequential(*layers)
        tail = [GaussianNoise(SALIMANS_HIDDEN_NOISE)] + ([nn.Dropout(dropout)] if dropout else [])
        self.head = nn.Sequential(*tail, WeightNormLinear(d_in, data.num_classes))


#: Salimans et al.'s CIFAR-10 discriminator at a third of its width (96/192 -> 32/64 channels) and one 3x3
#: convolution per resolution before each strided one where theirs has two: (out channels, kernel, stride, padding)
#: per weight-normalised convolution, "drop" for their dropout of 0.5 after each strided block
CONV_D_LAYERS = ((32, 3, 1, 1), (32, 3, 2, 1), "drop", (64, 3, 1, 1), (64, 3, 2, 1), "drop",
                 (64, 3, 1, 0), (64, 1, 1, 0), (64, 1, 1, 0))
CONV_INPUT_DROPOUT, CONV_BLOCK_DROPOUT = 0.2, 0.5


class SalimansConvClassifier(WeightNormClassifier):
    """Salimans et al.'s CIFAR-10 discriminator, narrowed (:data:`CONV_D_LAYERS`): ``x (N, C, H, W)`` in [-1, 1]
    -> class logits ``(N, K)``. Dropout 0.2 on the input (in [0, 1]), weight-normalised 3x3 convolutions with
    leaky ReLU (slope 0.2), two of stride 2 each followed by dropout (``dropout`` if > 0, else their 0.5), a 3x3
    convolution without padding and two 1x1 ("network in network") layers, global mean pooling to
    :meth:`features` ``(N, 64)``, the feature-matching layer, then a weight-normalised K-way output whose scale
    learns and starts at 0.1 (their ``init_stdv=0.1``). No Gaussian noise: their CIFAR-10 model has none.
    Not theirs: the width, G (their CIFAR-10 G is convolutional) and G's loss (:func:`feature_matching_loss`,
    their MNIST code's squared distance, where their CIFAR-10 code takes the mean absolute difference)."""

    def __init__(self, data: DataInfo, dropout: float = 0.0):
        super().__init__()
        c_in, size = data.shape[0], data.shape[-1]
        layers: list[nn.Module] = [nn.Dropout(CONV_INPUT_DROPOUT)]
        for spec in CONV_D_LAYERS:
            if spec == "drop":
                layers.append(nn.Dropout(dropout or CONV_BLOCK_DROPOUT))
                continue
            c_out, kernel, stride, padding = spec
            padding = padding if size + 2 * padding >= kernel else (kernel - 1) // 2  # 8x8 digits: 2x2 there
            layers += [WeightNormConv2d(c_in, c_out, kernel, stride, padding), nn.LeakyReLU(0.2)]
            c_in, size = c_out, (size + 2 * padding - kernel) // stride + 1
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(WeightNormLinear(c_in, data.num_classes, init_std=0.1))


def training_noise(layer: nn.Module, h: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
    """What a :class:`GaussianNoise` or ``nn.Dropout`` layer does to ``h`` in training, its draws from ``rng``
    (a CPU generator; the result on ``h``'s device)."""
    if isinstance(layer, GaussianNoise):
        return h + layer.std * torch.randn(h.shape, generator=rng).to(h.device)
    keep = (torch.rand(h.shape, generator=rng) >= layer.p).to(h.device, h.dtype)
    return h * keep / (1 - layer.p)


class SalimansGenerator(nn.Module):
    """Salimans et al.'s MNIST generator: ``z (N, latent_dim)`` -> 500 -> 500 (softplus, batch norm) -> a
    weight-normalised layer -> images ``(N, *shape)`` in [-1, 1] (2 sigmoid - 1, the paper's sigmoid in
    the model range)."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)
        layers: list[nn.Module] = []
        d_in = latent_dim
        for units in SALIMANS_G_UNITS:
            layers += [nn.Linear(d_in, units, bias=False), nn.BatchNorm1d(units), nn.Softplus()]
            d_in = units
        self.net = nn.Sequential(*layers, WeightNormLinear(d_in, int(np.prod(shape))))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (2 * torch.sigmoid(self.net(z)) - 1).view(z.shape[0], *self.shape)


def build_classifier(cfg: TrainConfig, data: DataInfo) -> nn.Module:
    """sgan's discriminator network, which the supervised-only baseline also uses: ``(N, C, H, W)`` in [-1, 1]
    -> ``(N, K)`` logits, with ``.features(x) -> (N, F)``."""
    if cfg.sgan_network == "mlp":
        return SalimansClassifier(data, cfg.dropout)
    if cfg.sgan_network == "conv":
        return SalimansConvClassifier(data, cfg.dropout)
    return ClassifierNetwork(data, cfg.width or 64, cfg.dropout)


INIT_EXAMPLES = 500  # training examples for the mlp's and conv's data-dependent initialisation


def init_classifier(classifier: nn.Module, x: torch.Tensor, rng: torch.Generator) -> None:
    """The data-dependent initialisation of the ``mlp`` and ``conv`` classifiers on up to ``INIT_EXAMPLES`` rows
    of ``x (N, C, H, W)`` (uint8, or float in [-1, 1]) drawn by ``rng``, its noise from a copy of ``rng`` (so what
    ``rng`` draws next, the labelled subset, does not depend on the network); the DCGAN trunk keeps its own
    initialisation."""
    if isinstance(classifier, WeightNormClassifier):
        rows = torch.randperm(len(x), generator=rng)[:INIT_EXAMPLES].to(x.device)
        noise = torch.Generator()
        noise.set_state(rng.get_state())
        classifier.init_from_data(to_model_range(x.index_select(0, rows)), noise)


def build_generator(cfg: TrainConfig, data: DataInfo) -> nn.Module:
    if cfg.sgan_network in ("mlp", "conv"):
        return SalimansGenerator(cfg.latent_dim, data.shape)
    return DCGANGenerator(cfg.latent_dim, data.shape[0], data.shape[-1], cfg.width or 64)


def draw_labelled_subset(y: torch.Tensor, total: int, num_classes: int, rng: torch.Generator) -> torch.Tensor:
    """Indices ``(total,)`` into ``y (N,)``: ``class_quota(total, K)[c]`` examples of each class c, drawn
    uniformly without replacement within the class from ``rng``; sorted by class, then by draw."""
    picked = []
    for c, quota in enumerate(class_quota(total, num_classes).tolist()):
        members = (y.cpu() == c).nonzero().flatten()
        if len(members) < quota:
            raise UserError(f"config value labels={total} is invalid: class {c} has only {len(members)} "
                            "training examples")
        picked.append(members[torch.randperm(len(members), generator=rng)[:quota]])
    return torch.cat(picked)


def class_quota(total: int, num_classes: int) -> torch.Tensor:
    """How many labelled examples of each class: ``total`` split as evenly as possible, ``(K,)`` int64."""
    return torch.tensor([total // num_classes + (c < total % num_classes) for c in range(num_classes)])


def unsupervised_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The GAN part of D's loss with real logit log Z = logsumexp_k l_k: (-log D(x) - log(1 - D(G(z)))) / 2,
    the mean of the two terms, as in Salimans et al.'s code (``loss_unl``; its weight against the supervised
    cross-entropy is 1/2)."""
    return 0.5 * (F.softplus(-torch.logsumexp(logits_real, 1)).mean()
                  + F.softplus(torch.logsumexp(logits_fake, 1)).mean())


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
        self.discriminator = build_classifier(cfg, data)
        self.generator = build_generator(cfg, data)
        # --d-ema: a weight average of D that eval mode classifies with (remedies.update_debiased_average_)
        self.discriminator_average = (copy.deepcopy(self.discriminator).requires_grad_(False) if cfg.d_ema
                                      else None)
        if cfg.d_ema:
            self.register_buffer("average_updates", torch.zeros((), dtype=torch.int64))
        n = cfg.labels or 0
        self.register_buffer("labelled_x", torch.zeros(n, *data.shape))
        self.register_buffer("labelled_y", torch.full((n,), -1, dtype=torch.int64))
        self.register_buffer("quota", class_quota(n, k) if n else torch.zeros(k, dtype=torch.int64))

    # ------------------------------------------------------------------ the labelled subset
    @property
    def num_labelled(self) -> int:
        return int((self.labelled_y >= 0).sum())

    @torch.no_grad()
    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        """Before the first step: the ``mlp`` D's data-dependent initialisation (:func:`init_classifier`), then the
        N labelled examples, drawn once (class-balanced, seeded by ``rng``): :func:`draw_labelled_subset`."""
        init_classifier(self.discriminator, x, rng)
        n = len(self.labelled_y)
        if n == 0:
            return
        idx = draw_labelled_subset(y, n, len(self.quota), rng).to(x.device)
        self.labelled_x.copy_(to_model_range(x.index_select(0, idx)))
        self.labelled_y.copy_(y.index_select(0, idx))

    def labelled_minibatch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """A minibatch of labelled examples: from the kept subset (drawn with replacement), or the real batch
        itself when every label is known (no ``--labels``)."""
        if len(self.labelled_y) == 0:
            return batch.x_real, batch.y_real
        if self.num_labelled < len(self.labelled_y):
            raise RuntimeError("sgan: the labelled subset was never drawn (on_train_data was not called)")
        idx = torch.randint(self.num_labelled, (len(batch.x_real),), device=self.labelled_y.device)
        return self.labelled_x[idx], self.labelled_y[idx]

    # ------------------------------------------------------------------ phases
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, K)`` for images ``x (N, C, H, W)`` in [-1, 1]: from D, or in eval mode from D's
        weight average when the run keeps one (``--d-ema``)."""
        if self.discriminator_average is not None and not self.training:
            return self.discriminator_average(x)
        return self.discriminator(x)

    def after_iteration(self) -> None:
        """After each iteration: G's average (``--g-ema``, if any), then D's (``--d-ema``)."""
        super().after_iteration()
        if self.discriminator_average is not None:
            self.average_updates += 1
            remedies.update_debiased_average_(self.discriminator_average, self.discriminator,
                                              int(self.average_updates),
                                              remedies.ema_decay(self.cfg.d_ema, self.global_batch))

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
    return {"accuracy": head_accuracy(model, x, y), "labels": len(model.labelled_y) or len(dataset)}


def head_accuracy(model: SemiSupervisedGAN, x_uint8: torch.Tensor, y: torch.Tensor) -> float:
    """Share of ``x_uint8 (N, C, H, W)`` that D's class head (eval mode: no noise, no dropout) gets right."""
    was_training = model.training
    model.eval()
    try:
        return classifier_accuracy(model.classify, x_uint8, y, model.device)
    finally:
        model.train(was_training)


#: validation images ``val_accuracy`` scores D's class head on (the baseline's lr sweep uses the same ones)
VAL_EXAMPLES = 2000


def _labelled_split(dataset, split: str, n: int | None = None,
                    what: str = "supervised baseline") -> tuple[torch.Tensor, torch.Tensor]:
    x, y = dataset.split(split), dataset.labels.get(split)
    if y is None:
        raise UserError(f"{what}: dataset {dataset.name} has no {split} labels")
    n = len(x) if n is None else min(n, len(x))
    return torch.from_numpy(np.array(x[:n])), torch.from_numpy(y[:n])


def train_supervised_classifier(cfg: TrainConfig, data: DataInfo, x_lab: torch.Tensor, y_lab: torch.Tensor,
                                steps: int, lr: float, seed: int, visit_every: int = 0,
                                visit: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """:func:`build_classifier` (sgan's D network, noise and dropout included) trained by Adam with ``lr``
    (the run's betas) for ``steps`` minibatches of ``cfg.batch_size`` drawn with replacement from ``x_lab
    (n, C, H, W)`` in [-1, 1], ``y_lab (n,)``; cross-entropy only. Returned in eval mode; with ``--d-ema``, the
    weight average kept as sgan keeps D's (the same half-life), so both are judged alike.

    ``visit(t, network)`` is called after update ``t`` for every multiple of ``visit_every`` (if > 0) and after
    the last update, with the network that would be returned, in eval mode (it draws no random numbers there,
    so visiting leaves the training itself unchanged)."""
    device = x_lab.device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = build_classifier(cfg, data).to(device)
        init_classifier(classifier, x_lab, torch.Generator().manual_seed(seed))
        optimizer = torch.optim.Adam(classifier.parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2))
        average = copy.deepcopy(classifier).requires_grad_(False) if cfg.d_ema else None
        beta = remedies.ema_decay(cfg.d_ema, cfg.batch_size) if cfg.d_ema else 0.0
        result = average if average is not None else classifier
        classifier.train()
        with torch.enable_grad():
            for t in range(1, steps + 1):
                idx = torch.randint(len(y_lab), (cfg.batch_size,)).to(device)
                loss = F.cross_entropy(classifier(x_lab[idx]), y_lab[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if average is not None:
                    remedies.update_debiased_average_(average, classifier, t, beta)
                if visit is not None and (t == steps or (visit_every and t % visit_every == 0)):
                    visit(t, result.eval())
                    classifier.train()
    return result.eval()


def baseline_cache_path(cfg: TrainConfig, tensors: tuple[torch.Tensor, ...], steps: int,
                        lrs: tuple[float, ...], seed: int, device: torch.device, select_every: int = 0) -> Path:
    """Where a supervised-only baseline's result is kept: ``$GANFORGE_CACHE/sgan-baseline/<key>.json``, the key
    hashing everything the result depends on (the run's whole config, the labelled, validation and test
    tensors' content, the updates, the lrs, the seed, how often the state was chosen on validation, the device
    type and the torch version), so a changed input never serves a stale figure."""
    h = hashlib.sha256(repr((sorted(cfg.to_dict().items()), steps, tuple(lrs), seed, torch.device(device).type,
                             torch.__version__, "select_every", select_every)).encode())
    for t in tensors:
        h.update(repr((tuple(t.shape), str(t.dtype))).encode())
        h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
    return cache_dir() / "sgan-baseline" / f"{h.hexdigest()[:24]}.json"


def _read_baseline(path: Path) -> dict | None:
    try:
        result = json.loads(path.read_text())
        result["sweep"] = {float(lr): acc for lr, acc in result["sweep"].items()}
        return result
    except (OSError, ValueError, KeyError, AttributeError):
        return None  # absent or damaged: recomputed and overwritten


def _write_baseline(path: Path, result: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({**result, "sweep": {repr(lr): acc for lr, acc in result["sweep"].items()}}))
    except OSError:
        pass  # a read-only cache is no reason to fail


def baseline_select_every(cfg: TrainConfig) -> int:
    """Updates between the baseline's validation checks: as often as the run's ``--eval-every`` chose sgan's
    best.pt (``eval_every * k_disc`` D updates) when it kept one by ``val_accuracy``, else 0 (its last state)."""
    return cfg.eval_every * cfg.k_disc if cfg.keep_best == "val_accuracy" and cfg.eval_every else 0


def supervised_baseline_accuracy(run, dataset, steps: int | None = None, seed: int = 0,
                                 lrs: tuple[float, ...] | None = None, val_n: int = VAL_EXAMPLES,
                                 use_cache: bool = True, select_every: int | None = None,
                                 log: Callable[[str], None] | None = None) -> dict:
    """The same classifier network (:func:`build_classifier`, the same noise and dropout) trained on the run's
    N labelled examples alone, and its test accuracy: the "CNN" column of Odena's table beside ``sgan``'s.

    Chosen on validation exactly as the run chose sgan's checkpoint: the network is scored on the first
    ``val_n`` examples of the validation split (which neither network trains on) every ``select_every``
    updates and after the last (default :func:`baseline_select_every`: the run's ``--keep-best val_accuracy``
    cadence, or the last state only when the run kept none), for each learning rate of a small sweep (``lrs``;
    default the run's lr and a factor 3 either side), and the (lr, update) with the best validation accuracy
    gives the test accuracy (on a tie the first scored, the lrs in sweep order and each one's updates in
    order: ``--keep-best`` too keeps the first of equal scores). ``steps`` defaults to as many updates
    as the run's discriminator took (``steps * k_disc``; 2,000 when the run was given in epochs). Returns
    ``{"accuracy", "labels", "steps", "lr", "update", "val_accuracy", "sweep": {lr: best val accuracy},
    "select_every", "cached"}``. The sweep trains ``len(lrs)`` networks (minutes on a CPU), so with
    ``use_cache`` the result is kept under :func:`baseline_cache_path` and a second evaluation of the same run
    reads it (``cached`` True). ``log``, when given, hears one line as each learning rate's training ends."""
    model = _sgan_model(run, "supervised baseline")
    if len(model.labelled_y) == 0:
        raise UserError("supervised baseline: the sgan run used every label (no --labels N): nothing to compare")
    cfg = model.cfg
    steps = steps or (cfg.steps * cfg.k_disc if cfg.steps else 2000)
    lrs = lrs or (cfg.resolved_lr / 3, cfg.resolved_lr, cfg.resolved_lr * 3)
    select_every = baseline_select_every(cfg) if select_every is None else select_every
    device = model.device
    n = model.num_labelled
    x_lab, y_lab = model.labelled_x[:n], model.labelled_y[:n]
    x_val, y_val = _labelled_split(dataset, "val", val_n)
    x, y = _test_split(dataset)
    cache = baseline_cache_path(cfg, (x_lab, y_lab, x_val, y_val, x, y), steps, lrs, seed, device, select_every)
    if use_cache and (cached := _read_baseline(cache)) is not None:
        return {**cached, "cached": True}
    sweep: dict[float, float] = {}
    best: dict = {"val_accuracy": -1.0}
    for lr in lrs:
        def visit(t: int, network: nn.Module, lr: float = lr) -> None:
            accuracy = classifier_accuracy(network, x_val, y_val, device)
            sweep[lr] = max(sweep.get(lr, -1.0), accuracy)
            if accuracy > best["val_accuracy"]:
                best.update(val_accuracy=accuracy, lr=lr, update=t, network=copy.deepcopy(network))

        started = time.perf_counter()
        train_supervised_classifier(cfg, model.data, x_lab, y_lab, steps, lr, seed, select_every, visit)
        if log is not None:
            log(f"supervised-only baseline: lr {lr:.0e} ({len(sweep)}/{len(lrs)}) trained, {steps} updates in "
                f"{time.perf_counter() - started:.0f} s, best validation accuracy {sweep[lr]:.4f}")
    result = {"accuracy": classifier_accuracy(best["network"], x, y, device), "labels": n, "steps": steps,
              "lr": best["lr"], "update": best["update"], "val_accuracy": best["val_accuracy"], "sweep": sweep,
              "select_every": select_every}
    if use_cache:
        _write_baseline(cache, result)
    return {**result, "cached": False}


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
            baseline = supervised_baseline_accuracy(ctx.model, ctx.dataset, seed=ctx.seed, use_cache=ctx.use_cache,
                                                    log=ctx.log)
            if ctx.log is not None:
                how = "read from the cache" if baseline["cached"] else "trained"
                chosen = (f", chosen on validation every {baseline['select_every']} updates: lr "
                          f"{baseline['lr']:.0e} after {baseline['update']}" if baseline["select_every"] else "")
                ctx.log(f"accuracy: supervised-only baseline {how} ({baseline['steps']} updates at each of "
                        f"{len(baseline['sweep'])} learning rates{chosen})")
            values.update(accuracy_supervised_only=baseline["accuracy"], labels=baseline["labels"])
            ctx.notes["supervised_only"] = {  # eval.json: which baseline the figure is (lr, update, seed)
                **{key: baseline[key] for key in ("lr", "update", "steps", "select_every", "val_accuracy")},
                "seed": ctx.seed}
        return values

    @register_metric("val_accuracy", "sgan: accuracy of D's class head on the first 2,000 validation images "
                                     "(no baseline trained: cheap enough for --eval-every and --keep-best)")
    def val_accuracy(ctx) -> dict[str, float]:
        if ctx.model is None:
            raise UserError("val_accuracy: needs an sgan run (held-out real data has no classifier to test)")
        x, y = _labelled_split(ctx.dataset, "val", VAL_EXAMPLES, "val_accuracy")
        return {"val_accuracy": head_accuracy(_sgan_model(ctx.model, "val_accuracy"), x, y)}


_register_accuracy_metric()

__all__ = ["SemiSupervisedGAN", "build_classifier", "sgan_test_accuracy", "supervised_baseline_accuracy"]
