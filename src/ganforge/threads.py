"""How many CPU threads torch gets, and how its OpenMP threads wait: decided once, before torch starts.

torch's CPU kernels run on an OpenMP pool that by default has one thread per core and keeps idle threads
*spinning* between parallel regions. On an idle machine spinning is faster (docs/performance.md: dcgan
28x28, 460 vs 320 img/s). On a machine other work is also using, spinning threads fight the other processes
for the cores and a 20-step run took 37x longer (156.7 s vs 4.2 s with one thread). So the CLI looks at the
machine first -- usable cores, how many cores other processes keep busy *now*, whether the workload is
tiny -- and chooses:

* threads: every core while other work keeps at most every core busy, else the cores not already busy
  (``cores - busy``, rounded, at least 1); 1 for tiny workloads (toy
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
from collections.abc import Callable
from dataclasses import dataclass

#: Below this many busy cores the machine counts as idle: spinning OpenMP threads pay there.
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

    @property
    def automatic(self) -> bool:
        """Chosen from the machine (not ``--threads`` or ``OMP_NUM_THREADS``, nor fixed for a small model)."""
        return self.reason not in ("--threads", "OMP_NUM_THREADS") and not self.reason.startswith("small model")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: How long :func:`busy_cores` watches the machine, in seconds.
BUSY_WINDOW_S = 0.2


def usable_cpu_ids() -> frozenset[int]:
    """The CPUs this process may run on (its affinity mask; every CPU where there is none)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return frozenset(range(os.cpu_count() or 1))


