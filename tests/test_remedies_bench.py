"""``bench/remedies_modes.py``'s scoring (docs/models.md, "The remedies on ring8 and grid25"): VEEGAN's count and
PacGAN's stricter one on hand-placed points, and ``--score`` of a saved run equal to scoring its samples by hand."""


import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.data import load_dataset
from ganforge.metrics.modes import mode_coverage
from ganforge.run import load_run
from ganforge.train import Trainer


@pytest.fixture(scope="module")
def bench(repo_script):
    return repo_script("bench/remedies_modes.py")


def test_strict_count_needs_20_high_quality_samples_of_a_mode(bench):
    ds = load_dataset("grid25")
    x = torch.full((2500, 2), 100.0)  # far from every mode: not high quality
    x[:20] = torch.tensor([-4.0, -4.0]) + 0.1  # 20 at 0.14 of mode (-4, -4): within 3 std = 0.15
    x[20:39] = torch.tensor([4.0, 4.0])  # 19 on mode (4, 4)
    x[39] = torch.tensor([0.0, 0.16])  # just outside 3 std of (0, 0)
    cov = bench.score_points(x, ds)
    assert (cov["modes_covered"], cov["strict"]) == (2, 1)
    assert cov["high_quality_fraction"] == 39 / 2500


def test_score_of_a_saved_run_is_its_fixed_latents_scored(bench, tmp_path):
    cfg = TrainConfig(model="gan", data="grid25", gan_recipe="pacgan", width=16, latent_dim=2, batch_size=8,
                      steps=2, keep_every=1, sample_every=1000, checkpoint_every=1000, g_ema=100.0)
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    run = load_run(tmp_path / "run", tmp_path / "run" / "checkpoints" / "step_000001.pt")
    with torch.inference_mode():  # G's average, in eval mode, on the bench's latents
        x = run.model.generate(run.model.sample_latent(2500, torch.Generator().manual_seed(123)))
    expected = mode_coverage(x, load_dataset("grid25").meta["means"], 0.05)
    saved, ds = bench.load_saved(f"{tmp_path / 'run'}:step_000001.pt")
    assert (saved.data_name, saved.step) == ("grid25", 1)
    cov = bench.score_saved(saved, ds)
    assert cov["mode_counts"] == expected["mode_counts"]
    assert cov["high_quality_fraction"] == expected["high_quality_fraction"]
    assert bench.load_saved(str(tmp_path / "run"))[0].step == 2  # no checkpoint named: the latest
