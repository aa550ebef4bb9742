"""``nextframe``: next-frame prediction of Mathieu, Couprie & LeCun (2016), "Deep multi-scale video prediction
beyond mean square error", on ``--sequences moving2|action`` data.

Input: the last k frames stacked as channels ``(N, k C, H, W)`` in [-1, 1], plus, for action-conditioned
sequences, the one-hot action of the coming transition tiled as A constant planes; together ``(N, k C + A, H,
W)``, "the input" below (it is also what :meth:`NextFrame.sample_latent` returns, so sample grids, ``ganforge
sample`` and ``LoadedRun.sample`` show predictions from fixed training inputs).

- **Generator** (coarse to fine, ``--frame-scales`` S, paper: 4): scale i works at ``H / 2^(S-1-i)``. The
  coarsest net sees the input average-pooled to its size and predicts the frame there; every finer net sees the
  input at its size beside the coarser prediction upsampled (bilinear, x2) and adds a correction to that
  upsampled prediction. Each net is four 3x3 convs with ``width, 2 width, width`` channels and ReLU between,
  then tanh (the paper's nets are wider and grow their kernels to 7x7 at the finest scale; 3x3 keeps a CPU
  run short, and the coarser scales give the long range).
- **Discriminator** (one per scale, as in the paper): the input at that scale beside a real or predicted frame,
  strided 3x3 convolutions with leaky ReLU down to 4x4 or less, then a linear map to one logit.
- **Loss of G**: ``--l2-weight`` x L2 + ``--gdl-weight`` x gradient difference loss (:func:`gradient_difference
  _loss`, alpha 1) + ``--adversarial-weight`` x the objective's G loss, each summed over the scales (the frame
  pyramid by average pooling). D's loss is the objective's, summed over scales. ``--adversarial-weight 0``
  trains the same generator with L2 (+ GDL) alone and builds no D: the "sharper than L2" comparison uses one
  network. Defaults 1, 1, 0.05 (the paper's weights of its adversarial + GDL model as we read them).

:func:`rollout` predicts n future frames autoregressively: each prediction (clamped to the image range) enters
the window of the last k frames for the next one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..data.sequences import ACTIONS, Clips, SequenceSpec, make_clips, pair_sprites, sequence_spec
from ..errors import UserError
from ..objectives import OBJECTIVES
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, refuse_remedies, register_model
from .wgan import refuse_prior

#: Training inputs a model keeps for its sample grids.
NUM_KEPT_INPUTS = 32
#: Future steps ``ganforge eval`` measures, and at most this many sequences (--n caps it further).
EVAL_STEPS = 5
EVAL_MAX_SEQUENCES = 1000


def gradient_difference_loss(pred: torch.Tensor, true: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Image gradient difference loss (Mathieu et al. 2016, eq. 5) of images ``(N, C, H, W)``: the mean over
    vertical neighbour pairs of ``| |t[i,j] - t[i-1,j]| - |p[i,j] - p[i-1,j]| |^alpha`` plus the same mean over
    horizontal pairs (the paper sums; a mean keeps the weight independent of the image size)."""
    dy_t, dy_p = (true[..., 1:, :] - true[..., :-1, :]).abs(), (pred[..., 1:, :] - pred[..., :-1, :]).abs()
    dx_t, dx_p = (true[..., :, 1:] - true[..., :, :-1]).abs(), (pred[..., :, 1:] - pred[..., :, :-1]).abs()
    return (dy_t - dy_p).abs().pow(alpha).mean() + (dx_t - dx_p).abs().pow(alpha).mean()


def pyramid(x: torch.Tensor, scales: int) -> list[torch.Tensor]:
    """``x (N, C, H, W)`` average-pooled to ``H / 2^(scales-1), ..., H / 2, H``, coarsest first."""
    return [F.avg_pool2d(x, 2 ** (scales - 1 - i)) if i < scales - 1 else x for i in range(scales)]


def action_planes(actions: torch.Tensor, size: int) -> torch.Tensor:
    """One-hot actions ``(N, A)`` -> constant planes ``(N, A, size, size)``."""
    return actions[:, :, None, None].expand(-1, -1, size, size)


