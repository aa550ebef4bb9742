"""Where a training step of stylegan2 (and of dcgan) spends its time, part by part, at the hour run's recipes.

    python bench/profile_stylegan2_step.py [--models stylegan2 dcgan] [--warmup 5] [--steps 32] [--threads 1]

Each model is built from the recipe ``bench/stylegan2_vs_dcgan.py`` trains (``configs/stylegan2.yaml``;
``dcgan`` with its defaults; Fashion-MNIST resized to 32x32) and driven by ganforge's own loop
(``Trainer.train_step``). The script wraps, without changing the model code, the pieces a step calls — the
mapping network, the synthesis network's modulated convolutions, its noise/bias/activation/upsampling and its
toRGB layers, D's forward pass, the augmentation, the lazy R1 pass, path length, the optimizer steps, G's
weight average, the minibatch draws — in a :class:`PartTimer`, which charges every second of a step to exactly
one part (the innermost open one), so the parts sum to the step. Backward passes are split where the gradient
reaches G's output (everything before it is the backward through D) and w (the rest of G's backward is the
mapping network's). Prints one table per model: ms per step and % of the step, averaged over ``--steps``
steps after ``--warmup`` (a multiple of stylegan2's ``--r1-every`` 16, so the lazy R1 pass is amortised
exactly); ``--operators`` adds torch.profiler's operator table.

The parts are timed in this thread's CPU time by default (``--clock cpu``: ``time.thread_time``; with one
thread, the forward and backward passes all run in it), so other processes sharing the cores slow the run
down but do not enter the figures; ``--clock wall`` times wall-clock instead (then run it on a quiet machine).
"""

from __future__ import annotations  # noqa: I001  (ganforge must be imported before torch)

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import ganforge  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
import torch

