"""Data-parallel training under torchrun (gloo on CPU): ranks stay in sync, N ranks of m equal one process of
N*m, rank 0 alone writes, and a DDP run resumes exactly.

Why the comparison is exact up to float rounding: every rank takes its own slice of the same global
minibatch and of the same global latents, and DDP averages the ranks' gradients, so two ranks of 16 compute
the gradient of the mean loss over the same 32 examples that one process with batch 32 computes. The model
is the 2014 ``gan`` MLP on toy points: no batch norm (whose statistics would be per rank) and no dropout
(whose masks are drawn per rank), so nothing else differs. What remains is summation order in the
all-reduce, amplified by training; after 12 steps the weights agree to within 1e-4, while training moved
them by more than 1e-3.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from ganforge.checkpoint import load_checkpoint
from ganforge.config import TrainConfig
from ganforge.data import MinibatchSampler
from ganforge.distributed import ShardedMinibatchSampler, slice_latent
from ganforge.train import Trainer

STEPS, PER_RANK, RANKS = 12, 16, 2
TOLERANCE = 1e-4


def torchrun_train(out, *extra, steps=STEPS):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc_per_node", str(RANKS), "-m", "ganforge", "train", "--model", "gan", "--data", "ring8",
           "--batch-size", str(PER_RANK), "--steps", str(steps), "--sample-every", "6", "--checkpoint-every", "6",
           "--device", "cpu", "--no-progress", "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    torchrun_train(out)
    return out


def test_shards_of_the_global_minibatch_are_disjoint_and_make_up_the_single_process_batch():
    data = torch.arange(64, dtype=torch.float32)[:, None]
    single = MinibatchSampler(data, None, 2 * 8, seed=3)
    ranks = [ShardedMinibatchSampler(data, None, 8, seed=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(7):  # four global batches per epoch: crosses into the second epoch
        expected = single.next_indices()
        shards = [s.next_indices() for s in ranks]
        assert torch.equal(torch.cat(shards), expected)
        assert not set(shards[0].tolist()) & set(shards[1].tolist())
    assert all(s.cursor == single.cursor for s in ranks)


def test_a_rank_takes_its_rows_of_every_part_of_a_latent():
    z, y = torch.randn(6, 3), torch.arange(6)
    part = slice_latent((z, y), 2, 4)
    assert torch.equal(part[0], z[2:4]) and torch.equal(part[1], y[2:4])
    assert torch.equal(slice_latent({"z": z}, 0, 3)["z"], z[:3])


def test_two_gloo_ranks_stay_in_sync_and_match_one_process_with_the_same_global_batch(ddp_run, tmp_path):
    records = [json.loads(line) for line in (ddp_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [6, 12], "rank 0 alone writes the log, one line per interval"
    assert all(r["ddp/world_size"] == RANKS and r["ddp/param_spread"] == 0.0 for r in records), \
        "the ranks' parameters are bitwise identical"
    assert sorted(p.name for p in (ddp_run / "samples").iterdir()) == [
        "step_000000.png", "step_000006.png", "step_000012.png"]

    cfg = TrainConfig(model="gan", data="ring8", batch_size=RANKS * PER_RANK, steps=STEPS, sample_every=6,
                      checkpoint_every=6, device="cpu")
    single = Trainer(cfg, tmp_path / "single", progress=False)
    single.fit()
    ddp = load_checkpoint(ddp_run / "checkpoints" / "latest.pt")
    assert ddp["sampler_cursor"] == single.sampler.cursor == STEPS * RANKS * PER_RANK
    worst = 0.0
    for name, value in single.model.state_dict().items():
        worst = max(worst, (ddp["model"][name] - value).abs().max().item())
    assert worst < TOLERANCE
    untrained = Trainer(cfg, tmp_path / "untrained", progress=False).model.state_dict()
    moved = max((untrained[k] - v).abs().max().item() for k, v in single.model.state_dict().items())
    assert moved > 10 * TOLERANCE and moved > 100 * worst, "not vacuous: training moved the weights"


def test_a_resumed_ddp_run_is_identical_to_an_uninterrupted_one(ddp_run, tmp_path):
    out = tmp_path / "resumed"
    torchrun_train(out, steps=6)
    torchrun_train(out, "--resume")
    straight = load_checkpoint(ddp_run / "checkpoints" / "latest.pt")
    resumed = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert resumed["step"] == STEPS
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    lines = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == [6, 12]


def test_g_ema_under_ddp_counts_the_images_of_every_rank_and_matches_one_process(tmp_path):
    """The weight average's half-life is in generated images: two ranks of 16 generate 32 a step, so their
    average must equal that of one process with batch 32 (not one that decays as if a step were 16 images)."""
    out = tmp_path / "ddp-ema"
    torchrun_train(out, "--g-ema", "200")
    cfg = TrainConfig(model="gan", data="ring8", batch_size=RANKS * PER_RANK, steps=STEPS, sample_every=6,
                      checkpoint_every=6, device="cpu", g_ema=200.0)
    single = Trainer(cfg, tmp_path / "single", progress=False)
    single.fit()
    ddp = load_checkpoint(out / "checkpoints" / "latest.pt")["model"]
    state = single.model.state_dict()
    ema_keys = [k for k in state if k.startswith("generator_ema.")]
    assert ema_keys
    worst = max((ddp[k] - state[k]).abs().max().item() for k in ema_keys)
    assert worst < TOLERANCE
    # not vacuous: the average is not G itself
    assert max((state[k] - state[k.replace("generator_ema.", "generator.")]).abs().max().item()
               for k in ema_keys) > 10 * TOLERANCE


def _ada_rank(rank: int, init_file: str, results: dict) -> None:
    import torch.distributed as dist

    from ganforge.augment import AdaptiveAugment

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=RANKS)
    try:
        ada = AdaptiveAugment(target=0.6, interval=2, kimg=1.0, batch_size=PER_RANK)
        for _ in range(2):  # rank 0 sees only positive logits (r_t 1 alone), rank 1 12 of 16 (r_t 0.5 alone)
            logits = torch.full((PER_RANK,), 1.0) if rank == 0 else torch.tensor([1.0] * 12 + [-1.0] * 4)
            ada.observe(logits)
            ada.step_()
        results[rank] = (float(ada.r_t), float(ada.p))
    finally:
        dist.destroy_process_group()


def test_ada_under_ddp_pools_r_t_over_ranks_and_keeps_p_equal_on_every_rank(tmp_path):
    """ADA's overfitting heuristic r_t = E[sign D(x_real)] over every rank's reals, and p stepped by the images
    of all ranks: each rank alone would have r_t 1.0 or 0.5, on either side of the target 0.6, and move p in
    opposite directions."""
    import torch.multiprocessing as mp

    results = mp.Manager().dict()
    mp.spawn(_ada_rank, args=(str(tmp_path / "init"), results), nprocs=RANKS, join=True)
    r_t = (2 * PER_RANK + 2 * (12 - 4)) / (2 * RANKS * PER_RANK)  # 0.75: the pooled mean sign
    step = RANKS * PER_RANK * 2 / 1000.0  # the images of all ranks over the interval / (kimg * 1000)
    assert r_t > 0.6  # above the target: p rises by one step from 0
    assert results[0] == results[1] == (r_t, step)
