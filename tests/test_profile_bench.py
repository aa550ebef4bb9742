"""bench/profile_stylegan2_step.py: its part timer charges every second of a step to exactly one part, and
instrumenting a trainer changes what is timed, not what is trained."""

import math

import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.models import config_for
from ganforge.models import stylegan2 as stylegan2_module
from ganforge.train import Trainer


@pytest.fixture(scope="module")
def bench(repo_script):
    return repo_script("bench/profile_stylegan2_step.py")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_part_timer_charges_the_innermost_part_and_sums_to_the_step(bench):
    clock = FakeClock()
    timer = bench.PartTimer(clock)
    clock.advance(100)  # outside a step: not counted
    with timer.step():
        clock.advance(1)  # other
        with timer.part("A"):
            clock.advance(2)
            with timer.part("B"):
                clock.advance(3)
            clock.advance(1)  # A again
        timer.switch("backward")
        clock.advance(4)
        timer.switch(None)
        clock.advance(0.5)  # other
        with timer.part("R1", absorbing=True):
            clock.advance(2)
            with timer.part("B"):  # inside an absorbing part: charged to R1
                clock.advance(5)
    assert dict(timer.totals) == {timer.OTHER: 1.5, "A": 3.0, "B": 3.0, "backward": 4.0, "R1": 7.0}
    assert timer.step_total == 18.5 == sum(timer.totals.values())
    assert timer.steps == 1
    table = timer.table("m")
    assert "| R1 | 7000.0 | 37.8 |" in table and "**18500.0**" in table


def stylegan_cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**config_for(model="stylegan2").to_dict(), **dict(
        data="digits", batch_size=8, width=8, latent_dim=8, style_mapping_layers=2, sample_every=10_000,
        checkpoint_every=10_000, r1_every=2, g_ema=100.0, steps=10), **kw})


def test_instrumented_stylegan2_step_is_split_into_its_parts_and_trains_the_same(bench, tmp_path):
    torch.manual_seed(0)  # style mixing and the noise inputs draw from the global generator
    plain = Trainer(stylegan_cfg(), tmp_path / "plain", progress=False)
    for _ in range(2):
        plain.train_step()
    torch.manual_seed(0)
    timed = Trainer(stylegan_cfg(), tmp_path / "timed", progress=False)
    timer = bench.PartTimer()
    original_r1 = stylegan2_module.r1_penalty
    with bench.instrumented(timed, timer):
        assert stylegan2_module.r1_penalty is not original_r1
        for _ in range(2):
            with timer.step():
                timed.train_step()
    assert stylegan2_module.r1_penalty is original_r1  # restored on leaving
    for (name, a), b in zip(plain.model.state_dict().items(), timed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # hooks and wrappers change no number
    assert timer.steps == 2
    assert math.isclose(sum(timer.totals.values()), timer.step_total, rel_tol=1e-9)
    assert all(t >= 0 for t in timer.totals.values())
    for part in ("D step: lazy R1 pass (fwd + grad)", "D step: D forward", "G step: D forward",
                 "D step: backward through D (R1 steps: with R1's double backward)", "D step: backward through D",
                 "G step: backward through D", "G step: backward through G synthesis",
                 "G step: backward through G mapping network", "G step: G mapping network",
                 "G step: G synthesis: modulated 3x3 convs (affine, demod)", "G step: G synthesis: toRGB",
                 "G step: optimizer (Adam) step", "G's weight average (EMA) update"):
        assert timer.totals.get(part, 0) > 0, part
