"""``ganforge predict``: roll a nextframe run forward on test sequences and write true vs predicted as a GIF."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError

#: Rows (sequences) and predicted frames a GIF can hold: beyond these it is no picture, only memory.
MAX_SEQUENCES, MAX_FRAMES = 64, 1000


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="roll out a nextframe run on test sequences: true vs predicted GIF",
                       description="Take the first --n evaluation sequences of the run's data (sprites from the "
                                   "test split, moved by the fixed evaluation seed: the ones 'ganforge eval' "
                                   "measures), give the run their first k frames and let it predict --frames "
                                   "more, each prediction fed back as input. Writes an animated GIF: one row per "
                                   "sequence, true on the left, predicted on the right (a white border marks "
                                   "predicted frames).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--frames", type=int, default=5, help=f"future frames to predict (1 to {MAX_FRAMES})  [5]")
    p.add_argument("--out", required=True, metavar="FILE.gif", help="the GIF to write")
    p.add_argument("--n", type=int, default=4, help=f"test sequences shown, one per row (1 to {MAX_SEQUENCES})  [4]")
    p.add_argument("--checkpoint", default="latest", metavar="WHICH",
                   help="latest, best (checkpoints/best.pt of a --keep-best run) or a checkpoint file  [latest]")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's files  [the run's]")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    if not 1 <= args.frames <= MAX_FRAMES:
        raise UserError(f"--frames {args.frames}: expected an integer from 1 to {MAX_FRAMES}")
    if not 1 <= args.n <= MAX_SEQUENCES:
        raise UserError(f"--n {args.n}: expected an integer from 1 to {MAX_SEQUENCES} (one GIF row per sequence)")
    out = Path(args.out)
    if out.suffix.lower() != ".gif":
        raise UserError(f"--out {out}: expected a .gif file name")
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory, expected a .gif file name")
    from ..models.nextframe import NextFrame
    from ..run import load_run
    from ..viz.nextframe import write_prediction_gif

    run = load_run(args.run_dir, args.checkpoint)
    if not isinstance(run.model, NextFrame):
        raise UserError(f"run {args.run_dir}: a {run.config.model} run: expected a nextframe run")
    ds = run.dataset(args.data_dir)
    write_prediction_gif(run.model, ds.split("test"), out, args.frames, args.n)
    spec = run.model.seq_spec
    print(f"ganforge: wrote {out}: {args.n} {spec.kind} test sequences, {spec.context} context + {args.frames} "
          f"predicted frames, true | predicted")
    return 0
