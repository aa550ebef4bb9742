"""``--prior mixture``: z from an equal-weight mixture of Gaussians around fixed centres (DeLiGAN's prior with its
parameters fixed), the training-time remedy that lets one G put grid25's disconnected modes apart
(docs/models.md, "The remedies on ring8 and grid25")."""

import json

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.config import TrainConfig
from ganforge.data.core import ArrayDataset
from ganforge.errors import UserError
from ganforge.export import export_generator, read_metadata
from ganforge.inversion import latent_space
from ganforge.metrics.modes import mode_coverage
from ganforge.models.base import config_for
from ganforge.noise import MIXTURE_CENTRES_SEED, mixture_centres, sample_noise
from ganforge.run import load_run
from ganforge.train import Trainer


def test_centres_are_n01_draws_of_a_fixed_seed_the_same_in_every_call():
    expected = torch.randn(10, 16, generator=torch.Generator().manual_seed(MIXTURE_CENTRES_SEED))
    torch.testing.assert_close(mixture_centres(10, 16), expected, rtol=0, atol=0)
    torch.testing.assert_close(mixture_centres(10, 16), expected, rtol=0, atol=0)  # cached, unchanged


def test_draws_share_the_components_equally_with_the_given_spread():
    k, dim, std, n = 10, 16, 0.25, 20_000
    z = sample_noise(n, dim, "mixture", torch.Generator().manual_seed(1), components=k, std=std)
    assert z.shape == (n, dim) and z.dtype == torch.float32
    centres = mixture_centres(k, dim)
    nearest = torch.cdist(z, centres).argmin(1)
    counts = torch.bincount(nearest, minlength=k).double()
    # c ~ uniform{0..k-1}: each count is Binomial(n, 1/k); 5 standard deviations either way
    sd = (n * (1 / k) * (1 - 1 / k)) ** 0.5
    assert (counts - n / k).abs().max() < 5 * sd
    offsets = z - centres[nearest]  # N(0, std^2 I) around the drawn centre (centres ~5.7 apart: no mix-ups)
    assert offsets.mean().abs() < 0.01
    assert offsets.std().item() == pytest.approx(std, rel=0.02)
    # a seed gives the same z; another seed other z
    again = sample_noise(n, dim, "mixture", torch.Generator().manual_seed(1), components=k, std=std)
    torch.testing.assert_close(z, again, rtol=0, atol=0)
    assert not torch.equal(z, sample_noise(n, dim, "mixture", torch.Generator().manual_seed(2), components=k,
                                           std=std))


def test_a_run_samples_its_prior_after_a_reload_and_exports_what_draws_it(tmp_path, capsys):
    cfg = TrainConfig(model="gan", data="ring8", steps=2, batch_size=16, latent_dim=4, prior="mixture",
                      prior_components=3, prior_std=0.1, sample_every=1000, device="cpu")
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    run = load_run(tmp_path / "run")
    assert (run.config.prior, run.config.prior_components, run.config.prior_std) == ("mixture", 3, 0.1)
    z = run.model.sample_latent(600, torch.Generator().manual_seed(0))
    distance = torch.cdist(z, mixture_centres(3, 4)).min(1).values
    # ||N(0, 0.1^2 I_4)|| = 0.1 chi_4: mean 0.188, above 0.6 with probability 1e-7 (N(0, I) draws: ~1-2 away)
    assert distance.max() < 0.6 and distance.mean().item() == pytest.approx(0.188, rel=0.06)
    meta = export_generator(run, "torchscript", tmp_path / "g.pt")
    assert meta["prior"] == "mixture" and meta["prior_std"] == 0.1
    assert torch.equal(torch.tensor(read_metadata(tmp_path / "g.pt")["prior_centres"]), mixture_centres(3, 4))
    assert "prior_centres" not in json.dumps(export_generator(
        _normal_run(tmp_path), "torchscript", tmp_path / "normal.pt"))
    # scaling z towards 0 (the truncation trick's scaling form) has no meaning for this prior: refused
    assert main(["sample", str(tmp_path / "run"), "--temperature", "0.5", "--out", str(tmp_path / "x.npy")]) == 2
    assert "expected 1 with --prior mixture" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "run"), "--n", "5", "--out", str(tmp_path / "x.npy")]) == 0
    with pytest.raises(UserError, match="expected 1 with --prior mixture"):
        run.sample(4, seed=0, temperature=0.5)  # the Python API refuses it too


