"""--g-ema for every model: the loop averages G's weights after each iteration, and sampling, evaluation and
reports (all of which go through eval mode's ``generate``) use the average."""

import copy

import pytest
import torch

from ganforge.models import MODELS, config_for
from ganforge.run import load_run
from ganforge.train import Trainer


def small_options(model: str) -> dict:
    extra = {"labels": 20} if model == "sgan" else {}
    return dict(model=model, data="digits", batch_size=16, width=8, latent_dim=4, sample_every=100,
                checkpoint_every=100, g_ema=100.0, **extra)


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
