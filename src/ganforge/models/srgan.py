"""``srresnet`` and ``srgan``: single-image super-resolution of Ledig et al. (2017), on ``--pairs sr2|sr4`` data.

The generator (SRResNet) maps a low-resolution image ``(N, C, H/s, W/s)`` in [-1, 1] to ``(N, C, H, W)``:
a 9x9 convolution and PReLU, ``sr_blocks`` residual blocks (conv3x3, batch norm, PReLU, conv3x3, batch norm,
plus the block's input), a conv3x3 and batch norm added to the first layer's output (the long skip), then
log2(s) sub-pixel upsampling steps (conv3x3 to 4x the channels, :func:`pixel_shuffle` by 2, PReLU; Shi et al.
2016) and a 9x9 convolution to C channels. The output is linear (the loss and the metrics see it clamped to
the image range only when saved).

- ``srresnet``: one phase, G minimises the pixel MSE to the high-resolution image (the PSNR-oriented model).
- ``srgan``: G starts from an SRResNet run (``--init-from RUN``) and minimises the perceptual loss
  ``content + adversarial_weight * adversarial`` (1e-3 in the paper); the content loss is the MSE between the
  feature maps of a fixed network (here the dataset's shipped domain classifier's last convolutional block,
  ``ganforge.features.domain``, or a user's ``--content-features`` weights file, or for colour photos
  ``--content-features inception[:PATH]``, the FID Inception-v3's first five convolutions; the paper's VGG19
  plays this role for photos). D is the paper's: conv3x3 blocks with leaky ReLU, stride 2 every second block, batch norm
  after the first, then dense 1024, leaky ReLU, dense 1, trained with the chosen objective (nonsaturating).

The low-resolution input of each training minibatch comes from the data layer in ``Batch.condition``
(``ganforge.data.pairs``). For sample grids and ``LoadedRun.sample`` a model keeps 64 fixed low-resolution
training inputs (``inputs``, drawn once in :meth:`on_train_data`); ``sample_latent`` draws among them, so a
"latent" of these models is a low-resolution image and ``generate(latent)`` its super-resolved version.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..data.pairs import PairSpec, degrade, pair_spec
from ..errors import UserError
from .base import (
    AdversarialGAN,
    Batch,
    DataInfo,
    GANModel,
    ModelSpec,
    Phase,
    refuse_remedies,
    register_model,
    resolved_penalty,
)
from .wgan import refuse_prior, refuse_unused_options

#: Low-resolution training inputs a model keeps for its sample grids (the loop draws 64).
NUM_KEPT_INPUTS = 64
#: Smallest image side Inception's stem (two 3x3 convolutions, one of stride 2, a 3x3 max pool, a 3x3
#: convolution) maps to at least one pixel.
INCEPTION_STEM_MIN_SIZE = 19


def pixel_shuffle(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sub-pixel rearrangement (Shi et al. 2016): ``(N, C r^2, H, W) -> (N, C, H r, W r)``, input channel
    ``c r^2 + i r + j`` becoming output pixel ``(h r + i, w r + j)`` of channel c (torch's ``pixel_shuffle``)."""
    n, cr2, h, w = x.shape
    c = cr2 // (r * r)
    return x.reshape(n, c, r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, h * r, w * r)