from ganforge.config import TrainConfig, load_yaml_config
from ganforge.data import load_dataset
from ganforge.train import Trainer
from ganforge.errors import run_script

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class PartTimer:
    """Exclusive time per named part (``clock``: wall-clock by default): at any moment at most one part is
    charged, the innermost one entered (``part``) or the one ``switch`` opened at the top level; time outside
    every part goes to ``OTHER``. Within ``step()`` the parts' totals therefore sum to the step's time on the
    same clock exactly.

    ``absorbing`` parts keep the parts nested in them from being charged separately (the R1 pass's own D
    forward and backward belong to R1)."""

    OTHER = "other (loop bookkeeping, zero_grad, logs)"

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.totals: dict[str, float] = defaultdict(float)
        self.steps = 0
        self.step_total = 0.0
        self._stack: list[tuple[str, bool]] = []  # (name, absorbing) of the entered parts
        self._open: str | None = None  # the top-level part switch() opened, if any
        self._since = 0.0
        self._active = False

    def _charge(self) -> None:
        now = self.clock()
        if self._active:
            name = self._stack[-1][0] if self._stack else (self._open or self.OTHER)
            self.totals[name] += now - self._since
        self._since = now

    def _absorbed(self) -> bool:
        return any(absorbing for _, absorbing in self._stack)

    @contextmanager
    def part(self, name: str, absorbing: bool = False) -> Iterator[None]:
        """Charge the time inside to ``name`` (less the parts nested in it, unless an absorbing part is open)."""
        if not self._active or self._absorbed():
            yield
            return
        self._charge()
        self._stack.append((name, absorbing))
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def switch(self, name: str | None) -> None:
        """From now on charge the top level (no part entered) to ``name`` (None: to ``OTHER``): backward
        passes, which no Python call brackets, are timed as the stretch between two such switches."""
        if not self._active:
            return
        self._charge()
        self._open = name

    @contextmanager
    def step(self) -> Iterator[None]:
        """One timed training step: everything charged inside adds to ``totals``."""
        start = self.clock()
        self._active, self._since, self._open = True, start, None
        try:
            yield
        finally:
            self._charge()  # the step ends at this last reading of the clock
            self._active, self._open = False, None
            self.step_total += self._since - start
            self.steps += 1

    def table(self, title: str) -> str:
        """A markdown table: each part's ms per step and % of the step, largest first, then the total."""
        per_step = {name: t / max(self.steps, 1) for name, t in self.totals.items()}
        step_ms = 1000 * self.step_total / max(self.steps, 1)
        lines = [f"| {title} | ms / step | % of step |", "|---|---|---|"]
        for name, t in sorted(per_step.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {1000 * t:.1f} | {100 * t / max(self.step_total / self.steps, 1e-12):.1f} |")
        lines.append(f"| **step** ({self.steps} steps) | **{step_ms:.1f}** | 100 |")
        return "\n".join(lines)


def timed(timer: PartTimer, name: str | Callable[[], str], fn: Callable, absorbing: bool = False) -> Callable:
    """``fn`` with every call charged to ``name`` (a string, or a function giving it at call time)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with timer.part(name() if callable(name) else name, absorbing):
            return fn(*args, **kwargs)
    return wrapper


def recipe(model: str) -> dict:
    """The hour run's recipe (as ``bench/stylegan2_vs_dcgan.py``): the model's YAML if there is one, on
    Fashion-MNIST resized to 32x32."""
    path = CONFIGS / f"{model}.yaml"
    values = load_yaml_config(path) if path.is_file() else {"model": model}
    return {**values, "model": model, "data": "fashion-mnist", "image_size": 32}


@contextmanager
def instrumented(trainer: Trainer, timer: PartTimer) -> Iterator[None]:
    """Within the block, ``trainer``'s step runs with its pieces wrapped in ``timer``'s parts: instance
    attributes of this trainer, its model and networks, plus the model module's ``r1_penalty``, which is
    restored on leaving. Part names start with the phase they run in ("D step", "G step")."""
    model = trainer.model
    phase = {"name": "-", "r1": False}

    def in_phase(label: str) -> Callable[[], str]:
        return lambda: f"{phase['name']} step: {label}"

    def mark_backward(label: str) -> Callable:
        """A forward hook that, on outputs with a graph, switches the backward pass's label to ``label``
        when the gradient reaches that output (all that remains of the backward is upstream of it)."""
        def hook(grad: torch.Tensor) -> None:
            timer.switch(f"{phase['name']} step: backward through {label}")

        def after_forward(module, args, output):
            if output.requires_grad and timer._active and not timer._absorbed():
                output.register_hook(hook)
        return after_forward

    g, d = model.generator, model.discriminator
    handles = []
    if hasattr(g, "synthesis"):  # stylegan2: the parts of its generator
        g.mapping.forward = timed(timer, in_phase("G mapping network"), g.mapping.forward)
        handles.append(g.mapping.register_forward_hook(mark_backward("G mapping network")))
        synthesis = timed(timer, in_phase("G synthesis: skip upsampling, constant"), g.synthesis)
        mark_image = mark_backward("G synthesis")

        def synthesis_marked(ws: torch.Tensor) -> torch.Tensor:
            img = synthesis(ws)
            mark_image(g, (ws,), img)
            return img
        g.synthesis = synthesis_marked
        for layer in g.layers:
            layer.forward = timed(timer, in_phase("G synthesis: noise, bias, activation, upsampling"),
                                  layer.forward)
            layer.conv.forward = timed(timer, in_phase("G synthesis: modulated 3x3 convs (affine, demod)"),
                                       layer.conv.forward)
        for to_rgb in g.to_rgb:
            to_rgb.forward = timed(timer, in_phase("G synthesis: toRGB"), to_rgb.forward)
    else:
        g.forward = timed(timer, in_phase("G forward"), g.forward)
        handles.append(g.register_forward_hook(mark_backward("G")))
    d.forward = timed(timer, in_phase("D forward"), d.forward)
    if hasattr(model, "augmented"):
        model.augmented = timed(timer, in_phase("augmentation"), model.augmented)
    if hasattr(model, "path_length_penalty"):
        model.path_length_penalty = timed(timer, in_phase("path length pass (fwd + grad)"),
                                          model.path_length_penalty, absorbing=True)
    module = sys.modules[type(model).__module__]
    original_r1 = getattr(module, "r1_penalty", None)
    if original_r1 is not None:  # the lazy R1 pass, with its own D forward and gradient
        def r1_marked(*args, **kwargs):
            phase["r1"] = True
            return original_r1(*args, **kwargs)
        module.r1_penalty = timed(timer, in_phase("lazy R1 pass (fwd + grad)"), r1_marked, absorbing=True)

    def phase_loss(name: str, loss_fn: Callable) -> Callable:
        def wrapped(batch):
            phase["r1"] = False
            with timer.part(f"{name} step: loss (the rest of {name}'s loss function)"):
                out = loss_fn(batch)
            where = "D (R1 steps: with R1's double backward)" if phase["r1"] else "D"
            timer.switch(f"{name} step: backward through {where}")  # the loop calls backward() next
            return out
        return wrapped

    def optimizer_step(name: str, step_fn: Callable) -> Callable:
        def wrapped(*args, **kwargs):
            timer.switch(None)  # the backward pass is over
            with timer.part(f"{name} step: optimizer (Adam) step"):
                return step_fn(*args, **kwargs)
        return wrapped

    run_phase = trainer.run_phase

    def run_phase_named(ph):
        phase["name"] = ph.name
        return run_phase(ph)

    trainer.run_phase = run_phase_named
    trainer.phases = [dataclasses.replace(
        ph, loss=phase_loss(ph.name, ph.loss),
        after_step=ph.after_step and timed(timer, f"{ph.name} step: after-step hook (ADA's p)", ph.after_step))
        for ph in trainer.phases]
    for name, optimizer in trainer.optimizers.items():
        optimizer.step = optimizer_step(name, optimizer.step)
    trainer.sampler.next_with_condition = timed(timer, in_phase("real minibatch draw"),
                                                trainer.sampler.next_with_condition)
    trainer.next_latent = timed(timer, in_phase("latent draw"), trainer.next_latent)
    model.after_iteration = timed(timer, "G's weight average (EMA) update", model.after_iteration)
    try:
        yield
    finally:
        if original_r1 is not None:
            module.r1_penalty = original_r1
        for handle in handles:
            handle.remove()


def profile_model(model: str, ds, steps: int, warmup: int, operators: bool = False,
                  clock: Callable[[], float] = time.thread_time) -> PartTimer:
    """Build ``model`` at its recipe, run ``warmup`` steps, then time ``steps`` steps part by part."""
    cfg = TrainConfig.from_dict({**recipe(model), "steps": 10**9, "sample_every": 10**9,
                                 "checkpoint_every": 10**9}, source=f"recipe {model}")
    timer = PartTimer(clock)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, dataset=ds, progress=False)
        for _ in range(warmup):
            trainer.train_step()
        with instrumented(trainer, timer):
            for _ in range(steps):
                with timer.step():
                    trainer.train_step()
        if operators:
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(min(steps, 16)):
                    trainer.train_step()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["stylegan2", "dcgan"])
    parser.add_argument("--steps", type=int, default=32, help="timed steps (a multiple of r1_every 16)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--operators", action="store_true", help="also print torch.profiler's operator table")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: this thread's CPU time (time.thread_time; other processes on the cores do not "
                             "count), wall: time.perf_counter [cpu]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset("fashion-mnist", image_size=32)
    for model in args.models:
        load = os.getloadavg()[0]
        torch.manual_seed(0)
        start = time.perf_counter()
        timer = profile_model(model, ds, args.steps, args.warmup, args.operators,
                              time.thread_time if args.clock == "cpu" else time.perf_counter)
        print(f"\n{model} at its recipe, Fashion-MNIST 32x32, {torch.get_num_threads()} thread(s), "
              f"{args.steps} steps after {args.warmup} warm-up, {args.clock} time; load average {load:.1f} -> "
              f"{os.getloadavg()[0]:.1f}; {time.perf_counter() - start:.0f} s wall in all\n")
        print(timer.table(model))


if __name__ == "__main__":
    sys.exit(run_script(main))
