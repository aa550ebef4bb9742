"""Where a ``ctgan`` training step's time goes, and what its settings cost, on the CPU.

Builds one Trainer per ``--variants`` entry (TrainConfig ``key=value`` pairs joined by ``,``, entries by ``;``)
on a table, steps them in alternation (blocks of 5 steps, so load from other jobs falls on all alike) and
prints the median CPU milliseconds per step of each. ``--profile`` then runs torch.profiler over 24 steps of
the first variant and prints the share of the self CPU time by kind of operation.

    python bench/ctgan_step_profile.py --data fair --data-dir DIR/statsmodels/datasets \\
        --variants "adam_fused=off;adam_fused=on;gp_every=4" --profile
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganforge.errors import run_script

#: Kinds of aten operation, by name, for the profile's breakdown (anything else: "other small ops").
KINDS = {
    "GEMMs of the linear layers (forward, backward, the penalty's double backward)": ("aten::mm", "aten::addmm"),
    "Adam and zero_grad": ("Optimizer.step#Adam.step", "Optimizer.zero_grad#Adam.zero_grad", "aten::_fused_adam_",
                           "aten::lerp_", "aten::addcdiv_", "aten::sqrt", "aten::mul_", "aten::div_"),
    "dropout masks": ("aten::bernoulli_",),
    "Gumbel-softmax and tanh": ("aten::_softmax", "aten::_softmax_backward_data", "aten::tanh",
                                "aten::tanh_backward", "aten::log", "aten::clamp"),
    "batch norm": ("aten::native_batch_norm", "aten::native_batch_norm_backward"),
    "random draws (latents, conditions)": ("aten::normal_", "aten::uniform_", "aten::multinomial",
                                           "aten::randint", "aten::random_"),
    "copies, indexing, allocation": ("aten::cat", "aten::copy_", "aten::index", "aten::_index_put_impl_",
                                     "aten::zero_", "aten::fill_", "aten::scatter_", "aten::slice_backward",
                                     "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::as_strided",
                                     "aten::nonzero"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="fair")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--variants", default="", help="TrainConfig key=value pairs joined by ',', variants by ';'")
    p.add_argument("--rounds", type=int, default=16, help="blocks of 5 steps per variant  [16]")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="also the first variant's breakdown by kind of op")
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from table_vs_ctgan import parse_variant

    from ganforge.data import load_dataset
    from ganforge.models import config_for
    from ganforge.train import Trainer

    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data, args.data_dir)
    names = [v for v in args.variants.split(";") if v.strip()] or ["defaults"]
    trainers = {}
    for name in names:
        options = parse_variant(name) if name != "defaults" else {}
        cfg = config_for(model="ctgan", data=args.data, data_dir=args.data_dir, steps=10**9, batch_size=500,
                         seed=0, sample_every=10**9, checkpoint_every=10**9, device="cpu", **options)
        trainers[name] = Trainer(cfg, Path(tempfile.mkdtemp()) / "run", dataset=ds, progress=False)

    def steps(trainer, k: int) -> float:
        start = time.process_time()
        for _ in range(k):
            trainer.check_finite(trainer.train_step())
        return (time.process_time() - start) / k * 1e3

    for trainer in trainers.values():
        steps(trainer, 3)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            times[name].append(steps(trainers[name], 5))
    print(f"{args.data}, batch 500, pac 10, {args.threads} thread(s): median (min) CPU ms per step")
    for name in names:
        print(f"  {name:40s} {statistics.median(times[name]):7.1f} ({min(times[name]):.1f})")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        trainer = trainers[names[0]]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            steps(trainer, 24)
        shares: collections.Counter[str] = collections.Counter()
        for event in prof.key_averages():
            kind = next((k for k, ops in KINDS.items() if event.key in ops), "other small ops (elementwise, "
                                                                                "reductions, autograd dispatch)")
            shares[kind] += event.self_cpu_time_total
        total = sum(shares.values())
        print(f"profile of {names[0]}: share of self CPU time")
        for kind, t in shares.most_common():
            print(f"  {kind:80s} {100 * t / total:5.1f}%")


if __name__ == "__main__":
    sys.exit(run_script(main))
