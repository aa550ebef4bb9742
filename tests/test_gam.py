"""The generative adversarial metric (Im et al. 2016): r_test and r_samples from the swapped players' error
rates, the winner by the paper's rule, on hand-made discriminators and on trained runs."""

import json
import math
from types import SimpleNamespace

import pytest
import torch

from ganforge import cli
from ganforge.commands.gam import judge_all
from ganforge.data import load_dataset, to_model_range
from ganforge.metrics.gam import error_on_real, error_on_samples, error_ratio, gam_battle, gam_winner
from ganforge.models import config_for
from ganforge.train import Trainer


def test_error_rates_count_what_d_gets_wrong():
    assert error_on_real(torch.tensor([1.0, -1.0, 2.0, 0.0])) == 0.5  # -1 and 0 are called fake
    assert error_on_samples(torch.tensor([1.0, -1.0, -2.0, -3.0])) == 0.25  # only 1 is called real
    assert error_ratio(0.2, 0.4) == 0.5 and error_ratio(0.0, 0.0) == 1.0 and error_ratio(0.1, 0.0) == math.inf


def test_the_winner_follows_the_papers_rule():
    assert gam_winner(1.0, 0.5) == ("A", True)  # D_A is fooled less by G_B than D_B by G_A
    assert gam_winner(1.05, 1.8) == ("B", True)
    assert gam_winner(1.0, 1.0) == ("tie", True)
    assert gam_winner(1.5, 0.5, tolerance=0.2) == ("tie", False)  # D_A judges real data much worse: invalid
    assert gam_winner(1 / 1.5, 0.5, tolerance=0.2) == ("tie", False)  # the same battle seen from B's side
    assert gam_winner(1.15, 0.5, tolerance=0.2) == ("A", True)
    assert gam_winner(0.0, 0.5) == ("tie", False)