class ScaleNet(nn.Module):
    """One scale of the generator: ``(N, in_channels, h, w) -> (N, channels, h, w)`` in (-1, 1): convs with
    ``width, 2 width, width`` channels and ReLU, a last conv and tanh."""

    def __init__(self, in_channels: int, channels: int, width: int, kernel: int):
        super().__init__()
        p = kernel // 2
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel, padding=p), nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel, padding=p), nn.ReLU(),
            nn.Conv2d(2 * width, width, kernel, padding=p), nn.ReLU(),
            nn.Conv2d(width, channels, kernel, padding=p), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScaleGenerator(nn.Module):
    """The input ``(N, k C + A, H, W)`` in [-1, 1] -> predictions at every scale, coarsest first: a list of
    ``(N, C, H / 2^(S-1-i), W / 2^(S-1-i))`` (the last one full size; approximately in [-1, 1])."""

    def __init__(self, in_channels: int, channels: int, scales: int, width: int):
        super().__init__()
        self.scales = scales
        self.nets = nn.ModuleList(
            [ScaleNet(in_channels + (channels if i else 0), channels, width, 3)
             for i in range(scales)])

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        for i, (x, net) in enumerate(zip(pyramid(inputs, self.scales), self.nets, strict=True)):
            if i == 0:
                out.append(net(x))
            else:
                coarse = F.interpolate(out[-1], scale_factor=2, mode="bilinear", align_corners=False)
                out.append(coarse + net(torch.cat([x, coarse], 1)))  # Y_i = u(Y_{i-1}) + G_i(X_i, u(Y_{i-1}))
        return out


