"""Time a command on a busy machine: start N CPU-bound processes, run the command, report its wall time, stop them.

    python bench/busy_machine.py --load 2x -- ganforge train --data digits --out runs/quickstart
    python bench/busy_machine.py --load 0 -- ganforge bench --quick          # the same, no extra load

    python bench/busy_machine.py --load 1 --load-after 20 -- ganforge train ...   # work that starts later

``--load`` is a number of busy processes or ``Kx`` for K times the usable cores (issue 16 asks for 2x).
``--load-after S`` starts them S seconds after the command instead of before it: a machine that becomes busy
during a run (what ganforge's thread governor reacts to).
Each busy process spins in pure Python (no threads, no I/O), like another user's CPU-bound job. The busy
processes are started before the command and killed when it ends, even on Ctrl-C. Prints one line:
command, wall seconds, exit code, the 1-minute load average before and after, and the busy count; with
``--json`` a JSON object instead. The command's own output goes to stdout/stderr unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shlex
import signal
import subprocess
import sys
import time

from ganforge.errors import run_script


def spin() -> None:
    """Burn one core until killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which kills us
    x = 0
    while True:
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def parse_load(text: str) -> int:
    if text.endswith("x"):
        return round(float(text[:-1]) * usable_cores())
    return int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--load", default="2x", help="busy processes: N, or Kx for K times the cores  [2x]")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds the load runs before the command  [2]")
    p.add_argument("--load-after", type=float, default=None, metavar="S",
                   help="start the busy processes S seconds after the command starts, not before it")
    p.add_argument("--quiet", action="store_true", help="discard the command's output")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a line")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("expected a command after --")
    n_busy = parse_load(args.load)
    busy = [mp.Process(target=spin, daemon=True) for _ in range(n_busy)]
    load_before = os.getloadavg()[0]
    later = args.load_after is not None
    if not later:
        for b in busy:
            b.start()
    try:
        time.sleep(args.warmup if n_busy and not later else 0.0)
        out = subprocess.DEVNULL if args.quiet else None
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=out)
        if later:
            try:
                proc.wait(timeout=args.load_after)
            except subprocess.TimeoutExpired:
                for b in busy:
                    b.start()
        code = proc.wait()
        wall = time.perf_counter() - start
    finally:
        for b in busy:
            if b.pid is not None:
                b.kill()
        for b in busy:
            if b.pid is not None:
                b.join()
    record = {"command": shlex.join(command), "wall_s": round(wall, 2), "exit_code": code, "busy": n_busy,
              "load_after_s": args.load_after,
              "cores": usable_cores(), "load_before": round(load_before, 2),
              "load_after": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps(record), flush=True)
    else:
        print(f"busy_machine: {record['command']}: {wall:.1f} s wall, exit {code}, {n_busy} busy processes on "
              f"{record['cores']} cores, load {record['load_before']} before, {record['load_after']} after",
              flush=True)
    return code


if __name__ == "__main__":
    sys.exit(run_script(main))