def hand_made_run(threshold: float, samples: list[float]):
    """A 1-D "run": D(x) = x - threshold (real above it); G's samples are the given values, cycled."""
    values = torch.tensor(samples)

    def sample(n, seed=None):
        return values.repeat(n // len(values) + 1)[:n, None]

    model = SimpleNamespace(discriminator_logits=lambda x: (x[:, 0] - threshold))
    return SimpleNamespace(sample=sample, model=model, data=SimpleNamespace(kind="points"),
                           device=torch.device("cpu"), config=SimpleNamespace(objective="nonsaturating"))


def test_ratios_on_hand_made_discriminators():
    x_test = torch.tensor([[-1.0], [0.3], [0.6], [1.0], [2.0]])
    run_a = hand_made_run(0.25, [0.5, 0.1, 0.0, 0.9])  # D_A calls 0.3, 0.6, 1, 2 real: test error 1/5
    run_b = hand_made_run(0.5, [0.4, 0.7, 0.7, 0.7])  # D_B calls 0.6, 1, 2 real: test error 2/5
    test_logits, sample_logits = judge_all([run_a, run_b], x_test, 8, 0)
    battle = gam_battle(test_logits[0], test_logits[1], sample_logits[0][1], sample_logits[1][0], tolerance=1.5)
    assert battle.error_a_test == pytest.approx(1 / 5) and battle.error_b_test == pytest.approx(2 / 5)
    assert battle.r_test == pytest.approx(0.5)
    # D_A on G_B's 0.4, 0.7, 0.7, 0.7: all above 0.25, all called real: error 1; D_B on G_A's 0.5, 0.1, 0, 0.9:
    # only 0.9 is above 0.5: error 1/4; r_samples = 1 / (1/4) = 4 > 1: B wins (valid with tolerance 1.5)
    assert battle.error_a_on_b_samples == pytest.approx(1.0) and battle.error_b_on_a_samples == pytest.approx(0.25)
    assert battle.r_samples == pytest.approx(4.0)
    assert (battle.winner, battle.valid) == ("B", True)
    strict = gam_battle(test_logits[0], test_logits[1], sample_logits[0][1], sample_logits[1][0], tolerance=0.2)
    assert (strict.winner, strict.valid) == ("tie", False)  # r_test 0.5 is too far from 1


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gam")
    for name, model, steps in [("a", "dcgan", 3), ("b", "gman", 3), ("c", "dcgan", 1)]:
        Trainer(config_for(model=model, data="digits", steps=steps, batch_size=16, width=8, latent_dim=4,
                           sample_every=100), root / name, progress=False).fit()
    return root


def test_gam_command_prints_one_battle_as_json(three_runs, capsys):
    a, b = three_runs / "a", three_runs / "b"
    assert cli.main(["gam", str(a), str(b), "--n", "100", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["r_test"] == pytest.approx(error_ratio(record["error_a_test"], record["error_b_test"]))
    assert record["r_samples"] == pytest.approx(error_ratio(record["error_a_on_b_samples"],
                                                            record["error_b_on_a_samples"]))
    assert (record["winner"], record["valid"]) == gam_winner(record["r_test"], record["r_samples"], record["tolerance"])
    assert record["winner_run"] == {"A": str(a), "B": str(b), "tie": "tie"}[record["winner"]]
    assert record["winner_run"] in (str(a), str(b), "tie")


def test_gam_tournament_writes_the_matrix(three_runs, tmp_path, capsys):
    out = tmp_path / "t.json"
    runs = [str(three_runs / n) for n in "abc"]
    assert cli.main(["gam", *runs, "--n", "100", "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["runs"] == runs and table["models"] == ["dcgan", "gman", "dcgan"]
    r = table["r_samples"]
    for i in range(3):
        assert r[i][i] is None
        for j in range(3):
            if i != j and r[i][j] not in (None, 0):  # each battle seen from both sides: reciprocal ratios
                assert r[i][j] * r[j][i] == pytest.approx(1.0, rel=1e-5)
    assert sum(table["wins"]) <= 3  # at most one winner per pair
    assert "wins" in capsys.readouterr().out


def test_gam_refuses_runs_it_cannot_judge(three_runs, tmp_path, capsys):
    Trainer(config_for(model="vae", data="digits", steps=1, batch_size=16, width=8, latent_dim=4, sample_every=100),
            tmp_path / "vae", progress=False).fit()
    assert cli.main(["gam", str(three_runs / "a"), str(tmp_path / "vae"), "--n", "50"]) == 2
    assert "model vae: has no discriminator of x alone" in capsys.readouterr().err
    assert cli.main(["gam", str(three_runs / "a")]) == 2
    assert "at least two run directories" in capsys.readouterr().err
    Trainer(config_for(model="wgan-gp", data="digits", steps=1, batch_size=16, width=8, latent_dim=4,
                       sample_every=100), tmp_path / "wgan-gp", progress=False).fit()
    assert cli.main(["gam", str(three_runs / "a"), str(tmp_path / "wgan-gp"), "--n", "50"]) == 2
    assert "has a wasserstein critic, whose output has no real/fake threshold" in capsys.readouterr().err


def test_a_least_squares_d_calls_x_real_above_its_targets_midpoint(three_runs, tmp_path):
    """LSGAN's D is trained towards 1 on real and 0 on fake: GAM reads its output less 0.5 as the verdict."""
    from ganforge.run import load_run

    Trainer(config_for(model="lsgan", data="digits", steps=1, batch_size=16, width=8, latent_dim=4,
                       sample_every=100), tmp_path / "ls", progress=False).fit()
    runs = [load_run(three_runs / "a"), load_run(tmp_path / "ls")]
    x = load_dataset("digits").split("test")[:20]
    test_logits, _ = judge_all(runs, x, 10, 0)
    raw = runs[1].model.discriminator_logits(to_model_range(torch.as_tensor(x)))
    assert torch.allclose(test_logits[1], raw.detach() - 0.5)


def test_a_stylegan2_run_takes_part_and_is_judged_by_its_own_discriminator(three_runs, tmp_path, capsys):
    cfg = config_for(model="stylegan2", data="digits", steps=2, batch_size=8, width=8, latent_dim=8,
                     image_size=8, sample_every=100)
    Trainer(cfg, tmp_path / "sg2", progress=False).fit()
    Trainer(config_for(model="dcgan", data="digits", steps=1, batch_size=8, width=8, latent_dim=4, image_size=8,
                       sample_every=100), tmp_path / "dc", progress=False).fit()
    from ganforge.run import load_run

    capsys.readouterr()  # the trainers' progress lines
    run = load_run(tmp_path / "sg2")
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(run.model.discriminator_logits(x), run.model.discriminator(x))
    assert cli.main(["gam", str(tmp_path / "sg2"), str(tmp_path / "dc"), "--n", "40", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["winner"], record["valid"]) == gam_winner(record["r_test"], record["r_samples"], record["tolerance"])
