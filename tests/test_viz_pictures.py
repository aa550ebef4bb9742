"""Training pictures: metrics.jsonl curves, the fixed-noise progression GIF and strip, GIF writing."""

import json

import numpy as np
import pytest
from PIL import Image

from ganforge.errors import UserError
from ganforge.viz.curves import group_series, plot_training_curves, read_metrics
from ganforge.viz.plotting import save_gif
from ganforge.viz.progression import pick_moments, write_progression


def _write_log(run_dir, records):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_read_metrics_returns_each_numeric_series_by_step(tmp_path):
    _write_log(tmp_path, [{"step": 10, "epoch": 0.5, "loss/D": 1.2, "D/real": 0.7, "note": "x"},
                          {"step": 20, "epoch": 1.0, "loss/D": 1.1, "D/real": 0.6, "metric/fid": 30.5}])
    series = read_metrics(tmp_path / "metrics.jsonl")
    np.testing.assert_array_equal(series["loss/D"][0], [10, 20])
    np.testing.assert_array_equal(series["loss/D"][1], [1.2, 1.1])
    np.testing.assert_array_equal(series["metric/fid"][0], [20])
    assert "note" not in series
    assert group_series(series) == {"losses": ["loss/D"], "discriminator": ["D/real"], "metrics": ["metric/fid"]}


def test_read_metrics_names_the_bad_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss/D": 1}\nnot json\n')
    with pytest.raises(UserError, match="line 2"):
        read_metrics(tmp_path / "metrics.jsonl")


def test_training_curves_are_written_per_group(tmp_path):
    _write_log(tmp_path, [{"step": s, "epoch": s / 10, "loss/D": 1.0 / s, "loss/G": 0.5, "D/real": 0.6,
                           "D/fake": 0.4} for s in range(1, 11)])
    written = plot_training_curves(tmp_path, tmp_path / "out")
    assert sorted(p.name for p in written) == ["curves_discriminator.png", "curves_losses.png"]
    for p in written:
        assert Image.open(p).size[0] > 300
    assert plot_training_curves(tmp_path / "missing", tmp_path / "out2") == []


def test_pick_moments_keeps_the_ends_and_favours_early_steps():
    steps = list(range(0, 1001, 10))
    picked = pick_moments(steps, 6)
    assert picked[0] == 0 and picked[-1] == 1000 and len(picked) == 6
    assert sum(s < 200 for s in picked) >= 3  # most change happens early
    assert pick_moments([0, 5, 9], 6) == [0, 5, 9]


def test_gif_holds_every_frame_in_order(tmp_path):
    frames = [np.full((10, 12, 3), v, dtype=np.uint8) for v in (0, 100, 200)]
    path = save_gif(frames, tmp_path / "a.gif", fps=10)
    im = Image.open(path)
    assert im.n_frames == 3
    means = []
    for i in range(3):
        im.seek(i)
        means.append(np.asarray(im.convert("RGB")).mean())
    np.testing.assert_allclose(means, [0, 100, 200], atol=2)


def test_progression_animates_every_sample_grid_with_its_step(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    for i, step in enumerate((0, 50, 100, 150)):
        Image.fromarray(np.full((20, 20, 3), 60 * i, dtype=np.uint8)).save(run / "samples" / f"step_{step:06d}.png")
    _write_log(run, [{"step": s, "epoch": s / 100} for s in (50, 100, 150)])
    written = write_progression(run, tmp_path / "out", strip_count=3)
    gif = Image.open(written["gif"])
    assert gif.n_frames == 4
    strip = Image.open(written["strip"])
    assert strip.size[0] > 3 * 20 and strip.size[1] > 20
    assert write_progression(tmp_path / "empty", tmp_path / "out3") == {}


def test_mp4_is_written_only_when_ffmpeg_exists(tmp_path):
    from ganforge.viz.plotting import ffmpeg_available, save_mp4

    frames = [np.full((11, 13, 3), v, dtype=np.uint8) for v in (0, 255)]  # odd sides: padded for yuv420p
    result = save_mp4(frames, tmp_path / "a.mp4")
    if ffmpeg_available():
        assert result == tmp_path / "a.mp4" and result.stat().st_size > 0
    else:
        assert result is None and not (tmp_path / "a.mp4").exists()
