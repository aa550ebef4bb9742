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


@pytest.mark.parametrize("busy,policy,threads", [
    (0.2, "spin", 2), (0.2, "passive", 2),   # idle: every core either way
    (1.0, "spin", 1), (1.0, "passive", 2),   # one busy process: a spinning pool must leave it its core
    (2.0, "spin", 1), (2.0, "passive", 2),   # every core busy: passive threads still take their share
    (3.0, "spin", 1), (3.0, "passive", 1),   # more busy than cores: one thread
])
def test_auto_threads_leave_a_spinning_pool_only_the_free_cores(busy, policy, threads):
    from ganforge.threads import auto_threads

    assert auto_threads(2, busy, policy) == threads


class ScriptedMachine:
    """A machine whose other processes want ``others`` cores while this process wants ``own``, shared fairly
    when they want more than the CPUs, with a clock the test advances: /proc/stat-like ``(busy, total)``
    jiffies at 100 per CPU-second."""

    def __init__(self, cpus: int = 2):
        self.cpus, self.t, self.busy_j, self.own_s = cpus, 0.0, 0.0, 0.0
        self.others, self.own = 0.0, 2.0

    def advance(self, seconds: float) -> None:
        share = min(1.0, self.cpus / max(self.others + self.own, 1e-9))
        self.t += seconds
        self.busy_j += (self.others + self.own) * share * seconds * 100
        self.own_s += self.own * share * seconds

    def governor(self, choice, applied: list[int], window_s: float = 10.0):
        from ganforge.threads import ThreadGovernor

        return ThreadGovernor(choice, cores=self.cpus, window_s=window_s, clock=lambda: self.t,
                              cpu_times=lambda: (round(self.busy_j), round(self.t * self.cpus * 100)),
                              own_cpu_s=lambda: self.own_s, set_threads=applied.append, machine_cpus=self.cpus)


def test_a_spinning_run_drops_to_the_free_core_when_other_work_starts_and_takes_it_back_after():
    """Started on an idle machine (2 spinning threads), a run beside a new busy process keeps the one free core
    after two windows agree, and returns to both cores two windows after that work ends."""
    from ganforge.threads import ThreadChoice

    machine, applied = ScriptedMachine(), []
    gov = machine.governor(ThreadChoice(2, "spin", "0.0 of 2 cores busy"), applied)
    lines = []
    for window in range(8):
        machine.others = 1.0 if 2 <= window < 5 else 0.0  # another job runs in windows 2, 3 and 4
        machine.own = 1.0 if gov.threads == 1 else 1.9
        for _ in range(10):  # the loop polls every step; only a finished window counts
            machine.advance(1.0)
            lines.append(gov.poll())
    changes = [line for line in lines if line]
    assert applied == [1, 2]
    assert changes[0] == "threads 2 -> 1 (0.7 of 2 cores busy with other work; OpenMP spin)"  # its fair share
    assert changes[1].startswith("threads 1 -> 2 (0.0 of 2 cores busy")
    assert lines.index(changes[0]) == 39 and lines.index(changes[1]) == 69  # the second window that agrees


def test_one_burst_of_other_work_changes_nothing_and_a_spinning_pool_needs_two_busy_windows():
    from ganforge.threads import ThreadChoice

    machine, applied = ScriptedMachine(), []
    gov = machine.governor(ThreadChoice(2, "spin", "0.0 of 2 cores busy"), applied)
    for others in (0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0):  # a burst every other window, never two in a row
        machine.others, machine.own = others, 1.9
        machine.advance(10.0)
        assert gov.poll() is None
    assert applied == [] and gov.threads == 2


def test_a_passive_run_started_on_an_oversubscribed_machine_takes_every_core_when_the_work_ends():
    """Started beside 7.5 busy cores on 2 (one passive thread), it gets both cores once that work has gone."""
    from ganforge.threads import ThreadChoice, choose_threads

    start = choose_threads(None, cores=2, load=7.5, environ={})
    assert (start.threads, start.wait_policy) == (1, "passive")
    machine, applied = ScriptedMachine(), []
    gov = machine.governor(ThreadChoice(start.threads, start.wait_policy, start.reason), applied)
    machine.others, machine.own = 7.5, 1.0
    for _ in range(3):
        machine.advance(10.0)
        assert gov.poll() is None  # still oversubscribed: one thread
    machine.others = 0.0
    machine.advance(10.0)
    assert gov.poll() is None  # the first quiet window
    machine.advance(10.0)
    assert gov.poll().startswith("threads 1 -> 2 (0.0 of 2 cores busy") and applied == [2]


def test_the_governor_counts_other_processes_not_its_own_threads():
    from ganforge.threads import ThreadChoice

    machine = ScriptedMachine()
    gov = machine.governor(ThreadChoice(2, "spin", "idle"), [])
    machine.others, machine.own = 0.5, 1.5
    machine.advance(10.0)
    assert gov.others_busy() == pytest.approx(0.5)


def test_only_an_automatic_choice_is_governed():
    assert choose_threads(None, cores=2, load=0.0, environ={}).automatic
    assert not choose_threads(2, cores=2, load=0.0, environ={}).automatic
    assert not choose_threads(None, cores=2, load=0.0, environ={"OMP_NUM_THREADS": "2"}).automatic
    assert not choose_threads(None, tiny=True, cores=2, load=0.0, environ={}).automatic


