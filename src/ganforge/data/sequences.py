"""Moving-sprite sequences made on the fly from any image dataset, for next-frame prediction (``--sequences``).

The dataset keeps its images, resized to sprites of ``7/16`` of the canvas side (28x28 on the default 64x64
canvas, 14x14 on ``--canvas 32``); each minibatch of sprites becomes a minibatch of short clips, rendered by
the data layer and carried in :class:`ganforge.models.Batch`'s ``condition`` (a :class:`Clips`); the loop never
looks inside it.

- ``moving2`` (Moving-MNIST style, Srivastava et al. 2015): two sprites start at uniform positions with a
  uniform direction and a speed of 2 to 4 pixels a frame on a 64x64 canvas (scaled with the canvas), move in
  straight lines and bounce off the walls (the position is reflected, the velocity component flips); the
  frame is the pixelwise maximum of the sprites on a black canvas. Sequence i of a minibatch of m sprites
  shows sprites i and ``(i + m // 2) mod m``.
- ``action``: one sprite whose motion follows an action per transition, drawn uniformly from
  :data:`ACTIONS` (none, left, right, up, down; each move is ``canvas // 8`` pixels, stopped at the walls).
  ``Clips.actions[:, t]`` (one-hot) is the action that turns frame t into frame t + 1.

Determinism: positions, velocities and actions of a minibatch are drawn from a generator seeded by ``(seed,
sampler cursor, rank)`` (``pairs.condition_seed``), so a resumed run sees exactly the clips an uninterrupted
one does. Training clips are made from the sprites the sampler draws, i.e. from the train split alone;
evaluation clips (:func:`evaluation_clips`) take their sprites from the test split, chosen and moved by a
fixed seed, the same for every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .core import ArrayDataset

#: ``--sequences`` values: two bouncing sprites, or one sprite moved by actions.
SEQUENCE_KINDS = ("moving2", "action")
#: The actions of ``--sequences action``, in one-hot order, as (dy, dx) unit moves.
ACTIONS = ("none", "left", "right", "up", "down")
ACTION_MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))
#: The seed that chooses and moves the test split's sprites for evaluation, the same for every run.
TEST_SEQUENCES_SEED = 20160226
#: moving2's speed range in pixels per frame on a 64x64 canvas (scaled with the canvas side).
SPEED_RANGE_64 = (2.0, 4.0)


@dataclass(frozen=True)
class SequenceSpec:
    """What a clip is: ``kind`` (moving2 or action), ``context`` frames k given to the model, a square canvas of
    side ``canvas``."""

    kind: str
    context: int
    canvas: int

    @classmethod
    def parse(cls, kind: str, context: int, canvas: int) -> SequenceSpec:
        if kind not in SEQUENCE_KINDS:
            raise UserError(f"--sequences {kind!r}: expected one of {', '.join(SEQUENCE_KINDS)}")
        if context < 2:
            raise UserError(f"--context-frames {context}: expected an integer >= 2 (motion needs two frames)")
        if canvas < 16:
            raise UserError(f"--canvas {canvas}: expected an integer >= 16")
        return cls(kind, int(context), int(canvas))

    @property
    def sprite(self) -> int:
        """Sprite side in pixels: 7/16 of the canvas (28 on 64, 14 on 32)."""
        return self.canvas * 7 // 16

    @property
    def sprites_per_clip(self) -> int:
        return 2 if self.kind == "moving2" else 1

    @property
    def num_actions(self) -> int:
        """Action channels the model is given (0 for moving2)."""
        return len(ACTIONS) if self.kind == "action" else 0

    @property
    def action_step(self) -> int:
        """Pixels one action moves the sprite."""
        return max(1, self.canvas // 8)


def sequence_spec(cfg) -> SequenceSpec | None:
    """The :class:`SequenceSpec` of a TrainConfig (None without ``--sequences``)."""
    return SequenceSpec.parse(cfg.sequences, cfg.context_frames, cfg.canvas) if cfg.sequences else None


@dataclass
class Clips:
    """A minibatch of clips: ``frames (m, T, C, H, W)`` (model range [-1, 1] in training, [0, 1] from
    :func:`evaluation_clips`), ``actions (m, T - 1, A)`` one-hot float (``action`` sequences; None for moving2),
    ``actions[:, t]`` turning frame t into t + 1; ``positions (m, T, S, 2)`` the sprites' top-left (y, x)."""

    frames: torch.Tensor
    actions: torch.Tensor | None
    positions: torch.Tensor
    context_frames: int

    @property
    def context(self) -> torch.Tensor:
        """The first k frames ``(m, k, C, H, W)``."""
        return self.frames[:, :self.context_frames]

    @property
    def future(self) -> torch.Tensor:
        """The frames after the context ``(m, T - k, C, H, W)``."""
        return self.frames[:, self.context_frames:]

    @property
    def target(self) -> torch.Tensor:
        """Frame k, the one to predict ``(m, C, H, W)``."""
        return self.frames[:, self.context_frames]

    def future_actions(self) -> torch.Tensor | None:
        """The actions that make the future frames ``(m, T - k, A)`` (None for moving2)."""
        return None if self.actions is None else self.actions[:, self.context_frames - 1:]


