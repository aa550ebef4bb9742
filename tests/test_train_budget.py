"""``--time-budget``: a run stops cleanly at its budget with a checkpoint and resumes with a new one; the ETA
counts to whichever of steps and budget ends first; ``--keep-every`` implies saving at those steps."""

import time

import pytest

from ganforge import cli
from ganforge.checkpoint import load_checkpoint
from ganforge.config import TrainConfig, parse_duration
from ganforge.errors import UserError
from ganforge.train import Trainer


def small(**kw):
    base = dict(model="dcgan", data="digits", batch_size=16, width=8, latent_dim=16, sample_every=1000,
                checkpoint_every=1000, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("25m", 1500), ("2h", 7200), ("1h30m", 5400),
                                           ("1.5h", 5400), ("45", 45), ("0", 0), (" 2M ", 120)])
def test_durations_read_as_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5 min", "-3s", "1m1m", "3d", "1s2"])
def test_a_bad_duration_is_one_line_naming_the_option(text):
    assert parse_duration(text) is None
    with pytest.raises(UserError, match="time_budget=.*expected a duration"):
        small(time_budget=text).validate()


def test_the_budget_stops_the_run_with_a_checkpoint_and_resume_starts_a_new_budget(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(small(steps=10**6, time_budget="1.5s"), run, progress=False)
    # the budget counts from the Trainer's creation (data loading is part of a run's time); first imports on a
    # busy machine can take longer than this test's budget, so count from here
    t0 = trainer.started = time.perf_counter()
    step = trainer.fit()
    wall = time.perf_counter() - t0
    assert trainer.budget_reached and 1 < step < 10**6
    assert 1.5 <= wall < 1.5 + 5.0  # stops at the first step boundary past the budget, plus one save
    ckpt = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert ckpt["step"] == step and ckpt["config"]["time_budget"] == "1.5s"
    assert (run / "samples" / f"step_{step:06d}.png").is_file()

    resumed = Trainer(TrainConfig.from_dict({**ckpt["config"], "time_budget": "1s"}), run, resume=True,
                      progress=False)
    assert resumed.step == step
    assert resumed.fit() > step and resumed.budget_reached


def test_without_a_budget_the_run_ends_at_its_steps(tmp_path):
    trainer = Trainer(small(steps=3), tmp_path / "run", progress=False)
    assert trainer.fit() == 3 and not trainer.budget_reached and trainer.budget_left_s() is None


def test_eta_is_the_budget_left_when_it_ends_before_the_steps(tmp_path):
    trainer = Trainer(small(steps=1000, time_budget="10m"), tmp_path / "run", progress=False)
    # 1000 steps at 1 step/s would take 1000 s; 600 s of budget (less the start-up) end first
    assert 590 < trainer.eta_s(1.0) <= 600
    assert trainer.eta_s(100.0) == pytest.approx(10.0)  # 1000 steps at 100 steps/s: the steps end first
    assert "eta 9m" in trainer._heartbeat(1.0)


def test_the_cli_exits_0_with_one_line_saying_the_budget_was_reached(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", "digits", "--width", "8", "--latent-dim", "8", "--batch-size", "16", "--steps",
            "1000000", "--time-budget", "2s", "--out", str(run), "--no-progress"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "time budget reached (2s; " in out and "--resume" in out
    step = load_checkpoint(run / "checkpoints" / "latest.pt")["step"]
    assert 1 <= step < 1000000
    assert cli.main(["train", "--out", str(run), "--resume", "--time-budget", "1s", "--no-progress"]) == 0
    assert "time budget reached (1s; " in capsys.readouterr().out
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] > step


def test_keep_every_saves_at_its_steps_even_when_checkpoint_every_does_not_divide_it(tmp_path):
    run = tmp_path / "run"
    Trainer(small(steps=12, checkpoint_every=7, keep_every=5), run, progress=False).fit()
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == ["latest.pt", "step_000005.pt", "step_000010.pt"]
    assert load_checkpoint(run / "checkpoints" / "step_000010.pt")["step"] == 10


def test_a_bad_budget_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["train", "--time-budget", "soon", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "time_budget='soon'" in err


def test_the_cli_budget_counts_from_the_process_start():
    """``ganforge train --time-budget`` includes the interpreter's and torch's start-up (Linux /proc)."""
    import sys

    from ganforge.commands.train import seconds_since_process_start

    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    first = seconds_since_process_start()
    time.sleep(0.3)
    second = seconds_since_process_start()
    assert first > 0 and 0.2 < second - first < 5.0