def test_the_training_loop_applies_and_prints_the_governors_changes(tmp_path, capsys):
    """The shared loop polls the governor every step and says when the threads change."""
    from ganforge.config import TrainConfig
    from ganforge.threads import ThreadChoice
    from ganforge.train import Trainer

    machine, applied = ScriptedMachine(), []
    trainer = Trainer(TrainConfig(model="gan", data="ring8", steps=30, batch_size=16, sample_every=30),
                      tmp_path / "r", progress=False)
    trainer.thread_governor = machine.governor(ThreadChoice(2, "spin", "idle"), applied, window_s=1.0)
    machine.others, machine.own = 1.0, 1.0

    def step_and_advance(original=trainer.train_step):
        machine.advance(1.0)
        return original()

    trainer.train_step = step_and_advance
    assert trainer.fit() == 30
    assert applied == [1]
    out = capsys.readouterr().out
    assert "step 2/30  threads 2 -> 1 (1.0 of 2 cores busy with other work; OpenMP spin)" in out


def test_a_trainer_is_governed_only_for_a_choice_the_command_made_and_applied(tmp_path):
    """train and augment call govern_threads: an automatic choice applied before torch started is governed;
    --threads, OMP_NUM_THREADS, or a choice not applied (ganforge called from Python) are not."""
    import argparse

    from ganforge.config import TrainConfig
    from ganforge.train import Trainer

    trainer = Trainer(TrainConfig(model="gan", data="ring8", steps=1, batch_size=16, device="cpu"), tmp_path / "r",
                      progress=False)
    cases = [(choose_threads(None, cores=2, load=0.0, environ={}), True, True),
             (choose_threads(2, cores=2, load=0.0, environ={}), True, False),
             (choose_threads(None, cores=2, load=0.0, environ={"OMP_NUM_THREADS": "2"}), True, False),
             (choose_threads(None, cores=2, load=0.0, environ={}), False, False)]
    for choice, applied, governed in cases:
        trainer.thread_governor = None
        trainer.govern_threads(argparse.Namespace(thread_choice=choice, threads_applied=applied))
        assert (trainer.thread_governor is not None) == governed, (choice, applied)


def test_every_model_one_command_trains_is_governed_by_one_governor(tmp_path, monkeypatch):
    """anomaly fit and table hand their args to the methods they fit: each model a method trains is governed,
    and a command that trains several (anomaly table) polls one governor, which knows the threads the last
    left."""
    import argparse

    from ganforge.anomaly import AnomalyConfig, build_method
    from ganforge.data import load_dataset
    from ganforge.data.oneclass import one_class_dataset
    from ganforge.train import Trainer

    governors = []
    fit = Trainer.fit

    def fit_and_record(self):
        governors.append(self.thread_governor)
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_record)
    data = one_class_dataset(load_dataset("ring8"), list(range(7)), 0.1, 0)
    args = argparse.Namespace(thread_choice=choose_threads(None, cores=2, load=0.0, environ={}), threads_applied=True)
    args.thread_governor = ScriptedMachine().governor(args.thread_choice, [])  # as command_governor keeps it
    for i in range(2):
        cfg = AnomalyConfig(method="vae", data="ring8", normal_classes=list(range(7)), train={"steps": 3}).validate()
        method = build_method(cfg)
        method.command_args = args
        method.fit(data, tmp_path / f"run{i}")
    from_python = build_method(cfg)  # no command: torch's threads are the caller's
    from_python.fit(data, tmp_path / "run2")
    assert governors[0] is args.thread_governor and governors[1] is governors[0] and governors[2] is None


def test_anomaly_fit_and_table_hand_the_command_to_the_methods_they_fit(tmp_path, monkeypatch):
    import ganforge.anomaly
    import ganforge.anomaly.table
    from ganforge.cli import main

    built = []

    def spy(build):
        def build_and_record(cfg):
            built.append(build(cfg))
            return built[-1]
        return build_and_record

    monkeypatch.setattr(ganforge.anomaly, "build_method", spy(ganforge.anomaly.build_method))
    monkeypatch.setattr(ganforge.anomaly.table, "build_method", spy(ganforge.anomaly.table.build_method))
    assert main(["anomaly", "fit", "--data", "digits", "--normal-classes", "1", "--method", "iforest",
                 "--out", str(tmp_path / "fit")]) == 0
    assert main(["anomaly", "table", "--data", "digits", "--classes", "0", "--methods", "iforest",
                 "--no-figures", "--out", str(tmp_path / "table")]) == 0
    assert len(built) == 2 and all(hasattr(m.command_args, "thread_choice") for m in built)


def test_a_loop_outside_the_shared_one_polls_the_commands_governor_and_says_its_changes():
    """augment's classifiers and features train run their own loops: each update calls the hook, which polls the
    command's governor (the one its cGAN used) and says a change with where it happened."""
    import argparse

    import numpy as np

    from ganforge.data import load_dataset
    from ganforge.features.train import fit_classifier
    from ganforge.threads import ThreadChoice, governed_step_hook

    machine, applied, said = ScriptedMachine(), [], []
    args = argparse.Namespace(thread_choice=choose_threads(None, cores=2, load=0.0, environ={}), threads_applied=True)
    args.thread_governor = machine.governor(ThreadChoice(2, "spin", "idle"), applied, window_s=1.0)
    hook = governed_step_hook(args, said.append)
    machine.others, machine.own = 1.0, 1.0

    def one_second_per_update(where):
        machine.advance(1.0)
        hook(where)

    digits = load_dataset("digits")
    fit_classifier(np.asarray(digits.split("train")[:64]), digits.labels["train"][:64], 10, 3, 16,
                   step_hook=one_second_per_update)
    assert applied == [1]
    assert said == ["classifier step 2/3  threads 2 -> 1 (1.0 of 2 cores busy with other work; OpenMP spin)"]
    for fixed in (argparse.Namespace(thread_choice=choose_threads(2, cores=2, load=0.0, environ={}),
                                     threads_applied=True),
                  argparse.Namespace(thread_choice=args.thread_choice, threads_applied=False), argparse.Namespace()):
        assert governed_step_hook(fixed) is None
