"""The shared loop: Algorithm 1 of Goodfellow et al. (2014), runs, resume and crash-safe checkpoints."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.checkpoint import load_checkpoint
from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.train import Trainer


def small(**kw):
    base = dict(model="dcgan", data="digits", batch_size=16, width=8, latent_dim=16, sample_every=1000,
                checkpoint_every=1000)
    base.update(kw)
    return TrainConfig(**base)


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_each_iteration_takes_k_discriminator_steps_on_fresh_minibatches_then_one_generator_step(tmp_path):
    trainer = Trainer(small(k_disc=3), tmp_path / "run", progress=False)
    counts = {"D": 0, "G": 0}
    for name, opt in trainer.optimizers.items():
        original = opt.step

        def counted(*a, _name=name, _orig=original, **k):
            counts[_name] += 1
            return _orig(*a, **k)

        opt.step = counted
    batches = []
    original_next = trainer.sampler.next_indices
    trainer.sampler.next_indices = lambda: batches.append(original_next()) or batches[-1]
    for _ in range(2):
        trainer.train_step()
    assert counts == {"D": 6, "G": 2}
    assert len(batches) == 6
    assert len({tuple(b.tolist()) for b in batches}) == 6, "every D step draws a fresh real minibatch"
    assert trainer.sampler.cursor == 2 * 3 * 16


def test_discriminator_phase_leaves_the_generator_unchanged_and_vice_versa(tmp_path):
    trainer = Trainer(small(), tmp_path / "run", progress=False)
    d_phase, g_phase = trainer.phases
    g_before, d_before = params(trainer.generator), params(trainer.discriminator)
    trainer.run_phase(d_phase)
    assert all(torch.equal(a, b) for a, b in zip(g_before, params(trainer.generator), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, params(trainer.discriminator), strict=True))
    d_after = params(trainer.discriminator)
    trainer.run_phase(g_phase)
    assert all(torch.equal(a, b) for a, b in zip(d_after, params(trainer.discriminator), strict=True))


@pytest.mark.parametrize("model", ["dcgan", "gan"])
def test_a_resumed_run_is_identical_to_an_uninterrupted_one(tmp_path, model):
    """Weights, optimizer moments, data order, noise and dropout masks all continue exactly."""
    cfg = small(model=model, steps=8, checkpoint_every=3, width=None if model == "dcgan" else 40)
    straight = Trainer(cfg, tmp_path / "straight", progress=False)
    straight.fit()

    first = Trainer(small(model=model, steps=3, checkpoint_every=3, width=cfg.width), tmp_path / "resumed",
                    progress=False)
    first.fit()
    resumed = Trainer(cfg, tmp_path / "resumed", resume=True, progress=False)
    assert resumed.step == 3
    resumed.fit()
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert straight.sampler.cursor == resumed.sampler.cursor
    lines = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [3, 8]


def test_an_evaluation_at_a_resumes_stop_step_leaves_training_as_it_was(tmp_path):
    """The first leg of a resumed run evaluates at its last step (3), which the uninterrupted run never does;
    evaluation runs on a fork of torch's generator, so gan's dropout masks after it are the same."""
    cfg = small(model="gan", steps=8, checkpoint_every=3, width=40, eval_every=4, eval_n=50, eval_metrics="fid")
    straight = Trainer(cfg, tmp_path / "straight", progress=False)
    straight.fit()
    Trainer(dataclasses.replace(cfg, steps=3), tmp_path / "resumed", progress=False).fit()
    resumed = Trainer(cfg, tmp_path / "resumed", resume=True, progress=False)
    resumed.fit()
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_kept_checkpoint_is_written_before_latest(tmp_path, monkeypatch):
    """A kill between the two writes must not lose the kept copy for good: it is written first, so a latest.pt
    at this step means its step_N.pt exists."""
    import ganforge.train as train_module

    written = []
    monkeypatch.setattr(train_module, "atomic_torch_save", lambda state, path: written.append(Path(path).name))
    Trainer(small(steps=4, checkpoint_every=2, keep_every=2), tmp_path / "run", progress=False).fit()
    assert written == ["step_000002.pt", "latest.pt", "step_000004.pt", "latest.pt"]


def test_generator_learns_a_1d_gaussian(tmp_path):
    """p_g moves onto p_data = N(4, 0.5^2) under the 2014 MLPs and the nonsaturating objective."""
    cfg = TrainConfig(model="gan", data="gauss1d", steps=1500, batch_size=128, latent_dim=4, lr=1e-3,
                      sample_every=10_000, checkpoint_every=10_000, seed=1)
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    before = trainer.generate(trainer.model.sample_latent(4000, torch.Generator().manual_seed(0)))
    trainer.fit()
    after = trainer.generate(trainer.model.sample_latent(4000, torch.Generator().manual_seed(0)))
    assert abs(before.mean().item() - 4.0) > 2.0
    assert abs(after.mean().item() - 4.0) < 0.25
    assert 0.25 < after.std().item() < 0.8


def test_run_directory_layout(tmp_path):
    run = tmp_path / "run"
    Trainer(small(steps=4, sample_every=2, checkpoint_every=2), run, progress=False).fit()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_000000.png", "step_000002.png", "step_000004.png"]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"loss/D", "loss/G", "D/real", "D/fake", "images_per_s"} <= set(records[0])
    assert TrainConfig.from_dict(__import__("yaml").safe_load((run / "config.yaml").read_text())).steps == 4
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 4


def test_a_run_without_a_terminal_prints_a_progress_line_between_samples(tmp_path, monkeypatch, capsys):
    """nohup/CI logs: with the heartbeat at 0 s every step prints ``step S/T  img/s R  eta ...``."""
    import ganforge.train

    monkeypatch.setattr(ganforge.train, "HEARTBEAT_S", 0.0)
    Trainer(small(steps=3, sample_every=1000), tmp_path / "run", progress=False).fit()
    lines = [x for x in capsys.readouterr().out.splitlines() if " eta " in x]
    assert [x.split()[1] for x in lines] == ["1/3", "2/3", "3/3"]
    assert lines[-1].endswith("eta 0m00s") and float(lines[0].split()[3]) > 0


def test_epochs_count_passes_over_the_training_split(tmp_path):
    trainer = Trainer(small(epochs=2.0, batch_size=64, k_disc=2), tmp_path / "run", progress=False)
    assert trainer.steps_per_epoch == -(-1297 // 128)
    assert trainer.total_steps == 2 * trainer.steps_per_epoch


def test_an_existing_run_is_never_overwritten(tmp_path):
    Trainer(small(steps=1), tmp_path / "run", progress=False).fit()
    with pytest.raises(UserError, match="already holds a run"):
        Trainer(small(steps=1), tmp_path / "run", progress=False)
    (tmp_path / "run" / "checkpoints" / "best.pt").write_bytes(b"another run's")
    (tmp_path / "run" / "checkpoints" / "latest.pt").unlink()  # e.g. deleted by hand after damage
    with pytest.raises(UserError, match=r"holds checkpoints \(best.pt\) but no latest.pt"):
        Trainer(small(steps=1), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "checkpoints" / "best.pt").read_bytes() == b"another run's"


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = Trainer(small(steps=2), tmp_path / "run", progress=False)
    trainer.fit()
    good = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")

    def torn_save(obj, f):
        f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    trainer.train_step()
    with pytest.raises(UserError, match="cannot be written .*previous checkpoint is kept"):
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["step"] == good["step"] == 2
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["latest.pt"]


def _train_cmd(run_dir, steps):
    return [sys.executable, "-m", "ganforge", "train", "--data", "digits", "--width", "8", "--latent-dim", "8",
            "--batch-size", "16", "--steps", str(steps), "--checkpoint-every", "1", "--sample-every", "100000",
            "--out", str(run_dir), "--no-progress"]


def _wait_for(path, timeout=60):
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_kill_9_during_training_leaves_a_loadable_checkpoint(tmp_path):
    """Checkpoints are written every step here, so SIGKILL lands mid-write sooner or later."""
    run = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(run, 100000), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(run / "checkpoints" / "latest.pt")
        time.sleep(1.5)
    finally:
        proc.kill()
        proc.wait()
    ckpt = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert ckpt["step"] >= 1
    assert ganforge.load_run(run).sample(4, seed=0).shape == (4, 1, 8, 8)


def test_sigterm_saves_a_checkpoint_and_exits_cleanly_then_resume_finishes(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(run, 100000), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(run / "checkpoints" / "latest.pt")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err and "checkpoint saved" in err
    step = load_checkpoint(run / "checkpoints" / "latest.pt")["step"]
    assert step >= 1
    resumed = subprocess.run(_train_cmd(run, step + 2) + ["--resume"], capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == step + 2


def test_eval_every_logs_metrics_during_training(tmp_path):
    run = tmp_path / "run"
    Trainer(small(steps=4, sample_every=2, eval_every=2, eval_metrics="fid", eval_n=100), run, progress=False).fit()
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    fids = [(r["step"], r["metric/fid"]) for r in records if "metric/fid" in r]
    assert [s for s, _ in fids] == [2, 4]
    assert all(v > 0 for _, v in fids)


def test_the_training_data_hash_keeps_its_format_so_saved_runs_stay_readable():
    """Checkpoints store train_fingerprint: a change of how it is computed would refuse every saved run's
    unchanged data ("the data changed since it was trained"). These values are the format runs were saved with."""
    import numpy as np

    from ganforge.data import ArrayDataset
    from ganforge.train import train_fingerprint

    images = ArrayDataset("t", "image", {"train": np.arange(8, dtype=np.uint8).reshape(2, 1, 2, 2),
                                         "test": np.zeros((1, 1, 2, 2), np.uint8)}, {"train": np.array([0, 1])})
    points = ArrayDataset("p", "points", {"train": np.array([[0.5, -1.0]], dtype=np.float32)})
    assert train_fingerprint(images) == "8af9357d276b0662"  # the test split does not count for a run
    assert train_fingerprint(points) == "e70fa73d3e9e40e3"
    assert train_fingerprint(images, ("test", "train")) != train_fingerprint(images)  # an anomaly run's: all