def trajectories(spec: SequenceSpec, m: int, frames: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Top-left positions ``(m, frames, S, 2)`` int64 (y, x) in ``[0, canvas - sprite]`` and, for action
    sequences, the actions ``(m, frames - 1)`` int64 indices into :data:`ACTIONS`, drawn from ``generator``."""
    limit = spec.canvas - spec.sprite
    s = spec.sprites_per_clip
    if spec.kind == "moving2":
        pos = torch.rand(m, s, 2, generator=generator, dtype=torch.float64) * limit
        angle = torch.rand(m, s, generator=generator, dtype=torch.float64) * 2 * np.pi
        lo, hi = (v * spec.canvas / 64 for v in SPEED_RANGE_64)
        speed = lo + (hi - lo) * torch.rand(m, s, generator=generator, dtype=torch.float64)
        vel = torch.stack([speed * torch.sin(angle), speed * torch.cos(angle)], -1)  # (m, S, 2)
        out = [pos.clone()]
        for _ in range(frames - 1):
            pos = pos + vel
            low, high = pos < 0, pos > limit  # bounce: reflect the position, flip the velocity component
            pos = torch.where(low, -pos, torch.where(high, 2 * limit - pos, pos))
            vel = torch.where(low | high, -vel, vel)
            out.append(pos.clone())
        return torch.stack(out, 1).round().long().clamp_(0, limit), None
    pos = torch.randint(0, limit + 1, (m, 1, 2), generator=generator)
    actions = torch.randint(0, len(ACTIONS), (m, frames - 1), generator=generator)
    moves = torch.tensor(ACTION_MOVES) * spec.action_step  # (A, 2)
    out = [pos.clone()]
    for t in range(frames - 1):
        pos = (pos + moves[actions[:, t]][:, None]).clamp_(0, limit)  # a wall stops the sprite
        out.append(pos.clone())
    return torch.stack(out, 1), actions


def render(sprites: torch.Tensor, positions: torch.Tensor, canvas: int) -> torch.Tensor:
    """Frames ``(m, T, C, canvas, canvas)`` in [0, 1]: sprites ``(m, S, C, s, s)`` in [0, 1] at the top-left
    ``positions (m, T, S, 2)`` on a black canvas, overlapping sprites combined by their pixelwise maximum."""
    m, n_sprites, c, s, _ = sprites.shape
    frames = torch.zeros(m, positions.shape[1], c, canvas, canvas, dtype=sprites.dtype, device=sprites.device)
    pos = positions.tolist()
    for i in range(m):
        for t in range(positions.shape[1]):
            for j in range(n_sprites):
                y, x = pos[i][t][j]
                window = frames[i, t, :, y:y + s, x:x + s]
                torch.maximum(window, sprites[i, j], out=window)
    return frames


def make_clips(sprites: torch.Tensor, spec: SequenceSpec, frames: int, generator: torch.Generator) -> Clips:
    """Clips of ``frames`` frames in [0, 1] from sprites ``(m, S, C, s, s)`` in [0, 1]; motion from
    ``generator``."""
    positions, actions = trajectories(spec, len(sprites), frames, generator)
    one_hot = None
    if actions is not None:
        one_hot = F.one_hot(actions, len(ACTIONS)).to(sprites.dtype).to(sprites.device)
    return Clips(render(sprites, positions, spec.canvas), one_hot, positions, spec.context)


def pair_sprites(x: torch.Tensor, per_clip: int) -> torch.Tensor:
    """A minibatch of sprites ``(m, C, s, s)`` -> the sprites of m clips ``(m, per_clip, C, s, s)``: clip i
    shows sprite i and (with two) sprite ``(i + m // 2) mod m``."""
    if per_clip == 1:
        return x[:, None]
    m = len(x)
    return torch.stack([x, x.roll(-(m // 2), 0)], 1)


class SequenceCondition:
    """The data layer's condition for sequences: ``condition(x, seed)`` maps a minibatch of sprites ``(m, C, s,
    s)`` in the model range [-1, 1] to :class:`Clips` of ``k + 1`` frames in [-1, 1] (context and target), the
    motion drawn from ``torch.Generator().manual_seed(seed)``."""

    def __init__(self, spec: SequenceSpec):
        self.spec = spec

    def __call__(self, x: torch.Tensor, seed: int) -> Clips:
        generator = torch.Generator().manual_seed(seed)
        sprites = pair_sprites(x.float().add(1.0).mul_(0.5), self.spec.sprites_per_clip)
        clips = make_clips(sprites, self.spec, self.spec.context + 1, generator)
        clips.frames = clips.frames.mul_(2.0).sub_(1.0)
        return clips


def resize_sprites(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images ``(N, C, H, W)`` -> uint8 sprites ``(N, C, size, size)`` (antialiased bilinear, rounded;
    the images pass unchanged when already that size)."""
    x = torch.as_tensor(np.asarray(images))
    if tuple(x.shape[-2:]) == (size, size):
        return x.clone()
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def with_sequences(ds: ArrayDataset, sequences: str | None, context: int = 4, canvas: int = 64) -> ArrayDataset:
    """``ds`` with its images as sprites and the sequences' :class:`SequenceCondition` (``ds.condition``), or
    ``ds`` unchanged without ``sequences``."""
    if not sequences:
        return ds
    spec = SequenceSpec.parse(sequences, context, canvas)
    if ds.kind != "image":
        raise UserError(f"--sequences: dataset {ds.name} holds {ds.kind}: expected an image dataset (its images "
                        "become the moving sprites)")
    arrays = {split: resize_sprites(arr, spec.sprite).numpy() for split, arr in ds.arrays.items()}
    return ArrayDataset(ds.name, ds.kind, arrays, ds.labels, ds.num_classes, ds.class_names,
                        ds.source + f" ({spec.kind} sequences of {spec.sprite}x{spec.sprite} sprites on "
                                    f"{spec.canvas}x{spec.canvas})", {**ds.meta, "sequences": spec},
                        SequenceCondition(spec))


def evaluation_sprite_indices(n_images: int, n: int, per_clip: int, seed: int = TEST_SEQUENCES_SEED
                              ) -> torch.Tensor:
    """Which test images the ``n`` evaluation clips show: int64 ``(n, per_clip)`` indices into the test split,
    a pure function of the seed (drawn with replacement across clips, distinct within one when possible)."""
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(0, n_images, (n,), generator=generator)
    if per_clip == 1:
        return first[:, None]
    if n_images == 1:
        return torch.stack([first, first], 1)
    offset = torch.randint(1, n_images, (n,), generator=generator)  # a second sprite other than the first
    return torch.stack([first, (first + offset) % n_images], 1)


def evaluation_clips(test_uint8: np.ndarray, spec: SequenceSpec, n: int, future: int,
                     seed: int = TEST_SEQUENCES_SEED) -> tuple[Clips, torch.Tensor]:
    """``n`` evaluation clips of ``k + future`` frames in [0, 1] made from the test split's uint8 images ``(N, C,
    H, W)`` (resized to sprites), sprites and motion chosen by ``seed``; returns ``(clips, indices)`` with the
    test-split indices ``(n, S)`` of the sprites each clip shows."""
    idx = evaluation_sprite_indices(len(test_uint8), n, spec.sprites_per_clip, seed)
    chosen = resize_sprites(np.asarray(test_uint8)[idx.flatten().numpy()], spec.sprite).float().div_(255.0)
    sprites = chosen.view(n, spec.sprites_per_clip, *chosen.shape[1:])
    generator = torch.Generator().manual_seed(seed + 1)
    return make_clips(sprites, spec, spec.context + future, generator), idx
