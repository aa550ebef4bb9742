"""``ganforge export``: a run's generator as an ONNX or TorchScript file, for serving outside Python."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError

#: ``--check`` fails above this largest absolute difference from PyTorch (pixels in [0, 1]).
CHECK_TOLERANCE = 1e-4


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a run's generator to ONNX or TorchScript",
                       description="Write the generator of RUN_DIR's latest checkpoint as one file mapping latents "
                                   "to samples in the data's range (images float (N, C, H, W) in [0, 1]), with the "
                                   "latent size, prior and output range stored as metadata. ONNX needs "
                                   "pip install 'ganforge[export]' (onnx; onnxruntime for --check).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"), help="file format")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (.onnx or .pt)")
    p.add_argument("--checkpoint", default="latest", metavar="WHICH",
                   help="latest, best (checkpoints/best.pt of a --keep-best run), step_N.pt or a checkpoint file "
                        "[latest]")
    p.add_argument("--check", action="store_true",
                   help=f"require the check: every export runs the file on fixed latents at two batch sizes and "
                        f"compares with PyTorch (a file that differs by more than {CHECK_TOLERANCE:g} is removed, "
                        f"exit 1); without --check an ONNX file is not run when onnxruntime is missing")
    p.set_defaults(func=cmd_export)


def onnxruntime_importable() -> bool:
    """Whether onnxruntime imports here (installed and working: a broken install counts as missing)."""
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # ImportError, or a wheel that does not load on this machine
        return False
    return True


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import check_export, export_generator
    from ..run import load_run
    from ..rundir import check_writable_output

    out = Path(args.out)
    expected = ".onnx" if args.format == "onnx" else ".pt"
    if out.suffix != expected:
        raise UserError(f"--out {out}: expected a {expected} file name for --format {args.format}")
    check_writable_output(out)
    runnable = args.format == "torchscript" or onnxruntime_importable()
    if args.check and not runnable:  # asked for a check that cannot run: say so before writing anything
        raise UserError("--check: running an ONNX file needs onnxruntime: pip install 'ganforge[export]'")
    run = load_run(args.run_dir, args.checkpoint)
    meta = export_generator(run, args.format, out)
    inputs = ", ".join(f"{i['name']} {tuple(i['shape'])} {i['dtype']}" for i in meta["inputs"])
    print(f"ganforge: exported the {meta['model']} generator of {run.run_dir} (step {run.step}) to {out} "
          f"({out.stat().st_size / 1e6:.2f} MB); inputs {inputs} "
          f"({'prior ' + meta['prior'] if meta['prior'] else meta['input']}); output x "
          f"{tuple(meta['output']['shape'])} in {meta['output']['range']}")
    if not runnable:
        print("ganforge: not checked: running the ONNX file needs onnxruntime (pip install 'ganforge[export]')")
        return 0
    try:
        diff = check_export(run, out, args.format)
    except Exception as e:  # the file does not run (at another batch size, say): it is no use to anyone
        out.unlink(missing_ok=True)
        first = (str(e).strip().splitlines() or [type(e).__name__])[-1][:300]
        print(f"ganforge: error: the exported file failed to run on fixed latents ({first}); removed {out}",
              file=sys.stderr)
        return 1
    ok = diff <= CHECK_TOLERANCE
    print(f"ganforge: check {'passed' if ok else 'FAILED'}: largest difference from PyTorch {diff:.2e} "
          f"(tolerance {CHECK_TOLERANCE:g}){'' if ok else f'; removed {out}'}")
    if not ok:
        out.unlink(missing_ok=True)
    return 0 if ok else 1