class ScaleDiscriminator(nn.Module):
    """``(N, in_channels, size, size) -> logits (N,)``: stride-2 3x3 convs (``width`` doubling, at most 4
    width) with leaky ReLU 0.2 until the map is 4x4 or smaller, then a linear map to one logit."""

    def __init__(self, in_channels: int, size: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out = in_channels, width
        while size > 4:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            size, c_in, c_out = (size + 1) // 2, c_out, min(2 * c_out, 4 * width)
        if not layers:
            layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * size * size, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class MultiScaleDiscriminator(nn.Module):
    """One :class:`ScaleDiscriminator` per scale: ``forward(inputs, frames)`` takes the input pyramid and the
    frame pyramid (lists, coarsest first) and returns a list of logits ``(N,)`` per scale."""

    def __init__(self, in_channels: int, channels: int, size: int, scales: int, width: int):
        super().__init__()
        self.nets = nn.ModuleList(
            [ScaleDiscriminator(in_channels + channels, size // 2 ** (scales - 1 - i), width)
             for i in range(scales)])

    def forward(self, inputs: list[torch.Tensor], frames: list[torch.Tensor]) -> list[torch.Tensor]:
        return [net(torch.cat([x, y], 1)) for net, x, y in zip(self.nets, inputs, frames, strict=True)]


class NextFrame(GANModel):
    """Multi-scale next-frame predictor with optional multi-scale adversary (module docstring)."""

    noiseless_input = "the past frames and actions, channels stacked (n, k C + A, H, W), in [-1, 1]"

    @classmethod
    def refuse_for_new_run(cls, cfg: TrainConfig) -> None:
        refuse_prior(cfg, "nextframe", "the past frames")

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_remedies(cfg, "nextframe")
        spec = sequence_spec(cfg)
        if spec is None:
            raise UserError("model nextframe: needs sequence data: add --sequences moving2 or --sequences action")
        if data.kind != "image" or tuple(data.shape[-2:]) != (spec.sprite, spec.sprite):
            raise UserError(f"model nextframe: data of shape {data.shape}: expected {spec.sprite}x{spec.sprite} "
                            f"sprites for --canvas {spec.canvas}")
        scales = cfg.frame_scales
        if spec.canvas % 2 ** (scales - 1) or spec.canvas // 2 ** (scales - 1) < 4:
            raise UserError(f"--canvas {spec.canvas} with --frame-scales {scales}: expected a canvas divisible by "
                            f"{2 ** (scales - 1)} whose coarsest scale is at least 4 pixels")
        self.seq_spec: SequenceSpec = spec
        self.channels = data.shape[0]
        self.in_channels = spec.context * self.channels + spec.num_actions
        width = cfg.width or 32
        self.generator = MultiScaleGenerator(self.in_channels, self.channels, scales, width)
        self.discriminator = (MultiScaleDiscriminator(self.in_channels, self.channels, spec.canvas, scales, width)
                              if cfg.adversarial_weight > 0 else None)
        self.objective = OBJECTIVES.get_or_fail(cfg.objective)
        self.register_buffer("kept_inputs", torch.zeros(NUM_KEPT_INPUTS, self.in_channels, spec.canvas, spec.canvas))

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(C, canvas, canvas)``: what :meth:`generate` makes (the data's examples are the sprites)."""
        return (self.channels, self.seq_spec.canvas, self.seq_spec.canvas)

    # ----------------------------------------------------------------- inputs
    def inputs_from(self, context: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
        """The generator's input ``(N, k C + A, H, W)`` from frames ``(N, k, C, H, W)`` in [-1, 1] and the
        coming one-hot actions ``(N, A)`` (None for moving2)."""
        x = context.flatten(1, 2)
        if actions is None:
            return x
        return torch.cat([x, action_planes(actions.to(x), x.shape[-1])], 1)

    def clip_inputs(self, clips: Clips) -> torch.Tensor:
        actions = clips.actions[:, clips.context_frames - 1] if clips.actions is not None else None
        return self.inputs_from(clips.context, actions)

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        """Keep ``NUM_KEPT_INPUTS`` inputs rendered from training sprites (uint8 ``(N, C, s, s)``) chosen by
        ``rng``."""
        idx = torch.randperm(len(x), generator=rng)[:NUM_KEPT_INPUTS].to(x.device)
        sprites = pair_sprites(x.index_select(0, idx).float().cpu() / 255.0, self.seq_spec.sprites_per_clip)
        clips = make_clips(sprites, self.seq_spec, self.seq_spec.context + 1, rng)
        clips.frames = clips.frames * 2.0 - 1.0
        kept = self.clip_inputs(clips)
        self.kept_inputs[: len(kept)] = kept.to(self.kept_inputs)

    @property
    def num_kept_inputs(self) -> int:
        """How many distinct inputs :meth:`sample_latent` draws from."""
        return len(self.kept_inputs)

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        """``n`` of the kept inputs ``(n, k C + A, H, W)``, in a random order (distinct when ``n`` <= 32)."""
        k = len(self.kept_inputs)
        idx = torch.randperm(k, generator=rng)[:n] if n <= k else torch.randint(k, (n,), generator=rng)
        return self.kept_inputs.index_select(0, idx.to(self.kept_inputs.device))

    def generate(self, latent: torch.Tensor) -> torch.Tensor:
        """The predicted next frame ``(n, C, H, W)`` in [-1, 1] of inputs ``latent``."""
        return self.sampling_generator(latent)[-1].clamp(-1.0, 1.0)

    # ----------------------------------------------------------------- losses
    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clips: Clips = batch.condition
        inputs = pyramid(self.clip_inputs(clips), self.cfg.frame_scales)
        fake = [p.detach() for p in self.generator(inputs[-1])]  # G frozen in this phase
        real_logits = self.discriminator(inputs, pyramid(clips.target, self.cfg.frame_scales))
        fake_logits = self.discriminator(inputs, fake)
        loss = sum(self.objective.d_loss(r, f) for r, f in zip(real_logits, fake_logits, strict=True))
        return loss, {"D/score_real": real_logits[-1].detach().mean(),
                      "D/score_fake": fake_logits[-1].detach().mean()}

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clips: Clips = batch.condition
        scales = self.cfg.frame_scales
        inputs = pyramid(self.clip_inputs(clips), scales)
        preds, targets = self.generator(inputs[-1]), pyramid(clips.target, scales)
        l2 = sum(F.mse_loss(p, t) for p, t in zip(preds, targets, strict=True))
        gdl = sum(gradient_difference_loss(p, t) for p, t in zip(preds, targets, strict=True))
        loss = self.cfg.l2_weight * l2 + self.cfg.gdl_weight * gdl
        mse = F.mse_loss(preds[-1].detach().clamp(-1, 1), targets[-1])
        logs = {"G/l2": l2.detach(), "G/gdl": gdl.detach(), "G/psnr": 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))}
        if self.discriminator is not None:
            adversarial = sum(self.objective.g_loss(lg) for lg in self.discriminator(inputs, preds))
            loss = loss + self.cfg.adversarial_weight * adversarial
            logs["G/adversarial"] = adversarial.detach()
        return loss, logs

    def phases(self) -> list[Phase]:
        g = Phase("G", self.g_loss, list(self.generator.parameters()))
        if self.discriminator is None:
            return [g]
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc), g]


