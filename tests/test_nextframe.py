"""Next-frame prediction (issue 14): moving-sprite sequences from the data layer, the gradient difference loss,
the roll-out, the measures, ``ganforge predict`` and an action-conditioned model that learns its actions."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganforge.cli import main
from ganforge.data import ArrayDataset, load_dataset
from ganforge.data.sequences import (
    ACTION_MOVES,
    ACTIONS,
    SequenceCondition,
    SequenceSpec,
    evaluation_clips,
    evaluation_sprite_indices,
    render,
    trajectories,
    with_sequences,
)
from ganforge.errors import UserError
from ganforge.images import grid_scale
from ganforge.metrics.prediction import gradient_ratio, prediction_measures, sharpness_difference
from ganforge.models import config_for
from ganforge.models.nextframe import copy_last_frame, gradient_difference_loss, rollout
from ganforge.run import load_run
from ganforge.train import Trainer
from ganforge.viz.nextframe import clip_bytes, gif_frames, rollout_pairs

TINY_NF = ["--model", "nextframe", "--data", "digits", "--canvas", "16", "--frame-scales", "2", "--width", "4",
           "--batch-size", "8", "--no-progress", "--device", "cpu"]


def constant_sprites(values, size: int = 7) -> np.ndarray:
    """uint8 ``(len(values), 1, size, size)``: sprite i is a square of grey level ``values[i]`` everywhere."""
    return np.repeat(np.asarray(values, dtype=np.uint8), size * size).reshape(len(values), 1, size, size)


def labelled_sprites() -> ArrayDataset:
    """A dataset whose train and test sprites are told apart by their grey level: train 1..40, test 101..140."""
    train, test = constant_sprites(range(1, 41)), constant_sprites(range(101, 141))
    return ArrayDataset("sprites", "image", {"train": train, "val": test[:5], "test": test},
                        {"train": np.zeros(40, np.int64), "val": np.zeros(5, np.int64), "test": np.zeros(40, np.int64)},
                        num_classes=1)


# ----------------------------------------------------------------------------- the sequences
def test_sequences_are_a_function_of_the_seed():
    spec = SequenceSpec.parse("moving2", 4, 32)
    x = torch.rand(6, 1, spec.sprite, spec.sprite) * 2 - 1
    a, b, c = SequenceCondition(spec)(x, 5), SequenceCondition(spec)(x, 5), SequenceCondition(spec)(x, 6)
    assert a.frames.shape == (6, 5, 1, 32, 32)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.positions, b.positions)
    assert not torch.equal(a.positions, c.positions)


def test_training_clips_show_train_sprites_and_evaluation_clips_test_sprites(tmp_path):
    ds = labelled_sprites()
    cfg = config_for(model="nextframe", data="sprites", canvas=16, frame_scales=2, width=4, batch_size=8, steps=1,
                     device="cpu")
    trainer = Trainer(cfg, tmp_path / "run", dataset=ds, progress=False)
    seen = set()
    for _ in range(6):
        _, _, clips = trainer.sampler.next_with_condition()
        levels = ((clips.frames + 1) * 127.5).round().long().unique().tolist()
        seen |= set(levels)
    assert seen - {0} and seen - {0} <= set(range(1, 41))  # train grey levels only (0: the black canvas)

    indices = evaluation_sprite_indices(40, 64, 2)
    assert torch.equal(indices, evaluation_sprite_indices(40, 64, 2))  # the fixed evaluation seed
    assert indices.min() >= 0 and indices.max() < 40 and bool((indices[:, 0] != indices[:, 1]).all())
    spec = SequenceSpec.parse("moving2", 4, 16)
    clips, idx = evaluation_clips(ds.split("test"), spec, 64, 3)
    assert torch.equal(idx, indices)
    for i in range(64):  # each clip shows exactly its two test sprites
        levels = set((clips.frames[i] * 255).round().long().unique().tolist()) - {0}
        assert levels <= {101 + int(idx[i, 0]), 101 + int(idx[i, 1])} and levels


def test_bouncing_sprites_stay_inside_the_canvas_and_bounce():
    spec = SequenceSpec.parse("moving2", 4, 32)
    limit = spec.canvas - spec.sprite
    positions, actions = trajectories(spec, 50, 60, torch.Generator().manual_seed(0))
    assert actions is None and positions.shape == (50, 60, 2, 2)
    assert positions.min() >= 0 and positions.max() <= limit
    steps = positions.diff(dim=1).float()
    flips = (steps[:, 1:] * steps[:, :-1] < 0).sum()  # a velocity component changed sign: a bounce
    assert flips > 50
    sprite = torch.ones(50, 1, 1, spec.sprite, spec.sprite)
    frames = render(sprite, positions[:, :, :1], spec.canvas)  # one sprite: always wholly on the canvas
    assert bool((frames.sum((2, 3, 4)) == spec.sprite ** 2).all())


def test_action_sequences_move_the_sprite_the_commanded_way():
    spec = SequenceSpec.parse("action", 2, 32)
    limit, step = spec.canvas - spec.sprite, spec.action_step
    positions, actions = trajectories(spec, 40, 12, torch.Generator().manual_seed(1))
    frames = render(torch.ones(40, 1, 1, spec.sprite, spec.sprite), positions, spec.canvas)[:, :, 0]  # (m, T, H, W)
    grid = torch.arange(spec.canvas, dtype=torch.float32)
    cy = (frames.sum(3) * grid).sum(2) / frames.sum((2, 3))  # centroid of every frame, from the pixels
    cx = (frames.sum(2) * grid).sum(2) / frames.sum((2, 3))
    moved = 0
    for i in range(40):
        for t in range(11):
            dy, dx = ACTION_MOVES[int(actions[i, t])]
            y, x = positions[i, t, 0].tolist()
            if not (0 <= y + dy * step <= limit and 0 <= x + dx * step <= limit):
                continue  # the wall stops it
            assert float(cy[i, t + 1] - cy[i, t]) == pytest.approx(dy * step)
            assert float(cx[i, t + 1] - cx[i, t]) == pytest.approx(dx * step)
            moved += ACTIONS[int(actions[i, t])] != "none"
    assert moved > 100


def test_context_frames_below_two_and_sequences_on_points_are_one_line(tmp_path, capsys):
    assert main(["train", *TINY_NF, "--context-frames", "1", "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "context_frames" in err and "expected an integer >= 2" in err
    with pytest.raises(UserError, match="expected an image dataset"):
        with_sequences(load_dataset("ring8"), "moving2")
    with pytest.raises(UserError, match="none unless --model nextframe"):
        config_for(model="dcgan", sequences="moving2")
    with pytest.raises(UserError, match="pairs or sequences, not both"):
        config_for(model="nextframe", pairs="sr2")


# ----------------------------------------------------------------------------- loss, roll-out, measures
def test_gradient_difference_loss_equals_a_hand_computation():
    true = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]]]])  # (1, 1, 2, 3)
    pred = torch.tensor([[[[1.0, 1.0, 1.0], [0.0, 4.0, 1.0]]]])
    # vertical |t| = |2-0|, |2-1|, |0-3| = 2, 1, 3; |p| = 1, 3, 0 -> |2-1|, |1-3|, |3-0| = 1, 2, 3: mean 2
    # horizontal |t| = 1, 2, 0, 2; |p| = 0, 0, 4, 3 -> 1, 2, 4, 1: mean 2
    assert float(gradient_difference_loss(pred, true)) == pytest.approx(4.0)
    # alpha 2: (1 + 4 + 9) / 3 + (1 + 4 + 16 + 1) / 4
    assert float(gradient_difference_loss(pred, true, alpha=2.0)) == pytest.approx(14 / 3 + 22 / 4)
    assert float(gradient_difference_loss(true + 0.5, true)) == 0.0  # a constant shift keeps every gradient


class MeanOfWindow(nn.Module):
    """A stand-in generator: predicts the mean of its k input frames (C = 1), as a one-scale list."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # a module with a device

    def forward(self, x):
        return [x.mean(1, keepdim=True)]


