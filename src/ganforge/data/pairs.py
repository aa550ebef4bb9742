"""Low/high-resolution pairs made on the fly from any image dataset, for super-resolution (``--pairs sr4``).

The dataset keeps its high-resolution images (the targets); each minibatch's low-resolution inputs are made
from them by the degradation of Ledig et al. (2017) and most SR work since: an optional Gaussian blur, a bicubic
downsample by ``scale`` (antialiased, as PIL's and MATLAB's ``imresize`` are), optional additive Gaussian
noise, and rounding to 8-bit levels (a low-resolution image is an image file too). The low-resolution batch
travels in :class:`ganforge.models.Batch`'s ``condition``; the loop never looks inside it.

Determinism: the blur and the downsample are deterministic; the noise of a minibatch is drawn from a generator
seeded by ``(seed, sampler cursor, rank)``, so a resumed run degrades exactly as an uninterrupted one. The
test split is degraded with its own fixed seed (:func:`evaluation_pairs`) and never enters training (the sampler
draws from the train split alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import UserError
from .core import ArrayDataset

#: ``--pairs`` values: bicubic x2 or x4 super-resolution.
PAIR_KINDS = {"sr2": 2, "sr4": 4}
#: The seed that degrades the test split for evaluation (noise only), the same for every run.
TEST_PAIRS_SEED = 20170525


@dataclass(frozen=True)
class PairSpec:
    """How a high-resolution image becomes its low-resolution input: downsampling factor ``scale``, Gaussian
    blur ``blur`` (sigma in high-resolution pixels, 0: none) before it, and noise ``noise`` (standard deviation
    in [0, 1] intensity units, 0: none) after it."""

    scale: int
    blur: float = 0.0
    noise: float = 0.0

    @classmethod
    def parse(cls, pairs: str, blur: float = 0.0, noise: float = 0.0) -> PairSpec:
        if pairs not in PAIR_KINDS:
            raise UserError(f"--pairs {pairs!r}: expected one of {', '.join(PAIR_KINDS)}")
        return cls(PAIR_KINDS[pairs], float(blur), float(noise))

    def low_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(C, H / scale, W / scale)`` of a high-resolution ``(C, H, W)``."""
        c, h, w = shape
        return c, h // self.scale, w // self.scale


def pair_spec(cfg) -> PairSpec | None:
    """The :class:`PairSpec` of a TrainConfig (None without ``--pairs``)."""
    return PairSpec.parse(cfg.pairs, cfg.pair_blur, cfg.pair_noise) if cfg.pairs else None


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Normalised 1-D Gaussian weights ``(2r + 1,)``, ``r = int(truncate * sigma + 0.5)`` (scipy's radius)."""
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return (w / w.sum()).float()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x (N, C, H, W)`` float blurred channel by channel with a separable Gaussian (reflected borders)."""
    k = gaussian_kernel1d(sigma).to(x.device, x.dtype)
    r, c = len(k) // 2, x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect") if r < min(x.shape[-2:]) else F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def bicubic_downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``x (N, C, H, W)`` float in [0, 1] -> ``(N, C, H / scale, W / scale)`` in [0, 1]: antialiased bicubic
    (a = -0.5, the kernel PIL's ``Image.resize(BICUBIC)`` uses)."""
    h, w = x.shape[-2:]
    return F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True,
                         align_corners=False).clamp_(0.0, 1.0)


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic baseline: ``x (N, C, h, w)`` float in [0, 1] -> ``(N, C, h * scale, w * scale)`` in [0, 1]."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)


def degrade(x_high: torch.Tensor, spec: PairSpec, generator: torch.Generator | None = None) -> torch.Tensor:
    """High-resolution ``x_high (N, C, H, W)`` float in [0, 1] -> its low-resolution input ``(N, C, H/s, W/s)``
    float in [0, 1] on 8-bit levels: blur (``spec.blur``), bicubic downsample, noise (``spec.noise``, drawn
    from ``generator`` on the CPU), round to k/255."""
    x = x_high.float()
    if spec.blur > 0:
        x = gaussian_blur(x, spec.blur)
    x = bicubic_downsample(x, spec.scale)
    if spec.noise > 0:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x = x + spec.noise * noise.to(x.device)
    return x.mul(255.0).round_().clamp_(0.0, 255.0).div_(255.0)


class LowResCondition:
    """The data layer's condition for SR pairs: ``condition(x_high, seed)`` maps a minibatch of targets
    ``(m, C, H, W)`` in the model range [-1, 1] to their low-resolution inputs ``(m, C, H/s, W/s)`` in [-1, 1],
    its noise drawn from ``torch.Generator().manual_seed(seed)``."""

    def __init__(self, spec: PairSpec):
        self.spec = spec

    def __call__(self, x_high: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed) if self.spec.noise > 0 else None
        low = degrade(x_high.float().add(1.0).mul_(0.5), self.spec, generator)
        return low.mul_(2.0).sub_(1.0)