def icnr_(conv: nn.Conv2d, r: int = 2) -> None:
    """ICNR initialisation (Aitken et al. 2017) of a convolution feeding :func:`pixel_shuffle` by ``r``: its
    ``C r^2`` output channels are ``r^2`` copies of a ``C``-channel convolution initialised as PyTorch does
    (output channel ``c r^2 + k`` = sub-kernel ``c``), so conv then shuffle equals that convolution followed by
    nearest-neighbour upsampling by ``r``: no checkerboard at the start."""
    c_out, c_in, kh, kw = conv.weight.shape
    base = nn.Conv2d(c_in, c_out // (r * r), (kh, kw), bias=conv.bias is not None)  # PyTorch's initialisation
    with torch.no_grad():
        conv.weight.copy_(base.weight.repeat_interleave(r * r, dim=0))
        if conv.bias is not None:
            conv.bias.copy_(base.bias.repeat_interleave(r * r, dim=0))


class SubPixelUpsample(nn.Module):
    """``(N, width, H, W) -> (N, width, 2H, 2W)``: conv3x3 to 4 width channels, :func:`pixel_shuffle` by 2,
    PReLU; ``init`` ``icnr`` starts it at nearest-neighbour upsampling (:func:`icnr_`)."""

    def __init__(self, width: int, init: str = "default"):
        super().__init__()
        self.conv = nn.Conv2d(width, width * 4, 3, padding=1)
        self.act = nn.PReLU(width)
        if init == "icnr":
            icnr_(self.conv, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(pixel_shuffle(self.conv(x), 2))


def conv_norm(width: int, norm: str) -> list[nn.Module]:
    """A conv3x3 ``width -> width`` followed by batch norm (``norm`` ``batch``; no conv bias: BN's shift replaces
    it, and its gradient would be zero) or by nothing (``none``; the convolution keeps its bias, as in EDSR)."""
    if norm == "batch":
        return [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
    return [nn.Conv2d(width, width, 3, padding=1)]


class ResidualBlock(nn.Module):
    """``x + BN(conv(PReLU(BN(conv(x)))))`` (``norm`` ``batch``) or ``x + conv(PReLU(conv(x)))`` (``none``),
    shape-preserving ``(N, width, H, W)``."""

    def __init__(self, width: int, norm: str = "batch"):
        super().__init__()
        self.body = nn.Sequential(*conv_norm(width, norm), nn.PReLU(width), *conv_norm(width, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNetGenerator(nn.Module):
    """``x_low (N, channels, h, w)`` in [-1, 1] -> ``(N, channels, h scale, w scale)`` (linear; images in
    [-1, 1] once trained). ``scale`` a power of two. ``norm``: batch norm in the residual blocks and after the
    long skip's convolution (``batch``, the paper's) or none (EDSR's); ``upsample_init``: the sub-pixel
    convolutions' initialisation, ``default`` or ``icnr``."""

    def __init__(self, channels: int, scale: int, width: int = 64, blocks: int = 16, skip: str = "none",
                 norm: str = "batch", upsample_init: str = "default"):
        super().__init__()
        steps = int(math.log2(scale))
        if 2 ** steps != scale:
            raise UserError(f"srresnet: scale {scale}: expected a power of two")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.blocks = nn.Sequential(*[ResidualBlock(width, norm) for _ in range(blocks)])
        self.fuse = nn.Sequential(*conv_norm(width, norm))
        self.upsample = nn.Sequential(*[SubPixelUpsample(width, upsample_init) for _ in range(steps)])
        self.tail = nn.Conv2d(width, channels, 9, padding=4)
        self.skip = skip
        if skip == "bicubic":  # --sr-skip bicubic: G(x) = bicubic(x) + residual, the residual zero at the start
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.fuse(self.blocks(h))  # the long skip over all residual blocks
        out = self.tail(self.upsample(h))
        if self.skip == "bicubic":  # bicubic is linear, so upsampling in [-1, 1] is upsampling in [0, 1]
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class SRDiscriminator(nn.Module):
    """``x (N, channels, H, W)`` in [-1, 1] -> logits ``(N,)``: pairs of conv3x3 blocks (stride 1, then 2)
    with widths ``width, 2 width, 4 width, 8 width`` while the image is larger than 4 pixels, leaky ReLU 0.2,
    batch norm after all but the first convolution; dense 1024, leaky ReLU, dense 1."""

    def __init__(self, channels: int, size: int, width: int = 64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2)]
        c_in, c_out, first = width, width, True
        while size > 4 and c_out <= 8 * width:
            if not first:
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(c_out, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2)]
            size, c_in, c_out, first = (size + 1) // 2, c_out, c_out * 2, False
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * size * size, 1024), nn.LeakyReLU(0.2),
                                  nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).flatten()


class FrozenFeatures:
    """The content loss's fixed network, outside the model's module tree (not trained, not saved, never put in
    train mode): ``features(x)`` maps images ``(N, C, H, W)`` in [-1, 1] to feature maps ``(N, F, h, w)``,
    differentiable in x. ``path`` None or a weights file: the domain classifier's last convolutional block (the
    dataset's shipped one, or a ``ganforge features train`` file), at the classifier's input size.
    ``inception`` or ``inception:PATH``: the FID Inception-v3's first five convolutions
    (:meth:`FIDInceptionV3.stem`, ImageNet-trained, the nearest thing ganforge has to the paper's VGG19) on
    the image at its own size. Loaded on first use."""

    def __init__(self, data_name: str, path: str | None, channels: int, size: int):
        self.data_name, self.path, self.channels, self.size = data_name, path, channels, size
        self.inception = bool(path) and path.partition(":")[0] == "inception"
        self.net = None

    def load(self) -> None:
        if self.net is not None:
            return
        if self.inception:
            from ..features.inception import load_fid_inception

            if self.size < INCEPTION_STEM_MIN_SIZE:
                raise UserError(f"--content-features {self.path}: the run's images are {self.size} pixels a side: "
                                f"expected at least {INCEPTION_STEM_MIN_SIZE} for Inception's first convolutions")

            try:
                net = load_fid_inception(self.path.partition(":")[2] or None)
            except UserError as e:  # its message names eval's --features: here the option is --content-features
                raise UserError(str(e).replace("--features inception", "--content-features inception")) from None
            self.net = net.eval().requires_grad_(False)
            return
        from ..features.domain import load_domain_classifier

        try:
            net = load_domain_classifier(self.data_name, self.path).eval().requires_grad_(False)
        except UserError:
            if self.path:
                raise
            raise UserError(f"srgan's content loss: no domain classifier ships for {self.data_name}: expected "
                            "--content-features inception[:PATH] (the FID Inception's first convolutions, for "
                            "photos; pip install 'ganforge[inception]') or --content-features FILE (a classifier "
                            "'ganforge features train' wrote from labelled images like these)") from None
        if net.channels != self.channels:
            source = self.path or f"the {self.data_name} classifier"
            raise UserError(f"--content-features {source}: a classifier of {net.channels}-channel images, "
                            f"expected one of {self.channels}-channel images like the run's data")
        self.net = net

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.load()
        net = self.net
        if next(net.parameters()).device != x.device:
            net.to(x.device)
        if self.inception:
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if net.protocol == "tf":  # the TF graph's input (v - 128) / 128 of 8-bit v = 127.5 (x + 1), unrounded
                x = (127.5 * (x + 1.0) - 128.0) / 128.0
            return net.stem(x)
        if x.shape[-2:] != (net.image_size, net.image_size):
            x = F.interpolate(x, size=(net.image_size, net.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return net.conv(x)  # the classifier's own input range is [-1, 1]


class SuperResolution:
    """What both SR models share (a mixin on a :class:`GANModel`): the pair spec, the kept low-resolution
    inputs, latents that are those inputs, and ``--init-from``."""

    spec: PairSpec
    noiseless_input = "low-resolution images (n, C, H / scale, W / scale) in [-1, 1]"

    @classmethod
    def refuse_for_new_run(cls, cfg: TrainConfig) -> None:
        refuse_prior(cfg, cfg.model, "the low-resolution image")
        if cfg.model == "srresnet":  # no D: an objective, a penalty or a remedy would have nothing to act on
            refuse_unused_options(cfg, "srresnet")
            if cfg.k_disc != 1:
                raise UserError(f"model srresnet: k_disc {cfg.k_disc} is invalid: it has no discriminator to step "
                                "(leave --k-disc unset; srgan has one)")

    def setup_inputs(self, cfg: TrainConfig, data: DataInfo) -> None:
        spec = pair_spec(cfg)
        if spec is None:
            raise UserError(f"model {cfg.model}: needs paired data: add --pairs sr2 or --pairs sr4")
        if data.kind != "image" or data.shape[-1] % spec.scale or data.shape[-2] % spec.scale:
            raise UserError(f"model {cfg.model}: images {data.shape} with --pairs {cfg.pairs}: expected sides "
                            f"divisible by {spec.scale}")
        self.spec = spec
        self.register_buffer("inputs", torch.zeros(NUM_KEPT_INPUTS, *spec.low_shape(data.shape)))

    def kept_inputs(self, x: torch.Tensor, rng: torch.Generator) -> None:
        """Degrade ``NUM_KEPT_INPUTS`` training images (uint8 ``(N, C, H, W)``) chosen by ``rng`` into
        ``inputs`` (model range)."""
        idx = torch.randperm(len(x), generator=rng)[:NUM_KEPT_INPUTS].to(x.device)
        noise_rng = torch.Generator().manual_seed(int(torch.randint(2 ** 62, (1,), generator=rng)))
        low = degrade(x.index_select(0, idx).float() / 255.0, self.spec, noise_rng) * 2.0 - 1.0
        self.inputs[: len(low)] = low.to(self.inputs)

    @property
    def num_kept_inputs(self) -> int:
        """How many distinct inputs :meth:`sample_latent` draws from."""
        return len(self.inputs)

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        """``n`` of the kept low-resolution inputs ``(n, C, H/s, W/s)`` in [-1, 1], in a random order (all of
        them, distinct, when ``n`` <= 64)."""
        k = len(self.inputs)
        idx = torch.randperm(k, generator=rng)[:n] if n <= k else torch.randint(k, (n,), generator=rng)
        return self.inputs.index_select(0, idx.to(self.inputs.device))

    def init_from_run(self, run_dir: str) -> None:
        """G's weights from the latest checkpoint of an srresnet/srgan run of the same scale and channels."""
        from ..checkpoint import load_checkpoint

        path = Path(run_dir) / "checkpoints" / "latest.pt"
        if not path.is_file():
            raise UserError(f"--init-from {run_dir}: no checkpoint at {path}: expected an srresnet run directory")
        ckpt = load_checkpoint(path)
        other = ckpt["config"]
        if other.get("sr_norm", "batch") != self.cfg.sr_norm:
            raise UserError(f"--init-from {run_dir}: trained with --sr-norm {other.get('sr_norm', 'batch')}: "
                            f"expected --sr-norm {self.cfg.sr_norm} as here")
        if other.get("sr_skip", "none") != self.cfg.sr_skip:
            raise UserError(f"--init-from {run_dir}: trained with --sr-skip {other.get('sr_skip', 'none')}: expected "
                            f"--sr-skip {self.cfg.sr_skip} as here")
        if other.get("model") not in ("srresnet", "srgan") or other.get("pairs") != self.cfg.pairs:
            raise UserError(f"--init-from {run_dir}: a {other.get('model')} run with pairs {other.get('pairs')}: "
                            f"expected an srresnet or srgan run with --pairs {self.cfg.pairs}")
        state = {k[len("generator."):]: v for k, v in ckpt["model"].items() if k.startswith("generator.")}
        try:
            self.generator.load_state_dict(state)
        except RuntimeError:
            raise UserError(f"--init-from {run_dir}: its generator does not fit this one: expected the same "
                            "--width, --sr-blocks and image channels") from None


def sr_generator(cfg: TrainConfig, channels: int, scale: int) -> SRResNetGenerator:
    """The generator a config describes (``--width``, ``--sr-blocks``, ``--sr-skip``, ``--sr-norm``,
    ``--sr-upsample-init``)."""
    return SRResNetGenerator(channels, scale, cfg.width or 64, cfg.sr_blocks, cfg.sr_skip, cfg.sr_norm,
                             cfg.sr_upsample_init)


class SRResNet(SuperResolution, GANModel):
    """SRResNet: G alone, minimising the pixel MSE to the high-resolution target."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        GANModel.__init__(self, cfg, data)
        self.setup_inputs(cfg, data)
        self.generator = sr_generator(cfg, data.shape[0], self.spec.scale)
        self.discriminator = None

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        self.kept_inputs(x, rng)
        if self.cfg.init_from:
            self.init_from_run(self.cfg.init_from)

    def mse_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_sr = self.generator(batch.condition)  # (m, C, H, W)
        loss = F.mse_loss(x_sr, batch.x_real)
        # PSNR of the minibatch on the [0, 1] scale: the model range is twice as wide (MSE 4x)
        return loss, {"G/psnr": 10.0 * torch.log10(4.0 / loss.detach().clamp_min(1e-12))}

    def phases(self) -> list[Phase]:
        return [Phase("G", self.mse_loss, list(self.generator.parameters()))]


class SRGAN(SuperResolution, AdversarialGAN):
    """SRGAN: G fine-tuned with content + ``adversarial_weight`` x adversarial loss against the SR D."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        refuse_remedies(cfg, "srgan")
        spec = pair_spec(cfg)
        scale = spec.scale if spec is not None else 2
        generator = sr_generator(cfg, data.shape[0], scale)
        discriminator = SRDiscriminator(data.shape[0], data.shape[-1], cfg.width or 64)
        AdversarialGAN.__init__(self, cfg, data, generator, discriminator, resolved_penalty(cfg))
        self.setup_inputs(cfg, data)
        self.content_net = FrozenFeatures(cfg.data, cfg.content_features, data.shape[0], min(data.shape[-2:]))

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        self.kept_inputs(x, rng)
        self.content_net.load()  # a missing or unfitting feature network fails before training starts
        if self.cfg.init_from:
            self.init_from_run(self.cfg.init_from)

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_sr = self.generator(batch.condition)  # G frozen in this phase: no graph through it
        logits_real, logits_fake = self.discriminator(batch.x_real), self.discriminator(x_sr)
        return self.regularised_d_loss(batch.x_real, x_sr, logits_real, logits_fake)

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_sr = self.generator(batch.condition)
        content = F.mse_loss(self.content_net(x_sr), self.content_net(batch.x_real))
        adversarial = self.objective.g_loss(self.discriminator(x_sr))
        mse = F.mse_loss(x_sr.detach(), batch.x_real)
        return content + self.cfg.adversarial_weight * adversarial, {
            "G/content": content.detach(), "G/adversarial": adversarial.detach(),
            "G/psnr": 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.g_loss, list(self.generator.parameters()))]


#: Adam with beta1 0.9 at 1e-4, minibatches of 16, x4: the paper's (Ledig et al. 2017, Section 3.2).
SR_DEFAULTS = {"optimizer": "adam", "lr": 1e-4, "beta1": 0.9, "batch_size": 16, "pairs": "sr4"}

register_model(ModelSpec("srresnet", "SRResNet (Ledig et al. 2017): residual super-resolution network, pixel MSE; "
                         "needs --pairs sr2|sr4", SRResNet, ("image",), SR_DEFAULTS, eval_metrics="sr"))
register_model(ModelSpec("srgan", "SRGAN (Ledig et al. 2017): SRResNet fine-tuned with a feature content loss "
                         "and 1e-3 adversarial loss; --init-from an srresnet run", SRGAN, ("image",), SR_DEFAULTS,
                         eval_metrics="sr"))


def _register_sr_metric() -> None:
    from ..metrics.evaluate import register_metric

    @register_metric("sr", "super-resolution runs: PSNR, SSIM (without a scale-wide border, as Ledig et al.), "
                           "feature distance and FID of the upscaled test split vs the true one, beside bicubic "
                           "upsampling (bicubic_psnr, ...)")
    def sr_metric(ctx) -> dict[str, float]:
        model = ctx.model
        if not isinstance(model, SuperResolution):
            raise UserError("metric sr: needs an srresnet or srgan run")
        values = super_resolution_measures(model, ctx.dataset.split("test")[: ctx.n], ctx.dataset.name,
                                           ctx.features_spec)
        if any(k.endswith("ssim") and v != v for k, v in values.items()):  # NaN: no full 11x11 window fits
            ctx.notes["ssim"] = ("not defined: the images (less the border) are smaller than SSIM's 11x11 Gaussian "
                                 "window")
        return values


def upscale(model: GANModel, x_low: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Low-resolution images ``(N, C, h, w)`` float in [0, 1] -> the model's ``(N, C, h s, w s)`` in [0, 1]
    (eval mode, on the CPU)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = [model.generator(x_low[s:s + batch_size].to(model.device) * 2.0 - 1.0).add(1.0).mul(0.5)
                   .clamp(0.0, 1.0).cpu() for s in range(0, len(x_low), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def sr_feature_function(features_spec: str, data_name: str):
    """Images float ``(N, C, H, W)`` in [0, 1] -> features ``(N, D)`` for the perceptual distance and FID:
    ``domain[...]`` (the dataset's classifier, 128-d) or ``inception[:PATH]`` (pool3, 2048-d); None when the
    dataset has no domain classifier (cifar10, a folder) or the spec names neither."""
    if not (features_spec.startswith("domain") or features_spec.startswith("inception")):
        return None
    from ..features.extractors import build_extractor

    try:
        extractor = build_extractor(features_spec, data_name, "image")
    except UserError:
        return None  # no classifier for this data (cifar10, a folder): PSNR and SSIM only
    return lambda x: extractor.features_and_probs(x)[0]


def default_border(scale: int, side: int) -> int:
    """The strip PSNR and SSIM leave out at each border by default: the scale factor's width (Ledig et al.
    2017), 0 for images of side at most ``2 scale``, which such a strip would leave empty."""
    return scale if side > 2 * scale else 0


def sr_measures_table(models: dict[str, GANModel], test_uint8, data_name: str, features_spec: str = "domain",
                      border: int | None = None) -> dict[str, dict[str, float]]:
    """``{"bicubic": measures, name: measures, ...}`` for SR models of one scale on the test images
    ``test_uint8 (N, C, H, W)``, each from the same degraded inputs: PSNR, SSIM and, with features,
    perceptual distance and FID (:func:`ganforge.metrics.restoration.restoration_measures`); the true
    images' features are computed once and shared. PSNR and SSIM leave out a ``border``-pixel strip on each
    side, by default the scale factor's width (Ledig et al. 2017: 4 pixels at x4; none for images of at most
    twice that side, which such a strip would leave empty), bicubic's and the models' alike; 0 measures whole
    images."""
    from ..data.pairs import bicubic_upsample, evaluation_pairs
    from ..metrics.restoration import restoration_measures

    spec = next(iter(models.values())).spec
    low, high = evaluation_pairs(test_uint8, spec)
    features = sr_feature_function(features_spec, data_name)
    truth_features = features(high) if features is not None else None
    border = default_border(spec.scale, min(high.shape[-2:])) if border is None else border
    table = {"bicubic": restoration_measures(bicubic_upsample(low, spec.scale), high, features,
                                             truth_features=truth_features, border=border)}
    for name, model in models.items():
        table[name] = restoration_measures(upscale(model, low), high, features, truth_features=truth_features,
                                           border=border)
    return table


def modcrop(image, scale: int):
    """An image ``(C, H, W)`` cut to sides divisible by ``scale`` (its top-left ``H - H % scale`` rows and
    ``W - W % scale`` columns), as SR benchmarks crop Set5/Set14 before downsampling."""
    h, w = image.shape[-2:]
    return image[..., : h - h % scale, : w - w % scale]


def grid_cut(x: torch.Tensor, size: int) -> torch.Tensor:
    """The non-overlapping ``size x size`` crops of ``x (1, C, H, W)`` at multiples of ``size`` from the top-left
    corner that fit inside it, row by row: ``(k, C, size, size)``."""
    h, w = x.shape[-2:]
    return torch.cat([x[..., r:r + size, c:c + size] for r in range(0, h - size + 1, size)
                      for c in range(0, w - size + 1, size)])


def sr_whole_image_table(models: dict[str, GANModel], photos: list, features_spec: str = "none",
                         border: int | None = None, patch: int = 64) -> dict[str, dict]:
    """The measures of Ledig et al. (2017) and the Set5/Set14 tables, on whole images: each photo uint8
    ``(C, H, W)`` (any sides, each its own size) is cut to sides divisible by the scale (:func:`modcrop`),
    degraded as a whole (:func:`ganforge.data.pairs.evaluation_pairs`), upscaled as a whole by bicubic and by
    each (fully convolutional) model, and PSNR and SSIM (on Y for colour) are taken on the whole result without
    a ``border``-pixel strip at each side (default: the scale's width), then averaged over the photos. With
    features (``domain[...]``/``inception[:PATH]``), the perceptual distance (mean over patches) and the FID are
    those of the ``patch``-pixel grid crops (:func:`grid_cut`) of the whole results against the same crops of
    the truth (the feature networks take fixed-size images). Returns ``{"bicubic": {"psnr", "ssim",
    ["perceptual", "fid",] "psnr_per_image": [...], "ssim_per_image": [...]}, name: ...}``."""
    from ..data.pairs import bicubic_upsample, evaluation_pairs
    from ..metrics.fid import fid_from_features
    from ..metrics.restoration import perceptual_distance, psnr, shave, ssim

    spec = next(iter(models.values())).spec
    names = ["bicubic", *models]
    per_image: dict[str, dict[str, list[float]]] = {k: {"psnr": [], "ssim": []} for k in names}
    crops: dict[str, list[torch.Tensor]] = {k: [] for k in ["truth", *names]}
    for image in photos:
        low, high = evaluation_pairs(modcrop(torch.as_tensor(image), spec.scale)[None], spec)
        b = default_border(spec.scale, min(high.shape[-2:])) if border is None else border
        ups = {"bicubic": bicubic_upsample(low, spec.scale), **{k: upscale(m, low, 1) for k, m in models.items()}}
        for k, up in [*ups.items(), ("truth", high)]:
            if k != "truth":
                per_image[k]["psnr"].append(float(psnr(shave(up, b), shave(high, b))[0]))
                per_image[k]["ssim"].append(float(ssim(shave(up, b), shave(high, b))[0]))
            if min(high.shape[-2:]) >= patch:  # a photo smaller than a patch gives no crops
                crops[k].append(grid_cut(up, patch))
    table = {k: {"psnr": sum(v["psnr"]) / len(photos), "ssim": sum(v["ssim"]) / len(photos),
                 "psnr_per_image": v["psnr"], "ssim_per_image": v["ssim"]} for k, v in per_image.items()}
    features = sr_feature_function(features_spec, next(iter(models.values())).cfg.data)
    n_crops = sum(len(c) for c in crops["truth"])
    if features is not None and n_crops >= 2:
        truth_features = features(torch.cat(crops["truth"]))
        for k in names:
            f = features(torch.cat(crops[k]))
            table[k]["perceptual"] = float(perceptual_distance(f, truth_features).mean())
            table[k]["fid"] = fid_from_features(truth_features, f)
            table[k]["n_patches"] = n_crops
    return table


def super_resolution_measures(model: GANModel, test_uint8, data_name: str, features_spec: str = "domain",
                              border: int | None = None) -> dict[str, float]:
    """PSNR, SSIM, perceptual distance and FID (domain or Inception features, when available) of the model's
    and of bicubic upsampling's (``bicubic_*``) reconstructions of ``test_uint8`` ``(N, C, H, W)`` from its
    degraded inputs; PSNR and SSIM without a ``border``-pixel strip (default: the scale factor's width)."""
    table = sr_measures_table({"model": model}, test_uint8, data_name, features_spec, border)
    return {**table["model"], **{f"bicubic_{k}": v for k, v in table["bicubic"].items()}}


_register_sr_metric()

__all__ = ["SRGAN", "SRDiscriminator", "SRResNet", "SRResNetGenerator", "pixel_shuffle", "sr_measures_table",
           "super_resolution_measures", "upscale"]
