"""Latent tools: interpolation paths, arithmetic, nearest neighbours."""

import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from ganforge.errors import UserError
from ganforge.viz.latent import (
    labels_by_nearest_neighbours,
    latent_arithmetic,
    lerp,
    nearest_neighbours,
    slerp,
)


def test_lerp_is_the_straight_line_with_equal_steps():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = lerp(z0, z1, torch.linspace(0, 1, 5))
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path[2], (z0 + z1) / 2)
    steps = path.diff(dim=0).norm(dim=1)
    torch.testing.assert_close(steps, torch.full((4,), (z1 - z0).norm().item() / 4))


def test_slerp_keeps_the_norm_and_turns_by_equal_angles():
    """Between two latents of equal norm, slerp stays on their sphere and moves by equal angles."""
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g).double(), torch.randn(100, generator=g).double()
    z1 = z1 / z1.norm() * z0.norm()
    t = torch.linspace(0, 1, 9)
    path = slerp(z0, z1, t)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path.norm(dim=1), torch.full((9,), z0.norm().item(), dtype=torch.float64))
    omega = math.acos(float(torch.dot(z0, z1) / (z0.norm() * z1.norm())))
    unit = path / path.norm(dim=1, keepdim=True)
    angles = torch.arccos((unit[:-1] * unit[1:]).sum(1).clamp(-1, 1))
    torch.testing.assert_close(angles, torch.full((8,), omega / 8, dtype=torch.float64))


def test_slerp_midpoint_is_not_shorter_than_its_ends_but_lerp_midpoint_is():
    """Why spherical: for Gaussian z in 100-D, the straight line's midpoint has norm ~ sqrt(D/2), atypical."""
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    mid_l = lerp(z0, z1, torch.tensor([0.5]))[0].norm()
    mid_s = slerp(z0, z1, torch.tensor([0.5]))[0].norm()
    assert mid_l < 0.8 * min(z0.norm(), z1.norm())
    assert mid_s >= 0.99 * min(z0.norm(), z1.norm())


def test_slerp_of_parallel_latents_falls_back_to_lerp():
    z0 = torch.tensor([1.0, 1.0])
    path = slerp(z0, 3 * z0, torch.linspace(0, 1, 3))
    torch.testing.assert_close(path, lerp(z0, 3 * z0, torch.linspace(0, 1, 3)))


def test_latent_arithmetic_is_mean_a_minus_mean_b_plus_mean_c():
    g = torch.Generator().manual_seed(2)
    a, b, c = torch.randn(3, 5, generator=g), torch.randn(2, 5, generator=g), torch.randn(4, 5, generator=g)
    torch.testing.assert_close(latent_arithmetic(a, b, c), a.mean(0) - b.mean(0) + c.mean(0))
    # A - A + C = mean C: subtracting a concept and adding it back changes nothing
    torch.testing.assert_close(latent_arithmetic(a, a, c), c.mean(0))
    with pytest.raises(UserError, match="group B"):
        latent_arithmetic(a, torch.empty(0, 5), c)


def test_nearest_neighbours_match_sklearn():
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(300, 1, 4, 4)).astype(np.float32)
    queries = rng.normal(size=(40, 1, 4, 4)).astype(np.float32)
    dist, idx = nearest_neighbours(torch.from_numpy(queries), torch.from_numpy(reference), k=3, chunk=16)
    nn_ref = NearestNeighbors(n_neighbors=3).fit(reference.reshape(300, -1))
    ref_dist, ref_idx = nn_ref.kneighbors(queries.reshape(40, -1))
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=1e-6)


def test_a_training_image_is_its_own_nearest_neighbour():
    reference = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    dist, idx = nearest_neighbours(reference[[7, 21]], reference, k=1)
    assert idx[:, 0].tolist() == [7, 21]
    assert dist.abs().max() == 0


def test_nearest_neighbour_labels_recover_cluster_labels():
    """Images near one of three prototypes get that prototype's label by 5-NN vote."""
    g = torch.Generator().manual_seed(5)
    protos = torch.rand(3, 1, 6, 6, generator=g)
    train_y = torch.arange(3).repeat_interleave(20)
    train_x = protos[train_y] + 0.05 * torch.randn(60, 1, 6, 6, generator=g)
    test_y = torch.tensor([2, 0, 1, 1, 2])
    test_x = protos[test_y] + 0.05 * torch.randn(5, 1, 6, 6, generator=g)
    assert labels_by_nearest_neighbours(test_x, train_x, train_y, k=5).tolist() == test_y.tolist()


def test_nearest_neighbours_reject_k_larger_than_the_reference():
    with pytest.raises(UserError, match="k=4"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(3, 3), k=4)


# ----------------------------------------------------------------- the commands, on a tiny image run
@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from ganforge.config import TrainConfig
    from ganforge.train import Trainer
    from ganforge.viz.lab1d import torch_threads

    run = tmp_path_factory.mktemp("latent") / "run"
    cfg = TrainConfig(model="dcgan", data="digits", steps=2, sample_every=2, checkpoint_every=2, width=8,
                      batch_size=16, device="cpu")
    with torch_threads(1):
        Trainer(cfg, run, progress=False).fit()
    return run


def test_interpolation_paths_start_and_end_at_the_seeded_latents(image_run):
    from ganforge.run import load_run
    from ganforge.viz.latent import interpolation_latents

    run = load_run(image_run)
    z = interpolation_latents(run, rows=3, steps=5, mode="spherical", seed=7).view(3, 5, -1)
    ends = run.model.sample_latent(6, torch.Generator().manual_seed(7))
    torch.testing.assert_close(z[:, 0], ends[0::2])
    torch.testing.assert_close(z[:, -1], ends[1::2])


def test_latent_commands_write_their_figures(image_run, tmp_path, capsys):
    from PIL import Image

    from ganforge.cli import main
    from ganforge.images import grid_scale

    assert main(["latent", "interpolate", str(image_run), "--rows", "3", "--steps", "6", "--out",
                 str(tmp_path / "walk.gif")]) == 0
    assert Image.open(tmp_path / "walk.gif").n_frames == 2 * 6 - 2  # there and back
    assert main(["latent", "interpolate", str(image_run), "--mode", "linear", "--rows", "2", "--steps", "4",
                 "--out", str(tmp_path / "grid.png")]) == 0
    # 8x8 digits: 4 columns of (8 + 2 padding) + 2 and 2 rows, upscaled like every sample grid
    scale = grid_scale(8)
    assert Image.open(tmp_path / "grid.png").size == (scale * (4 * 10 + 2), scale * (2 * 10 + 2))
    assert main(["latent", "arithmetic", str(image_run), "--a", "0,1", "--b", "2", "--c", "3,4,5", "--n", "8",
                 "--out", str(tmp_path / "arith.png")]) == 0
    assert (tmp_path / "arith.png").is_file()
    assert main(["latent", "arithmetic", str(image_run), "--a", "0", "--b", "9", "--c", "1", "--n", "8",
                 "--out", str(tmp_path / "bad.png")]) == 2  # index 9 of 8 samples
    assert main(["latent", "arithmetic", str(image_run), "--a-label", "33", "--b-label", "1", "--c-label", "2",
                 "--n", "8", "--out", str(tmp_path / "bad.png")]) == 2  # digits has classes 0-9
    assert "expected a class label in [0, 9]" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()
    assert main(["latent", "neighbours", str(image_run), "--n", "3", "--k", "4", "--out",
                 str(tmp_path / "nn.png")]) == 0
    assert Image.open(tmp_path / "nn.png").size == (scale * (5 * 10 + 2), scale * (3 * 10 + 2))