#: ``--pair-augment`` values.
PAIR_AUGMENTS = ("none", "dihedral")
#: Mixed into the minibatch seed for the augmentation's draws, so they are not the noise's draws.
AUGMENT_SEED_SALT = 0x5EED_F11B


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element ``k`` (0-7) of the dihedral group of the square applied to images ``x (..., H, W)``: a rotation
    by ``k % 4`` quarter turns (counter-clockwise, ``torch.rot90``), preceded by a left-right flip when
    ``k >= 4``. ``k`` 0 is the identity; odd ``k % 4`` swap H and W."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1)) if k % 4 else x


class DihedralAugment:
    """``--pair-augment dihedral``: ``augment(x, seed)`` maps a minibatch of targets ``(m, C, H, W)`` to the same
    shape, each image by one of the 8 flips and quarter turns (:func:`dihedral`), chosen uniformly by
    ``torch.Generator().manual_seed(seed ^ AUGMENT_SEED_SALT)`` (of the 4 that keep the shape, identity, the
    two flips and the half turn, when H != W). Applied to the targets before their inputs are made from them,
    so every pair stays a pair: the bicubic degradation is symmetric, ``degrade(T(x)) = T(degrade(x))``
    (``tests/test_superres.py``)."""

    def __call__(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed ^ AUGMENT_SEED_SALT)
        square = x.shape[-1] == x.shape[-2]
        choice = torch.randint(8, (len(x),), generator=generator)
        if not square:  # identity, half turn, left-right flip, up-down flip (= flip and half turn)
            choice = torch.tensor((0, 2, 4, 6))[choice % 4]
        out = torch.empty_like(x)
        for k in choice.unique().tolist():
            idx = (choice == k).nonzero().flatten().to(x.device)
            out.index_copy_(0, idx, dihedral(x.index_select(0, idx), k))
        return out


def check_pairable(ds: ArrayDataset, spec: PairSpec) -> None:
    """Images whose side ``scale`` divides, and at least 2 low-resolution pixels a side."""
    if ds.kind != "image":
        raise UserError(f"--pairs: dataset {ds.name} holds points: expected an image dataset")
    h, w = ds.shape[-2:]
    if h % spec.scale or w % spec.scale:
        raise UserError(f"--pairs x{spec.scale}: {ds.name}'s images are {h}x{w}: expected sides divisible by "
                        f"{spec.scale} (choose --image-size, e.g. {max(spec.scale, h // spec.scale * spec.scale)})")
    if min(h, w) // spec.scale < 2:
        raise UserError(f"--pairs x{spec.scale}: {ds.name}'s images are {h}x{w}: expected at least "
                        f"{2 * spec.scale} pixels a side")


def with_pairs(ds: ArrayDataset, pairs: str | None, blur: float = 0.0, noise: float = 0.0,
               augment: str = "none") -> ArrayDataset:
    """``ds`` carrying the SR pairs' :class:`LowResCondition` (``ds.condition``) and, with ``augment``
    ``dihedral``, the training targets' :class:`DihedralAugment` (``ds.augment``); ``ds`` unchanged without
    ``pairs``. The arrays are the high-resolution targets, untouched."""
    if not pairs:
        return ds
    if augment not in PAIR_AUGMENTS:
        raise UserError(f"--pair-augment {augment!r}: expected one of {', '.join(PAIR_AUGMENTS)}")
    spec = PairSpec.parse(pairs, blur, noise)
    check_pairable(ds, spec)
    return ArrayDataset(ds.name, ds.kind, ds.arrays, ds.labels, ds.num_classes, ds.class_names,
                        ds.source + f" (x{spec.scale} pairs)", {**ds.meta, "pairs": spec}, LowResCondition(spec),
                        DihedralAugment() if augment == "dihedral" else None)


def evaluation_pairs(x_high_uint8, spec: PairSpec, seed: int = TEST_PAIRS_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation pairs from uint8 images ``(N, C, H, W)``: ``(low (N, C, H/s, W/s), high (N, C, H, W))`` float
    in [0, 1], the noise seeded by ``seed`` (the same test inputs for every run)."""
    high = torch.as_tensor(x_high_uint8).float().div(255.0)
    generator = torch.Generator().manual_seed(seed) if spec.noise > 0 else None
    return degrade(high, spec, generator), high


def condition_seed(seed: int, cursor: int, rank: int) -> int:
    """The noise seed of one rank's minibatch: a pure function of the run's seed and the sampler's cursor."""
    return (seed * 1_000_003 + cursor * 7919 + rank) % (2 ** 62)