def _cpu_times(cpus: frozenset[int] | None = None) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies summed over ``cpus`` (default: this process's affinity mask) from the per-CPU
    lines of /proc/stat, or None where there is none. Work on CPUs this process may not use does not count."""
    cpus = usable_cpu_ids() if cpus is None else cpus
    busy = total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, _, rest = line.partition(" ")
                if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                    continue
                fields = [int(v) for v in rest.split()]
                idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
                used = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
                busy, total = busy + used - idle, total + used
    except (OSError, ValueError, IndexError):
        return None
    return (busy, total) if total else None


def _busy_between(before: tuple[int, int] | None, after: tuple[int, int] | None, cpus: int) -> float | None:
    """Cores busy between two :func:`_cpu_times` readings over ``cpus`` CPUs (None if either is missing)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * cpus


def busy_cores(window_s: float = BUSY_WINDOW_S) -> float | None:
    """Cores other processes keep busy now among those this process may use: their non-idle CPU time over
    ``window_s`` seconds (this process sleeps meanwhile), in cores. Where /proc/stat is missing: the 1-minute
    load average; None where neither exists. The load average alone lags by a minute both ways: right after a
    busy spell it calls an idle machine busy, and right after other work starts it calls a busy machine idle."""
    import time

    cpus = usable_cpu_ids()
    before = _cpu_times(cpus)
    if before is None:
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return None
    time.sleep(window_s)
    return _busy_between(before, _cpu_times(cpus), len(cpus))


def auto_threads(cores: int, busy: float, wait_policy: str) -> int:
    """Threads for ``cores`` usable cores while other work keeps ``busy`` cores busy, for a pool whose idle
    threads ``wait_policy`` (``"spin"`` or ``"passive"``).

    Passive: every core while other work keeps at most every core busy (the scheduler gives each sleeping-when-
    idle thread its share: quickstart beside 2 busy processes on 2 cores, 2 passive threads 135.7 s, 1 thread
    183.1 s, docs/performance.md), else the cores left free, at least 1. Spinning: every core only while the
    machine is idle (under :data:`IDLE_LOAD` busy), else the cores left free: a spinning thread that shares its
    core makes the others wait at every barrier (the 2014 MLP beside one busy process: 2 spinning threads 838
    images/s, 1 thread 2,022)."""
    if wait_policy == "spin" and busy >= IDLE_LOAD:
        return max(1, min(cores, round(cores - busy)))
    return cores if round(busy) <= cores else max(1, min(cores, round(cores - busy)))


def choose_threads(requested: int | None = None, tiny: bool = False, cores: int | None = None,
                   load: float | None = None, environ: dict[str, str] | None = None) -> ThreadChoice:
    """The thread count and wait policy for a command; see the module docstring for the rule.

    ``requested``: ``--threads`` (wins). ``tiny``: the workload gains nothing from threads. ``cores`` and
    ``load`` (cores busy with other work) default to this machine's, from :func:`busy_cores`; ``environ``
    to ``os.environ`` (``OMP_NUM_THREADS`` and
    ``OMP_WAIT_POLICY`` set by the user are kept)."""
    env = os.environ if environ is None else environ
    cores = usable_cores() if cores is None else cores
    load = busy_cores() if load is None else load
    where = f"{load:.1f} of {cores} cores busy" if load is not None else f"{cores} cores"
    if requested is not None:
        threads, reason = requested, "--threads"
    elif env.get("OMP_NUM_THREADS", "").strip().isdigit() and int(env["OMP_NUM_THREADS"]) >= 1:
        threads, reason = int(env["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    elif tiny:
        threads, reason = 1, f"small model; {where}"
    else:
        threads, reason = auto_threads(cores, load or 0.0, "passive"), where
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


#: How often a :class:`ThreadGovernor` looks at the machine, in seconds of training.
GOVERN_WINDOW_S = 5.0


def _set_torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


class ThreadGovernor:
    """Re-decides torch's thread count while a command runs, as other work starts and stops on the machine.

    The choice at start (:func:`choose_threads`) sees the machine as it was then; a training run lasts hours.
    Every ``window_s`` seconds :meth:`poll` measures the cores *other* processes kept busy over the window (the
    busy CPU time of the CPUs it may use, from /proc/stat, minus this process's own CPU time) and computes
    :func:`auto_threads` for the wait policy the pool started with (it cannot change once torch runs). A new
    count is applied only when two windows in a row agree, so one burst of other work does not flip it, and
    more threads only while some CPU is idle (on a saturated machine the others' demand is not measurable).

    Used only where the threads were chosen automatically (``--threads``/``OMP_NUM_THREADS`` always win).
    ``clock``, ``cpu_times`` (``(busy, total)`` jiffies, or None), ``own_cpu_s`` and ``set_threads`` are
    seams for tests."""

    def __init__(self, choice: ThreadChoice, cores: int | None = None, window_s: float = GOVERN_WINDOW_S,
                 clock=None, cpu_times=None, own_cpu_s=None, set_threads=None, machine_cpus: int | None = None):
        import time

        self.threads = choice.threads
        self.wait_policy = choice.wait_policy
        self.cores = usable_cores() if cores is None else cores
        self.machine_cpus = machine_cpus or len(usable_cpu_ids())  # the CPUs the jiffies of cpu_times cover
        self.window_s = window_s
        self._clock = clock or time.monotonic
        self._cpu_times = cpu_times or _cpu_times
        self._own_cpu_s = own_cpu_s or time.process_time
        self._set_threads = set_threads or _set_torch_threads
        self._pending: int | None = None
        self._mark()

    def _mark(self) -> None:
        self._t, self._machine, self._own = self._clock(), self._cpu_times(), self._own_cpu_s()

    def _measure(self) -> tuple[float, float] | None:
        """``(all busy, busy with other work)`` in cores since the last mark, or None."""
        now, machine, own = self._clock(), self._cpu_times(), self._own_cpu_s()
        all_busy = _busy_between(self._machine, machine, self.machine_cpus)
        if all_busy is None or now <= self._t:
            return None
        return all_busy, max(0.0, all_busy - (own - self._own) / (now - self._t))

    def others_busy(self) -> float | None:
        """Cores other processes kept busy since the last mark (None where /proc/stat cannot be read)."""
        measured = self._measure()
        return None if measured is None else measured[1]

    def poll(self) -> str | None:
        """Call often (every training step): cheap until a window has passed. Returns a line saying what
        changed when the thread count changes, else None."""
        if self._clock() - self._t < self.window_s:
            return None
        measured = self._measure()
        self._mark()
        if measured is None:
            return None
        all_busy, others = measured
        target = auto_threads(self.cores, others, self.wait_policy)
        if target > self.threads and all_busy > self.machine_cpus - IDLE_LOAD:
            # every CPU in use: the others got only what this process left them, so how much more they want is
            # hidden (7 busy processes beside one passive thread measure ~1 core); more threads only with room
            target = self.threads
        if target == self.threads:
            self._pending = None
            return None
        if self._pending != target:  # the first window that disagrees: wait for a second one
            self._pending = target
            return None
        self._set_threads(target)
        old, self.threads, self._pending = self.threads, target, None
        return (f"threads {old} -> {target} ({others:.1f} of {self.cores} cores busy with other work; "
                f"OpenMP {self.wait_policy})")


def command_governor(args) -> ThreadGovernor | None:
    """The governor of a command's CPU training (its parsed ``args``): made once and kept in ``args``, so that
    every model one command trains (a cGAN and then classifiers in ``augment``; the cells of ``anomaly table``)
    polls the same one, which knows the thread count the last left. None where the threads are not the
    command's to re-decide: ``--threads``/``OMP_NUM_THREADS``, small models' one thread, or a choice not
    applied because torch was running before the command (ganforge called from Python)."""
    choice = getattr(args, "thread_choice", None)
    if choice is None or not choice.automatic or not getattr(args, "threads_applied", False):
        return None
    if getattr(args, "thread_governor", None) is None:
        args.thread_governor = ThreadGovernor(choice)
    return args.thread_governor


def governed_step_hook(args, say: Callable[[str], None] = print) -> Callable[[str], None] | None:
    """For a training loop outside the shared one, on CPU (the classifiers of ``augment`` and ``features train``,
    f-AnoGAN's encoder): ``hook(where)`` to call every step, which polls the command's governor and says a change
    as ``"{where}  threads 2 -> 1 (...)"``; None when the command's threads are not governed (``args`` None:
    no command)."""
    governor = command_governor(args)
    if governor is None:
        return None

    def hook(where: str) -> None:
        if change := governor.poll():
            say(f"{where}  {change}")

    return hook