def test_rollout_feeds_each_prediction_back():
    cfg = config_for(model="nextframe", data="digits", canvas=16, frame_scales=2, width=4, context_frames=2,
                     adversarial_weight=0.0)
    from ganforge.models import MODELS, DataInfo

    model = MODELS["nextframe"].build(cfg, DataInfo("image", (1, 7, 7)))
    model.generator = MeanOfWindow()
    a, b = torch.full((1, 1, 16, 16), 0.2), torch.full((1, 1, 16, 16), 0.6)
    out = rollout(model, torch.stack([a, b], 1), 3)
    # in the model range: a = -0.6, b = 0.2; p1 = -0.2, p2 = (0.2 - 0.2) / 2 = 0, p3 = (-0.2 + 0) / 2 = -0.1
    expected = [0.4, 0.5, 0.45]  # back in [0, 1]; without feeding back every step would be 0.4
    assert out.shape == (1, 3, 1, 16, 16)
    assert [float(out[0, t].mean()) for t in range(3)] == pytest.approx(expected)
    assert torch.equal(copy_last_frame(torch.stack([a, b], 1), 2), torch.stack([b, b], 1))


def test_sharpness_measures_on_fixed_images():
    true = torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])
    blurred = torch.full_like(true, 1 / 9)  # the 3x3 mean everywhere: no edges left
    # gradients on the 2x2 grid of pixels (i, j >= 1): true gy + gx = [[2, 1], [1, 0]], blurred 0
    assert float(gradient_ratio(true, true)) == pytest.approx(1.0)
    assert float(gradient_ratio(blurred, true)) == pytest.approx(0.0)
    assert float(sharpness_difference(blurred, true)) == pytest.approx(10 * np.log10(1 / 1.0))
    half = true * 0.5  # gy + gx = [[1, .5], [.5, 0]]: mean |difference| = (1 + .5 + .5 + 0) / 4 = .5
    assert float(sharpness_difference(half, true)) == pytest.approx(10 * np.log10(1 / 0.5))
    assert float(gradient_ratio(half, true)) == pytest.approx(0.5)
    values = prediction_measures(torch.stack([half, true], 1), torch.stack([true, true], 1))
    assert values["grad_ratio_1"] == pytest.approx(0.5) and values["grad_ratio_2"] == pytest.approx(1.0)
    assert values["psnr_1"] == pytest.approx(10 * np.log10(9 / 0.25))  # one pixel off by 0.5 of nine


