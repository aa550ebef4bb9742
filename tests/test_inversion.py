"""Latent inversion (``ganforge.inversion``, ``LoadedRun.invert``, ``ganforge invert``): a known latent of a fixed
random generator is recovered; an encoder is the start when the model has one; the prior constraint holds;
bad input is one line and exit code 2."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganforge.cli import main
from ganforge.errors import UserError
from ganforge.inversion import NORM_MARGIN, invert_latents
from ganforge.models import MODELS, DataInfo, GANModel, config_for
from ganforge.run import load_run


class FixedRandomGenerator(GANModel):
    """z (N, 3) -> (N, 1, 8, 8) in [-1, 1] through a fixed random MLP (PyTorch's default init, seed 0);
    ``encoder`` (optional) is an oracle returning given latents."""

    def __init__(self, prior="normal", oracle=None):
        cfg = config_for(model="gan", data="digits", latent_dim=3, prior=prior)
        super().__init__(cfg, DataInfo("image", (1, 8, 8)))
        torch.manual_seed(0)
        self.generator = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 64), nn.Tanh(),
                                       nn.Unflatten(1, (1, 8, 8)))
        self.discriminator = None
        if oracle is not None:
            self.encode = lambda x: oracle[:len(x)]


def known_images(model, n=6, seed=1):
    z = model.sample_latent(n, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return z, model.generate(z)


def test_recovers_a_known_latent_of_a_fixed_random_generator():
    model = FixedRandomGenerator()
    z_true, x = known_images(model)
    start = invert_latents(model, x, steps=0, restarts=1)
    result = invert_latents(model, x, steps=300, lr=0.05, restarts=3, prior_weight=0.0)
    assert result.start == "random" and result.space == "z"
    assert start.error.mean() > 1e-2  # the random starts are far off: the optimisation does the work
    assert result.error.max() < 1e-4
    torch.testing.assert_close(result.reconstruction, x, atol=0.03, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(model.generate(result.latent), result.reconstruction)
    assert (result.latent - z_true).norm(dim=1).max() < 0.1  # G is injective here: the latent itself comes back
    # error is the mean squared pixel error of the reconstruction
    torch.testing.assert_close(result.error, (result.reconstruction - x).square().flatten(1).mean(1))


def test_the_feature_term_enters_the_loss_with_its_weight():
    model = FixedRandomGenerator()
    x = known_images(model)[1]
    options = dict(steps=20, lr=0.05, restarts=2, prior_weight=0.0)
    pixels = invert_latents(model, x, **options)
    # features = the pixels themselves, weight 1: the loss doubles, and Adam's steps are invariant to that
    doubled = invert_latents(model, x, feature_fn=lambda v: v.flatten(1), feature_weight=1.0, **options)
    torch.testing.assert_close(doubled.latent, pixels.latent, atol=1e-4, rtol=0)
    # features that stress the top rows: another loss, other latents
    top = invert_latents(model, x, feature_fn=lambda v: 10 * v[:, :, :3].flatten(1), feature_weight=1.0, **options)
    assert (top.latent - pixels.latent).abs().max() > 1e-3
    ignored = invert_latents(model, x, feature_fn=lambda v: 10 * v[:, :, :3].flatten(1), feature_weight=0.0,
                             **options)
    torch.testing.assert_close(ignored.latent, pixels.latent)


def test_leaves_the_model_untouched():
    model = FixedRandomGenerator().train()
    before = [p.detach().clone() for p in model.parameters()]
    invert_latents(model, known_images(model)[1], steps=5)
    assert model.training
    for p, q in zip(model.parameters(), before, strict=True):
        assert p.grad is None and torch.equal(p, q)


def test_the_encoder_is_the_start_when_there_is_one():
    oracle = torch.full((6, 3), 0.25)
    model = FixedRandomGenerator(oracle=oracle)
    x = known_images(model)[1]
    assert invert_latents(model, x, steps=0).start == "encoder"
    torch.testing.assert_close(invert_latents(model, x, steps=0).latent, oracle)
    unused = invert_latents(model, x, steps=0, use_encoder=False)
    assert unused.start == "random" and not torch.allclose(unused.latent, oracle)
    init = torch.zeros(6, 3)
    given = invert_latents(model, x, steps=0, init=init)
    assert given.start == "init" and torch.equal(given.latent, init)


@pytest.mark.parametrize("name", ["bigan", "aae", "vaegan"])
def test_models_with_encoders_start_from_e_of_x(name):
    options = dict(width=8, latent_dim=4) if name != "aae" else dict(width=16, latent_dim=4)
    model = MODELS[name].build(config_for(model=name, data="digits", **options), DataInfo("image", (1, 8, 8))).eval()
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    result = invert_latents(model, x, steps=0, prior_weight=0.0)
    with torch.no_grad():
        expected = model.encode(x) if hasattr(model, "encode") else model.encoder(x)[0]
    assert result.start == "encoder"
    torch.testing.assert_close(result.latent, expected)


def test_latents_stay_near_the_prior():
    model = FixedRandomGenerator(prior="uniform")
    x = known_images(model)[1]
    far = torch.full((6, 3), 5.0)
    bounded = invert_latents(model, x, steps=3, init=far)
    assert bounded.latent.abs().max() <= 1.0  # the uniform prior's cube
    normal = FixedRandomGenerator()
    result = invert_latents(normal, x, steps=3, init=torch.full((6, 3), 50.0))
    assert result.latent.norm(dim=1).max() <= math.sqrt(3) + NORM_MARGIN + 1e-4  # scaled back onto the ball


def test_stylegan2_is_inverted_in_w():
    model = MODELS["stylegan2"].build(config_for(model="stylegan2", data="digits", width=8, latent_dim=8),
                                      DataInfo("image", (1, 8, 8))).eval()
    with torch.no_grad():
        w = model.generator.mapping(torch.randn(2, 8, generator=torch.Generator().manual_seed(3)))
        x = model.generator.synthesis(model.generator.broadcast(w))
    start = invert_latents(model, x, steps=0)
    result = invert_latents(model, x, steps=60, lr=0.05, prior_weight=0.0)
    assert result.space == "w" and result.start == "w_avg" and result.latent.shape == (2, 8)
    assert result.error.mean() < 0.5 * start.error.mean()


@pytest.mark.parametrize("name", ["cgan", "infogan"])
def test_models_without_a_single_latent_are_refused(name):
    model = MODELS[name].build(config_for(model=name, data="digits", width=8), DataInfo("image", (1, 8, 8), 10))
    with pytest.raises(UserError, match="no single latent vector"):
        invert_latents(model, torch.zeros(2, 1, 8, 8))


def test_examples_of_another_shape_are_refused():
    with pytest.raises(UserError, match="expected the same shape"):
        invert_latents(FixedRandomGenerator(), torch.zeros(2, 1, 10, 10))


# ----------------------------------------------------------------------------------- runs and the command line
TINY = ["--data", "digits", "--width", "8", "--latent-dim", "4", "--steps", "2", "--batch-size", "8",
        "--sample-every", "100", "--checkpoint-every", "100", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inversion-runs")
    for model in ("dcgan", "bigan", "cgan"):
        assert main(["train", "--model", model, *TINY, "--out", str(root / model)]) == 0
    return root


def test_loaded_run_inverts_images_in_the_data_range(runs):
    run = load_run(runs / "bigan")
    x = torch.rand(3, 1, 8, 8)
    result = run.invert(x, steps=5)
    assert result.start == "encoder" and result.latent.shape == (3, 4)
    assert result.reconstruction.shape == (3, 1, 8, 8) and 0 <= result.reconstruction.min()
    assert result.reconstruction.max() <= 1
    torch.testing.assert_close(result.error, (result.reconstruction - x).square().flatten(1).mean(1))
    with pytest.raises(UserError, match=r"expected float images in \[0, 1\]"):
        run.invert(x * 2 - 1)
    with pytest.raises(UserError, match="expected the same size and number of channels"):
        run.invert(torch.rand(3, 3, 8, 8))


def test_invert_command_writes_grid_latents_and_errors(runs, tmp_path, capsys):
    out = tmp_path / "inv"
    assert main(["invert", str(runs / "dcgan"), "--data", "digits", "--n", "5", "--steps", "3", "--restarts", "2",
                 "--out", str(out)]) == 0
    assert "mean squared error" in capsys.readouterr().out
    assert np.load(out / "latents.npy").shape == (5, 4)
    rows = (out / "errors.csv").read_text().splitlines()
    assert rows[0] == "image,mse" and len(rows) == 6 and all(float(r.split(",")[1]) >= 0 for r in rows[1:])
    with Image.open(out / "grid.png") as im:  # 5 pairs in one row: 10 images of 8 px, 2 px padding, scaled 8x
        assert im.size == ((10 * 10 + 2) * 8, (10 + 2) * 8)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    assert main(["invert", str(runs / "bigan"), str(folder), "--steps", "2", "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "errors.csv").read_text().splitlines()[1].startswith(str(folder / "0.png"))


def test_bad_input_is_one_line_and_exit_2(runs, tmp_path, capsys):
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(big)
    rgb = tmp_path / "rgb.png"
    colours = np.zeros((8, 8, 3), dtype=np.uint8)
    colours[..., 2] = 180  # blue: three channels (grey stored as RGB is read as grey)
    Image.fromarray(colours).save(rgb)
    cases = [
        ([str(runs / "dcgan"), str(big)], "10x10 pixels"),
        ([str(runs / "dcgan"), str(rgb)], "3 colour channel(s)"),
        ([str(runs / "cgan"), "--data", "digits"], "no single latent vector"),
        ([str(tmp_path / "nowhere"), str(big)], "not found"),
        ([str(runs / "dcgan")], "expected image files"),
    ]
    for argv, needle in cases:
        assert main(["invert", *argv, "--out", str(tmp_path / "o")]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err


def test_invert_data_reads_the_runs_own_folder_at_the_size_it_was_trained_at(tmp_path):
    """A folder run trained at --image-size 16 inverts its own dataset (folder:PATH loads at 64 by default)."""
    from ganforge.train import Trainer

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    cfg = config_for(model="dcgan", data=f"folder:{folder}", image_size=16, steps=2, batch_size=8, width=8,
                     latent_dim=4, sample_every=100)
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    assert main(["invert", str(tmp_path / "run"), "--data", f"folder:{folder}", "--n", "2", "--steps", "2",
                 "--out", str(tmp_path / "inv")]) == 0
    assert np.load(tmp_path / "inv" / "latents.npy").shape[0] == 2


def test_invert_reads_a_folder_run_by_the_relative_name_it_was_trained_with(tmp_path, monkeypatch, capsys):
    """folder:imgs and folder:/abs/imgs are one dataset: the run's own, read at its --image-size."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    assert main(["train", "--model", "dcgan", "--data", "folder:imgs", "--image-size", "16", "--width", "8",
                 "--steps", "2", "--batch-size", "8", "--no-progress", "--out", "run"]) == 0
    assert main(["invert", "run", "--data", "folder:imgs", "--n", "2", "--steps", "2", "--restarts", "1",
                 "--out", "inv"]) == 0, capsys.readouterr().err
    assert (tmp_path / "inv" / "latents.npy").is_file()
    # one image replaced since training: the report's memorisation panel says so instead of comparing with it
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(tmp_path / "imgs" / "0.png")
    capsys.readouterr()
    assert main(["report", "run"]) == 0
    assert "the data changed since it was trained" in (tmp_path / "run" / "report.html").read_text()