def _normal_run(tmp_path):
    cfg = TrainConfig(model="gan", data="ring8", steps=1, batch_size=16, latent_dim=4, sample_every=1000,
                      device="cpu")
    Trainer(cfg, tmp_path / "normal", progress=False).fit()
    return load_run(tmp_path / "normal")


def test_inversion_regulariser_is_the_mixtures_negative_log_density_per_dimension(tmp_path):
    cfg = TrainConfig(model="gan", data="ring8", steps=1, batch_size=16, latent_dim=2, prior="mixture",
                      prior_components=2, prior_std=0.5, sample_every=1000, device="cpu")
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    space = latent_space(load_run(tmp_path / "run").model)
    mu = mixture_centres(2, 2)
    z = torch.stack([mu[0], (mu[0] + mu[1]) / 2, torch.tensor([3.0, -1.0])])
    # by hand: -(1/k) log sum_c exp(-||z - mu_c||^2 / (2 s^2)), k = 2, s = 0.5
    sq = torch.stack([((z - m) ** 2).sum(1) for m in mu], 1)
    expected = -torch.log(torch.exp(-sq / 0.5).sum(1)) / 2
    torch.testing.assert_close(space.penalty(z), expected)
    assert space.penalty(z)[0] < space.penalty(z)[1]  # a centre is likelier than the gap between two


@pytest.mark.parametrize("flags, expected", [
    (["--prior-components", "0"], "prior_components=0 is invalid: expected an integer >= 1"),
    (["--prior-std", "-1"], "prior_std=-1.0 is invalid: expected a number > 0"),
    (["--prior", "mixtures"], "prior='mixtures' is invalid: expected normal or uniform or mixture"),
    (["--prior-std", "0.5"], "prior_std=0.5 is invalid: expected its default with prior normal"),
    (["--prior", "uniform", "--prior-components", "8"], "prior_components=8 is invalid: expected its default with "
                                                         "prior uniform"),
])
def test_bad_mixture_settings_are_one_line_and_exit_2(tmp_path, capsys, flags, expected):
    code = main(["train", "--model", "gan", "--data", "ring8", "--steps", "1", *flags, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_models_whose_loss_assumes_n01_refuse_the_mixture(tmp_path):
    with pytest.raises(UserError, match="model vae: prior mixture is invalid: expected normal"):
        Trainer(TrainConfig(model="vae", data="digits", steps=1, prior="mixture", device="cpu"), tmp_path / "v",
                progress=False)


def _two_separate_modes(n=8000, std=0.05):
    """Points from two Gaussians at (-2, 0) and (2, 0), std 0.05: two modes 80 std apart."""
    rng = np.random.default_rng(0)
    means = np.array([[-2.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    x = (means[rng.integers(2, size=n)] + std * rng.standard_normal((n, 2))).astype(np.float32)
    return ArrayDataset("two-modes", "points", {"train": x, "val": x[:200], "test": x[:200]}), means, std


@pytest.mark.slow  # 8 runs of ~2 s on an idle core
def test_on_two_separate_modes_the_mixture_keeps_both_where_n01_drops_one(tmp_path):
    """The 2014 GAN (width 64, z in R^8, Adam 1e-3, 1,000 steps of 64) on two modes 80 std apart, seeds 0-3: with
    the mixture prior (10 components) every run puts >= 20% of 2,000 samples within 3 std of each mode and < 1%
    between them; with z ~ N(0, I) fewer runs do (on the development machine none: each kept one mode)."""
    ds, means, std = _two_separate_modes()
    both_kept = {}
    for prior in ("normal", "mixture"):
        both_kept[prior] = 0
        for seed in range(4):
            components = {"prior_components": 10} if prior == "mixture" else {}
            cfg = config_for(model="gan", data="two-modes", steps=1000, batch_size=64, width=64, latent_dim=8,
                             lr=1e-3, prior=prior, **components, sample_every=10**6, checkpoint_every=10**6, seed=seed)
            trainer = Trainer(cfg, tmp_path / f"{prior}-{seed}", progress=False, dataset=ds)
            trainer.fit()
            model = trainer.model.eval()
            with torch.no_grad():
                x = model.generate(model.sample_latent(2000, torch.Generator().manual_seed(1)))
            counts = mode_coverage(x, means, std)["mode_counts"]
            kept = min(counts) >= 400
            both_kept[prior] += kept
            if prior == "mixture":
                assert kept, (seed, counts)
                assert (x[:, 0].abs() < 1).float().mean() < 0.01  # the gap between the modes stays empty
    assert both_kept["normal"] < both_kept["mixture"] == 4
