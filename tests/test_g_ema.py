"""--g-ema for every model: the loop averages G's weights after each iteration, and sampling, evaluation and
reports (all of which go through eval mode's ``generate``) use the average."""

import copy

import pytest
import torch

from ganforge.models import MODELS, config_for
from ganforge.run import load_run
from ganforge.train import Trainer

#: models that draw no noise (their input is an image or past frames): they refuse a --latent-dim
NOISELESS = ("srresnet", "srgan", "nextframe")


def small_options(model: str) -> dict:
    extra = {"labels": 20} if model == "sgan" else {}
    extra.update({} if model in NOISELESS else {"latent_dim": 4})
    return dict(model=model, data="digits", batch_size=16, width=8, sample_every=100, checkpoint_every=100,
                g_ema=100.0, **extra)


@pytest.mark.parametrize("model", sorted(name for name, spec in MODELS.items() if "image" in spec.data_kinds))
def test_every_model_samples_from_its_weight_average(tmp_path, model):
    trainer = Trainer(config_for(steps=3, **small_options(model)), tmp_path / "run", progress=False)
    trainer.fit()
    run = load_run(tmp_path / "run")
    assert run.model.generator_ema is not None
    # the same model with G's weights replaced by the average and no average kept: what sampling must give
    by_hand = copy.deepcopy(run.model)
    by_hand.generator.load_state_dict(run.model.generator_ema.state_dict())
    by_hand.generator_ema = None
    z = run.model.sample_latent(6, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(run.model.generate(z), by_hand.generate(z))
        live = copy.deepcopy(run.model)
        live.generator_ema = None
        assert not torch.allclose(run.model.generate(z), live.generate(z))  # the average is not G itself
    torch.testing.assert_close(run.sample(6, seed=3), run.sample(6, seed=3))


def test_the_average_follows_its_half_life(tmp_path):
    """After one iteration: average = beta * G_0 + (1 - beta) * G_1 with beta = 0.5 ** (batch / half-life)."""
    trainer = Trainer(config_for(steps=1, **small_options("vae")), tmp_path / "run", progress=False)
    before = copy.deepcopy(trainer.model.generator.state_dict())
    trainer.train_step()
    beta = 0.5 ** (16 / 100.0)
    after = trainer.model.generator.state_dict()
    for name, average in trainer.model.generator_ema.state_dict().items():
        torch.testing.assert_close(average, beta * before[name] + (1 - beta) * after[name], msg=name)


def test_turning_the_average_on_at_resume_starts_it_at_g_and_leaves_training_as_it_was(tmp_path):
    """--resume --g-ema H: the loaded G's weights are the average's start, and G trains exactly as without it;
    --resume --g-ema 0 then drops the average again."""
    options = dict(model="gan", data="ring8", batch_size=16, width=8, latent_dim=4, sample_every=100,
                   checkpoint_every=100)
    straight = Trainer(config_for(steps=4, **options), tmp_path / "straight", progress=False)
    straight.fit()
    assert straight.model.generator_ema is None
    Trainer(config_for(steps=3, **options), tmp_path / "b", progress=False).fit()
    g_at_3 = copy.deepcopy(load_run(tmp_path / "b").model.generator.state_dict())
    resumed = Trainer(config_for(steps=4, g_ema=100.0, **options), tmp_path / "b", resume=True, progress=False)
    resumed.fit()
    g_at_4 = resumed.model.generator.state_dict()
    for name, weight in straight.model.generator.state_dict().items():
        torch.testing.assert_close(g_at_4[name], weight, rtol=0, atol=0, msg=name)  # training unchanged
    beta = 0.5 ** (16 / 100.0)
    for name, average in resumed.model.generator_ema.state_dict().items():  # one update from G_3
        torch.testing.assert_close(average, beta * g_at_3[name] + (1 - beta) * g_at_4[name], msg=name)
    assert load_run(tmp_path / "b").model.generator_ema is not None  # saved with the checkpoint
    off = Trainer(config_for(steps=5, g_ema=0.0, **options), tmp_path / "b", resume=True, progress=False)
    assert off.model.generator_ema is None
    off.fit()
    assert load_run(tmp_path / "b").model.generator_ema is None


def test_checkpoint_average_is_the_mean_of_the_kept_generators(tmp_path, repo_script):
    """bench/average_checkpoints.py: G's weights are the element-wise mean over the named checkpoints, D's the
    last one's, and the file loads as the run's checkpoint."""
    average_generator = repo_script("bench/average_checkpoints.py").average_generator
    options = dict(model="gan", data="ring8", batch_size=16, width=8, latent_dim=4, sample_every=100,
                   checkpoint_every=2, keep_every=2)
    Trainer(config_for(steps=6, **options), tmp_path / "run", progress=False).fit()
    paths = [tmp_path / "run" / "checkpoints" / f"step_{s:06d}.pt" for s in (2, 4, 6)]
    kept = [torch.load(p, weights_only=True)["model"] for p in paths]
    averaged = average_generator(paths)["model"]
    for name, value in averaged.items():
        expected = (kept[0][name] + kept[1][name] + kept[2][name]) / 3 if name.startswith("generator.") \
            else kept[2][name]
        torch.testing.assert_close(value, expected, msg=name)
    assert not torch.equal(averaged["generator.net.0.weight"], kept[2]["generator.net.0.weight"])
    torch.save(average_generator(paths), tmp_path / "avg.pt")
    run = load_run(tmp_path / "run", checkpoint=str(tmp_path / "avg.pt"))
    torch.testing.assert_close(run.model.generator.state_dict()["net.0.weight"], averaged["generator.net.0.weight"])
    # a run with --g-ema samples from its average: the file must make that the checkpoints' mean, not the EMA
    Trainer(config_for(steps=8, g_ema=100.0, **options), tmp_path / "run", resume=True, progress=False).fit()
    paths = [tmp_path / "run" / "checkpoints" / f"step_{s:06d}.pt" for s in (6, 8)]
    torch.save(average_generator(paths), tmp_path / "avg.pt")
    run = load_run(tmp_path / "run", checkpoint=str(tmp_path / "avg.pt"))
    at_8 = torch.load(paths[1], weights_only=True)["model"]
    mean = (kept[2]["generator.net.0.weight"] + at_8["generator.net.0.weight"]) / 2
    torch.testing.assert_close(run.model.sampling_generator.state_dict()["net.0.weight"], mean)
