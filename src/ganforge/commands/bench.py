"""``ganforge bench``: training images/s of ganforge against a tutorial-style loop, and against the machine."""

from __future__ import annotations

import argparse
import json

from ..errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure training speed against a tutorial-style reference loop and the matmul peak",
        description="Times ganforge's training step and a reference loop written the way tutorials write it "
                    "(DataLoader over a per-sample Dataset with per-sample transforms) on the same networks and "
                    "data, in alternating rounds, and prints images/s, their ratio, seconds per 1,000 steps, "
                    "peak memory, model FLOPs per image (counted) and achieved FLOP/s as a share of the "
                    "machine's fp32 matmul peak on the same threads.")
    p.add_argument("--model", action="append", default=None, metavar="M",
                   help="model to time (repeatable)  [gan, dcgan, wgan-gp]")
    p.add_argument("--size", action="append", type=int, default=None, metavar="S",
                   help="image size (repeatable)  [28 for every model, and 64 for dcgan]")
    p.add_argument("--batch-size", action="append", type=int, default=None, metavar="B",
                   help="batch size (repeatable)  [64 and 128]")
    p.add_argument("--quick", action="store_true",
                   help="short: 3 rounds of 2 steps at batch 64, and dcgan 28x28 unless --model/--size say "
                        "otherwise (< 40 s)")
    p.add_argument("--json", action="store_true", help="print one JSON object per row instead of a table")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="[auto]")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads  [chosen from the cores and the load]")
    p.add_argument("--rounds", type=int, default=None, help="alternating timing rounds  [3, quick 3]")
    p.add_argument("--steps", type=int, default=None, help="training steps per round  [4, quick 2]")
    p.add_argument("--workers", type=int, default=0, help="reference loop's DataLoader workers  [0]")
    p.add_argument("--data", default="fashion-mnist", help="image dataset  [fashion-mnist]")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's files  [the usual places]")
    p.add_argument("--amp", default="off", choices=("off", "bf16"), help="ganforge's --amp  [off]")
    p.add_argument("--compile", default="off", choices=("off", "on"), help="ganforge's --compile  [off]")
    p.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"),
                   help="ganforge's --channels-last  [auto]")
    p.set_defaults(func=cmd_bench)


def resolve_cases(models: list[str] | None, sizes: list[int] | None, quick: bool) -> list[tuple[str, int]]:
    from ..benchmark import DEFAULT_CASES, QUICK_CASES

    if models is None and sizes is None:
        return list(QUICK_CASES if quick else DEFAULT_CASES)
    models = models or sorted({m for m, _ in DEFAULT_CASES})
    if sizes is None:
        return [(m, s) for m, s in DEFAULT_CASES if m in models] + \
               [(m, 28) for m in models if m not in {c for c, _ in DEFAULT_CASES}]
    return [(m, s) for m in models for s in sizes]


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..benchmark import DEFAULT_BATCH_SIZES, QUICK_BATCH_SIZES, format_row, run_benchmark

    for name in ("threads", "rounds", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name} {value} is invalid: expected an integer >= 1")
    if args.workers < 0:
        raise UserError(f"--workers {args.workers} is invalid: expected an integer >= 0")
    if args.batch_size and min(args.batch_size) < 1:
        raise UserError(f"--batch-size {min(args.batch_size)} is invalid: expected an integer >= 1")
    if args.size and min(args.size) < 4:
        raise UserError(f"--size {min(args.size)} is invalid: expected an image side >= 4")
    if args.model:
        from ..models import MODELS

        for name in args.model:
            MODELS.get_or_fail(name)  # a model asked for by name is not skipped quietly
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = resolve_cases(args.model, args.size, args.quick)
    batch_sizes = args.batch_size or (QUICK_BATCH_SIZES if args.quick else DEFAULT_BATCH_SIZES)
    rounds = args.rounds or 3
    steps = args.steps or (2 if args.quick else 4)
    options = {"amp": args.amp, "compile": args.compile, "channels_last": args.channels_last}

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    def emit(row) -> None:
        print(json.dumps(row.to_dict()) if args.json else format_row(row), flush=True)

    intro = f"bench: {args.thread_choice}" if getattr(args, "thread_choice", None) else None
    run_benchmark(cases, batch_sizes, args.device, rounds=rounds, steps=steps, workers=args.workers,
                  options=options, data=args.data, data_dir=args.data_dir, log=log, emit=emit, intro=intro)
    return 0