def rollout(model: NextFrame, context: torch.Tensor, steps: int, actions: torch.Tensor | None = None,
            batch_size: int = 256) -> torch.Tensor:
    """Autoregressive prediction: context frames ``(N, k, C, H, W)`` in [0, 1] (and the actions of the coming
    transitions ``(N, >= steps, A)`` for action runs) -> ``steps`` predicted frames ``(N, steps, C, H, W)`` in
    [0, 1], each fed back into the window of the last k frames for the next (eval mode, no gradients)."""
    if model.seq_spec.num_actions and actions is None:
        raise UserError("rollout: an action-conditioned run needs the actions of the predicted steps")
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for s in range(0, len(context), batch_size):
                window = context[s:s + batch_size].to(model.device).float() * 2.0 - 1.0
                preds = []
                for j in range(steps):
                    a = actions[s:s + batch_size, j].to(model.device) if model.seq_spec.num_actions else None
                    pred = model.generate(model.inputs_from(window, a))  # (n, C, H, W) in [-1, 1]
                    preds.append(pred)
                    window = torch.cat([window[:, 1:], pred[:, None]], 1)
                out.append(torch.stack(preds, 1).add(1.0).mul(0.5).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def copy_last_frame(context: torch.Tensor, steps: int) -> torch.Tensor:
    """The baseline: the last context frame ``(N, k, C, H, W)`` repeated ``steps`` times ``(N, steps, C, H, W)``."""
    return context[:, -1:].expand(-1, steps, -1, -1, -1).clone()


def nextframe_measures(model: NextFrame, test_uint8, n: int = EVAL_MAX_SEQUENCES, steps: int = EVAL_STEPS
                       ) -> dict[str, float]:
    """PSNR, SSIM, sharpness difference and gradient ratio at future steps 1..``steps`` of the model's roll-out
    and of copying the last frame (``copy_*``), over ``n`` evaluation clips of the test split."""
    from ..data.sequences import evaluation_clips
    from ..metrics.prediction import prediction_measures

    clips, _ = evaluation_clips(test_uint8, model.seq_spec, n, steps)
    predicted = rollout(model, clips.context, steps, clips.future_actions())
    values = prediction_measures(predicted, clips.future)
    values.update({f"copy_{k}": v for k, v in prediction_measures(copy_last_frame(clips.context, steps),
                                                                  clips.future).items()})
    return {"sequences": float(n), **values}


#: Adam as DCGAN runs it; minibatches of 32; moving2 sequences; the paper's adversarial weight.
NEXTFRAME_DEFAULTS = {"sequences": "moving2", "optimizer": "adam", "lr": 2e-4, "beta1": 0.5, "batch_size": 32,
                      "adversarial_weight": 0.05}

register_model(ModelSpec("nextframe", "next-frame prediction (Mathieu et al. 2016): multi-scale generator, "
                         "L2 + gradient difference + adversarial loss; needs --sequences moving2|action",
                         NextFrame, ("image",), NEXTFRAME_DEFAULTS, eval_metrics="nextframe"))


def _register_nextframe_metric() -> None:
    from ..metrics.evaluate import register_metric

    @register_metric("nextframe", "next-frame runs: PSNR, SSIM, sharpness at future steps 1-5 of the roll-out on "
                                  "test-split sequences, beside copying the last frame (copy_psnr_1, ...)")
    def nextframe_metric(ctx) -> dict[str, float]:
        if not isinstance(ctx.model, NextFrame):
            raise UserError("metric nextframe: needs a nextframe run")
        return nextframe_measures(ctx.model, ctx.dataset.split("test"), min(ctx.n, EVAL_MAX_SEQUENCES))


_register_nextframe_metric()

__all__ = ["ACTIONS", "MultiScaleDiscriminator", "MultiScaleGenerator", "NextFrame", "copy_last_frame",
           "gradient_difference_loss", "nextframe_measures", "rollout"]