# ----------------------------------------------------------------------------- the model through the loop
@pytest.fixture(scope="module")
def nf_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("nf") / "nextframe"
    assert main(["train", *TINY_NF, "--steps", "2", "--sample-every", "2", "--out", str(run)]) == 0
    return run


def test_predict_writes_a_gif_of_context_and_predicted_frames(nf_run, tmp_path, capsys):
    out = tmp_path / "p.gif"
    assert main(["predict", str(nf_run), "--frames", "3", "--n", "2", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames == 4 + 3  # k context frames, then 3 predicted
        # every frame as drawn (pictures streamed to the writer, not all kept): true | predicted, bordered
        run = load_run(nf_run)
        true, predicted = (clip_bytes(c) for c in rollout_pairs(run.model, run.dataset().split("test"), 2, 3))
        expected = list(gif_frames(true, predicted, 4, grid_scale(true.shape[-1])))
        for t, picture in enumerate(expected):
            im.seek(t)
            assert np.array_equal(np.asarray(im.convert("RGB")), picture), t
    capsys.readouterr()
    assert main(["predict", str(nf_run), "--frames", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--frames 0" in err
    # a GIF row per sequence: 100,000 of them is no picture, and once took the machine's whole memory
    assert main(["predict", str(nf_run), "--n", "100000", "--frames", "1", "--out", str(out)]) == 2
    assert "--n 100000: expected an integer from 1 to 64" in capsys.readouterr().err


def test_predict_on_a_run_of_another_model_is_one_line(tmp_path, capsys):
    run = tmp_path / "dcgan"
    assert main(["train", "--data", "digits", "--width", "8", "--latent-dim", "4", "--steps", "1", "--out",
                 str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "--frames", "3", "--out", str(tmp_path / "p.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "expected a nextframe run" in err and not (tmp_path / "p.gif").exists()


def test_eval_of_a_nextframe_run_reports_every_step_beside_copying_the_last_frame(nf_run, tmp_path):
    assert main(["eval", str(nf_run), "--n", "20", "--out", str(tmp_path / "e.json")]) == 0
    values = json.loads((tmp_path / "e.json").read_text())["values"]
    for t in range(1, 6):
        assert {f"psnr_{t}", f"ssim_{t}", f"sharpness_{t}", f"grad_ratio_{t}", f"copy_psnr_{t}"} <= set(values)
    assert values["sequences"] == 20
    # the figures are the measures of this run's roll-out and of the copy baseline on the first 20 test clips
    model = load_run(nf_run).model
    clips, _ = evaluation_clips(load_dataset("digits").split("test"), model.seq_spec, 20, 5)
    expected = prediction_measures(rollout(model, clips.context, 5, clips.future_actions()), clips.future)
    copied = prediction_measures(copy_last_frame(clips.context, 5), clips.future)
    for t in range(1, 6):
        assert values[f"psnr_{t}"] == pytest.approx(expected[f"psnr_{t}"], rel=1e-5)
        assert values[f"ssim_{t}"] == pytest.approx(expected[f"ssim_{t}"], rel=1e-5, abs=1e-7)
        assert values[f"copy_psnr_{t}"] == pytest.approx(copied[f"psnr_{t}"], rel=1e-5)


def centroid(frames: torch.Tensor) -> torch.Tensor:
    """Intensity centroids ``(N, 2)`` (y, x) of frames ``(N, 1, H, W)`` in [0, 1]."""
    grid = torch.arange(frames.shape[-1], dtype=torch.float32)
    mass = frames.sum((1, 2, 3))
    return torch.stack([(frames.sum((1, 3)) * grid).sum(1) / mass, (frames.sum((1, 2)) * grid).sum(1) / mass], 1)


def test_a_short_training_learns_to_move_the_sprite_the_commanded_way(tmp_path):
    # L2 + GDL on 7x7 digits on a 16x16 canvas: about 6 CPU seconds
    ds = load_dataset("digits")
    cfg = config_for(model="nextframe", data="digits", sequences="action", canvas=16, frame_scales=2, width=8,
                     context_frames=2, adversarial_weight=0.0, lr=3e-3, batch_size=32, steps=150, device="cpu",
                     sample_every=10_000, checkpoint_every=10_000)
    trainer = Trainer(cfg, tmp_path / "run", dataset=ds, progress=False)
    trainer.fit()
    spec = trainer.model.seq_spec
    # test sprites resting in the middle of the canvas for the k context frames, then each action in turn
    sprites = with_sequences(ds, "action", 2, 16).split("test")[:64]
    middle = (spec.canvas - spec.sprite) // 2
    positions = torch.full((64, 2, 1, 2), middle)
    context = render(torch.as_tensor(sprites).float()[:, None] / 255.0, positions, spec.canvas)
    before = centroid(context[:, -1])
    moves = {}
    for a, name in enumerate(ACTIONS):
        one_hot = torch.nn.functional.one_hot(torch.full((64, 1), a), len(ACTIONS)).float()
        moves[name] = (centroid(rollout(trainer.model, context, 1, one_hot)[:, 0]) - before).mean(0)
    step = spec.action_step
    assert moves["right"][1] > step / 2 and moves["left"][1] < -step / 2
    assert moves["down"][0] > step / 2 and moves["up"][0] < -step / 2
    assert moves["none"].abs().max() < step / 2


def test_report_of_a_nextframe_run_shows_true_and_predicted_frames(nf_run):
    assert main(["report", str(nf_run)]) == 0
    page = (nf_run / "report.html").read_text()
    assert "Next-frame prediction" in page and "nextframe_rollouts.png" in page
    assert "Latent interpolations" not in page  # a next-frame run's latents are its input frames
    with Image.open(nf_run / "report" / "nextframe_rollouts.png") as im:
        assert im.size[0] > im.size[1]  # 9 frames a row, 8 rows of 16-pixel frames, scaled alike
