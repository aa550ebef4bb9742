"""How many CPU threads torch gets, and how its OpenMP threads wait: decided once, before torch starts.

torch's CPU kernels run on an OpenMP pool that by default has one thread per core and keeps idle threads
*spinning* between parallel regions. On an idle machine spinning is faster (docs/performance.md: dcgan
28x28, 460 vs 320 img/s). On a machine other work is also using, spinning threads fight the other processes
for the cores and a 20-step run took 37x longer (156.7 s vs 4.2 s with one thread). So the CLI looks at the
machine first -- usable cores, the 1-minute load average, whether the workload is tiny -- and chooses:

* threads: the cores not already busy (``cores - load``, rounded, at least 1); 1 for tiny workloads (toy
  points, MLPs on 8x8 digits), whose layers are too small for a second thread to pay;
* ``OMP_WAIT_POLICY``: spinning (OpenMP's default) only when torch gets several threads on an idle machine,
  ``PASSIVE`` otherwise (threads sleep at once when idle, so they cannot starve other processes).

The wait policy is read by OpenMP when torch starts its pool, so :func:`apply_threads` must run before the
first ``import torch``: ``ganforge/__init__.py`` imports nothing heavy and the CLI decides before it calls a
command. ``--threads N``, ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY`` given by the user always win. This
module must not import torch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

#: Below this 1-minute load average the machine counts as idle: spinning OpenMP threads pay there.
IDLE_LOAD = 0.5
#: Toy point sets: every model on them is too small for more than one thread.
TOY_DATA = ("gauss1d", "bimodal1d", "ring8", "grid25")
#: Models that are MLPs on 8x8 digits, as small (DCGAN on digits is not: 2 spinning threads took it through
#: 2,000 steps in 66 s on an idle machine, docs/performance.md).
MLP_MODELS = ("gan", "aae", "vae")


def is_tiny_workload(data: str | None, model: str | None) -> bool:
    """Toy points, or an MLP model on the 8x8 digits: one thread is as fast as several."""
    return data in TOY_DATA or (data == "digits" and model in MLP_MODELS)


@dataclass(frozen=True)
class ThreadChoice:
    """``threads`` torch gets and OpenMP's ``wait_policy`` (``"spin"`` or ``"passive"``), with why."""

    threads: int
    wait_policy: str
    reason: str

    def __str__(self) -> str:
        return f"threads {self.threads} ({self.reason}; OpenMP {self.wait_policy})"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average, or None where the OS has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def choose_threads(requested: int | None = None, tiny: bool = False, cores: int | None = None,
                   load: float | None = None, environ: dict[str, str] | None = None) -> ThreadChoice:
    """The thread count and wait policy for a command; see the module docstring for the rule.

    ``requested``: ``--threads`` (wins). ``tiny``: the workload gains nothing from threads. ``cores`` and
    ``load`` default to this machine's; ``environ`` to ``os.environ`` (``OMP_NUM_THREADS`` and
    ``OMP_WAIT_POLICY`` set by the user are kept)."""
    env = os.environ if environ is None else environ
    cores = usable_cores() if cores is None else cores
    load = load_average() if load is None else load
    where = f"load {load:.1f} on {cores} cores" if load is not None else f"{cores} cores"
    if requested is not None:
        threads, reason = requested, "--threads"
    elif env.get("OMP_NUM_THREADS", "").strip().isdigit() and int(env["OMP_NUM_THREADS"]) >= 1:
        threads, reason = int(env["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    elif tiny:
        threads, reason = 1, f"small model; {where}"
    else:
        free = cores - (load or 0.0)
        threads, reason = max(1, min(cores, round(free))), where
    user_policy = env.get("OMP_WAIT_POLICY", "").strip().upper()
    if user_policy in ("ACTIVE", "PASSIVE"):
        policy = "spin" if user_policy == "ACTIVE" else "passive"
    else:
        idle = load is not None and load < IDLE_LOAD
        policy = "spin" if threads > 1 and idle else "passive"
    return ThreadChoice(threads, policy, reason)


def apply_threads(choice: ThreadChoice) -> None:
    """Make ``choice`` take effect. Before torch is imported: through ``OMP_NUM_THREADS`` and
    ``OMP_WAIT_POLICY`` (read when its pool starts). After (ganforge called from Python or tests): only the
    thread count can still change, with ``torch.set_num_threads``."""
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(choice.threads)
        return
    os.environ["OMP_NUM_THREADS"] = str(choice.threads)
    if choice.wait_policy == "passive":
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
