"""Threads and OpenMP wait policy chosen from the machine (issue 16): the rule, and that it acts before torch."""

import os
import subprocess
import sys

import pytest

from ganforge.threads import choose_threads, is_tiny_workload


@pytest.mark.parametrize("cores,load,tiny,threads,policy", [
    (2, 0.1, False, 2, "spin"),      # idle: every core, spinning threads (faster on an idle machine)
    (2, 0.9, False, 2, "passive"),   # one core busy: both cores, threads that sleep when idle
    (2, 2.0, False, 2, "passive"),   # two busy processes on 2 cores: passive threads still take their share
    (2, 7.5, False, 1, "passive"),   # the machine: load 7-8 on 2 cores
    (16, 3.6, False, 16, "passive"),  # some load: every core, threads that sleep when idle
    (16, 20.0, False, 1, "passive"),  # oversubscribed beyond the cores: one thread
    (16, 0.0, True, 1, "passive"),   # toy points / 8x8 digits: one thread even on an idle machine
])
def test_threads_are_the_free_cores_and_spin_only_when_idle(cores, load, tiny, threads, policy):
    choice = choose_threads(None, tiny=tiny, cores=cores, load=load, environ={})
    assert (choice.threads, choice.wait_policy) == (threads, policy)
    assert f"{load:.1f} of {cores} cores busy" in str(choice)


def test_the_user_wins_over_the_rule():
    assert choose_threads(3, cores=2, load=9.0, environ={}).threads == 3
    env = {"OMP_NUM_THREADS": "4", "OMP_WAIT_POLICY": "active"}
    choice = choose_threads(None, tiny=True, cores=2, load=9.0, environ=env)
    assert (choice.threads, choice.wait_policy, choice.reason) == (4, "spin", "OMP_NUM_THREADS")


def test_the_cli_sets_openmp_before_torch_starts(tmp_path):
    """In a fresh process the choice reaches torch: OMP_* are set before the first ``import torch``."""
    code = ("import os, sys; from ganforge.cli import main; "
            "main(['datasets']); import torch; "
            "print(torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    out = subprocess.run([sys.executable, "-c", code.replace("['datasets']", "['datasets', '--threads', '1']")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1 PASSIVE"
    probe = subprocess.run([sys.executable, "-c", "import sys, ganforge, ganforge.cli; "
                            "ganforge.cli.build_parser(); print('torch' in sys.modules)"],
                           capture_output=True, text=True, env=env)
    assert probe.stdout.strip() == "False"  # importing ganforge and building the CLI does not start torch


def test_tiny_workloads_are_toy_points_and_digit_mlps():
    assert is_tiny_workload("ring8", "wgan-gp") and is_tiny_workload("digits", "gan")
    assert not is_tiny_workload("digits", "dcgan") and not is_tiny_workload("fashion-mnist", "gan")


def test_the_start_up_line_names_the_choice(tmp_path, capsys):
    from ganforge.cli import main

    assert main(["train", "--model", "gan", "--data", "ring8", "--steps", "1", "--batch-size", "16",
                 "--threads", "1", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("ganforge: training gan on ring8") and "; threads 1 (--threads; " in first


def test_busy_cores_sees_a_busy_process_at_once_where_the_load_average_lags():
    """A process that started a moment ago already counts (the 1-minute load average would still be ~0)."""
    import multiprocessing as mp
    import time

    from ganforge.threads import busy_cores

    def spin(deadline):
        while time.time() < deadline:
            pass

    quiet = busy_cores(0.3)
    if quiet is not None and quiet > (os.cpu_count() or 1) - 0.8:
        pytest.skip(f"{quiet:.1f} of {os.cpu_count()} cores already busy: no room to see one more process")
    proc = mp.get_context("fork").Process(target=spin, args=(time.time() + 5,))
    proc.start()
    try:
        time.sleep(0.3)
        loaded = busy_cores(0.3)
    finally:
        proc.terminate()
        proc.join()
    assert loaded is not None and quiet is not None
    assert loaded >= quiet + 0.6, (quiet, loaded)
