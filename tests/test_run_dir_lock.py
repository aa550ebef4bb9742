"""One process per run directory; kills at any moment leave a run that samples and resumes (issue 16)."""

import json
import random
import subprocess
import sys
import time

import pytest

import ganforge
from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.rundir import lock_run_dir, remove_stale_temporaries

TINY = ["--data", "digits", "--width", "8", "--latent-dim", "8", "--batch-size", "16", "--no-progress"]
HOLD = ("import sys, time; from ganforge.rundir import lock_run_dir; lock = lock_run_dir(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(60)")


def train_cmd(run, steps, *extra):
    return [sys.executable, "-m", "ganforge", "train", *TINY, "--steps", str(steps), "--checkpoint-every", "1",
            "--sample-every", "1", "--out", str(run), *extra]


def test_a_second_process_is_refused_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for argv in (["train", *TINY, "--steps", "2", "--out", str(run)],
                     ["train", *TINY, "--steps", "4", "--out", str(run), "--resume"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"run directory {run} is in use by process {holder.pid}" in err and err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait()
    assert main(["train", *TINY, "--steps", "4", "--out", str(run), "--resume"]) == 0  # the kernel dropped it


def test_a_stale_lock_and_temporaries_of_a_killed_process_are_recovered(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that has exited
    (run / ".lock").write_text(f"{dead}\n")
    stale = run / "checkpoints" / f".latest.pt.tmp{dead}"
    stale.write_bytes(b"torn")
    live = run / "checkpoints" / ".latest.pt.tmp1"  # a live writer's file (pid 1 always runs) is left alone
    live.write_bytes(b"busy")
    assert main(["train", *TINY, "--steps", "4", "--out", str(run), "--resume"]) == 0
    assert not stale.exists() and live.exists()
    live.unlink()
    assert remove_stale_temporaries(run) == []
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 4


def test_one_process_may_lock_its_own_directory_twice(tmp_path):
    first = lock_run_dir(tmp_path / "r")
    assert lock_run_dir(tmp_path / "r") is first


def test_two_concurrent_trains_on_one_directory_exactly_one_runs(tmp_path):
    run = tmp_path / "run"
    procs = [subprocess.Popen(train_cmd(run, 10), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.pid, *p.communicate(timeout=300), p.returncode) for p in procs]
    codes = sorted(code for *_, code in results)
    assert codes == [0, 2], results
    (winner,) = [pid for pid, _, _, code in results if code == 0]
    (err,) = [err for _, _, err, code in results if code == 2]
    # refused by the lock (naming the winner), or -- if the winner had already finished -- by its checkpoint
    assert f"in use by process {winner}" in err or "already holds a run" in err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))


def kill_at_random_moments(tmp_path, kills: int, seed: int = 0):
    """Start (or resume) a run checkpointing and logging every step, SIGKILL it after a random delay; after
    every kill ``sample`` works; finally ``--resume`` completes it and leaves no temporary file."""
    rng = random.Random(seed)
    run = tmp_path / "run"
    latest = run / "checkpoints" / "latest.pt"
    total = 100_000
    for i in range(kills):
        proc = subprocess.Popen(train_cmd(run, total, *(["--resume"] if latest.exists() else [])),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        step_before = load_checkpoint(latest)["step"] if latest.exists() else 0
        while time.time() < deadline:  # wait until this process has trained (and written) at least once
            time.sleep(0.02)
            if latest.exists() and load_checkpoint(latest)["step"] > step_before or proc.poll() is not None:
                break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.3))  # inside the loop: step, metrics line, sample PNG, checkpoint
        proc.kill()
        proc.wait()
        assert ganforge.load_run(run).sample(2, seed=i).shape == (2, 1, 8, 8)
    step = load_checkpoint(latest)["step"]
    done = subprocess.run(train_cmd(run, step + 3, "--resume"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(latest)["step"] == step + 3
    leftovers = [p for p in run.rglob(".*") if ".tmp" in p.name]
    assert leftovers == []
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, step + 4))  # no torn line, no step twice, none missing
    return step


def test_kill_9_at_random_moments_then_sample_and_resume(tmp_path):
    kill_at_random_moments(tmp_path, kills=2)


@pytest.mark.slow
def test_kill_9_at_20_random_moments_then_sample_and_resume(tmp_path):
    kill_at_random_moments(tmp_path, kills=20, seed=1)
