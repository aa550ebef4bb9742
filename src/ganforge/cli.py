"""The ``ganforge`` command line. Each subcommand is one module in ``ganforge.commands`` with
``add_parser(subparsers)``; this file is the one place that turns a :class:`UserError` (or an operating-system
error on a user's file: permissions, a full disk, a name too long) into one line on stderr and exit code 2
(3 for a diverged training run).

Before any command runs (and so before torch is imported), it chooses torch's threads and OpenMP wait policy
from the machine's load (``ganforge.threads``); every command takes ``--threads N`` to override."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import UserError
from .recipes import resolve_config_path
from .threads import apply_threads, choose_threads, is_tiny_workload

#: Subcommand modules under ganforge.commands, in --help order.
COMMANDS = ("train", "sample", "eval", "export", "features", "lab", "report", "latent", "bench", "datasets",
            "models", "gam", "upscale", "invert", "augment", "anomaly", "predict")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors (an unknown flag, a missing argument, a value of the wrong type) are
    one line on stderr and exit code 2, like every other user error, instead of the usage block; subcommands'
    parsers are of the same class (argparse builds them with the parent's)."""

    def error(self, message: str):
        if _speaks_for_its_node():  # under torchrun, one process per node (as _say_error)
            print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = OneLineErrorParser(
        prog="ganforge", description="Train, sample, measure and look at generative adversarial networks.",
        epilog="Run 'ganforge COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if importlib.util.find_spec(f"ganforge.commands.{name}") is not None:
            importlib.import_module(f"ganforge.commands.{name}").add_parser(sub)
    for command in sub.choices.values():
        _add_threads_option(command)
    return parser


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` on every (leaf) command that does not define its own."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in nested:
        for child in action.choices.values():
            _add_threads_option(child)
    if not nested and "--threads" not in parser._option_string_actions:
        parser.add_argument("--threads", type=int, default=None,
                            help="CPU threads for torch  [chosen from the cores and the load; 1 for small models]")


def _workload(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``(data, model)`` a command will work on, read without importing torch: ``--data``/``--model``, else
    the run directory's (or ``--config`` file's) YAML config; train's defaults (digits, dcgan) for train."""
    found: dict[str, str | None] = {}
    for key in ("data", "model"):
        value = getattr(args, key, None)
        found[key] = value if isinstance(value, str) else None
    run_dir = getattr(args, "run_dir", None) or (getattr(args, "out", None) if getattr(args, "resume", False)
                                                 else None)
    for path in (getattr(args, "config", None), run_dir and Path(run_dir) / "config.yaml"):
        if path and None in found.values():
            try:
                import yaml

                saved = yaml.safe_load(resolve_config_path(path).read_text()) or {}
                for key in found:
                    if found[key] is None and isinstance(saved.get(key), str):
                        found[key] = saved[key]
            except (OSError, ValueError, AttributeError, yaml.YAMLError):
                continue  # the command itself reports an unreadable file
    if getattr(args, "command", None) == "train":
        found = {"data": found["data"] or "digits", "model": found["model"] or "dcgan"}
    return found["data"], found["model"]


def _check_data_dir(args: argparse.Namespace) -> None:
    """A ``--data-dir`` given on the command line must exist (unless ``--download`` is to fill it): a mistyped
    one would otherwise be passed over for the other places a dataset is looked for, without a word."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir and not getattr(args, "download", False) and not Path(data_dir).expanduser().is_dir():
        raise UserError(f"--data-dir {data_dir}: no such directory: expected the directory holding the dataset's "
                        "files (or add --download to fetch them there)")


def _choose_threads(args: argparse.Namespace):
    """Decide threads before torch starts. When torch is already imported (ganforge used from Python or
    tests), the host process owns the thread count unless ``--threads`` is given."""
    requested = getattr(args, "threads", None)
    most = 4 * (os.cpu_count() or 1)  # oversubscribing a little is a measurement (bench); 1e12 is a slip
    if requested is not None and not 1 <= requested <= most:
        raise UserError(f"--threads {requested}: expected an integer in [1, {most}] (4 x this machine's cores)")
    choice = choose_threads(requested, tiny=is_tiny_workload(*_workload(args)))
    args.threads_applied = requested is not None or "torch" not in sys.modules
    if args.threads_applied:
        apply_threads(choice)
    return choice


def _check_empty_lists(args: argparse.Namespace) -> None:
    """``--discrete-columns ''`` (and the like) names no column: a slip, not "none" nor "the inferred kinds"."""
    for name in ("discrete_columns", "continuous_columns"):  # (--metrics, --methods: their commands say it)
        for dest in (name, f"train_{name}"):  # anomaly fit/table keep them for the model they train
            value = getattr(args, dest, None)
            if isinstance(value, str) and not value.replace(",", "").strip():
                raise UserError(f"--{name.replace('_', '-')} {value!r}: expected comma-separated column names")


def _check_empty_paths(args: argparse.Namespace) -> None:
    """``--out ''`` (and the like) is a slip, not "the default" or "here": refused rather than read as either."""
    for name in ("out", "run_dir", "data_dir", "config", "features", "images", "samples", "runs", "cgan_run",
                 "weights", "init_from", "content_features", "checkpoint"):
        value = getattr(args, name, None)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            flag = f"--{name.replace('_', '-')}" if name not in ("run_dir", "images", "runs") else name.upper()
            raise UserError(f"{flag} '': expected a path" + (" or name" if name == "features" else ""))


#: A run directory's own files, which no command's --out may name (checkpoints/ is guarded as a whole).
RUN_OWN_FILES = ("config.yaml", "metrics.jsonl")


def _is_run_dir(path: Path) -> bool:
    """A directory ``ganforge train`` wrote: its ``checkpoints/`` beside a config.yaml, or holding .pt files."""
    ckpts = path / "checkpoints"
    return ckpts.is_dir() and ((path / "config.yaml").is_file() or any(ckpts.glob("*.pt")))


def _check_out_spares_the_runs(args: argparse.Namespace) -> None:
    """No command's ``--out`` may be a run's own file: anything in its ``checkpoints/``, its ``config.yaml`` or
    ``metrics.jsonl``, of the runs it reads or any other (export, eval and gam wrote over
    ``checkpoints/latest.pt`` with exit 0). ``train --out`` names the run directory itself."""
    out = getattr(args, "out", None)
    if args.command == "train" or not isinstance(out, str) or not out.strip():
        return
    target = Path(out).expanduser().resolve()
    inside = next((a.parent for a in target.parents if a.name == "checkpoints" and _is_run_dir(a.parent)), None)
    if inside is None and target.name in RUN_OWN_FILES and _is_run_dir(target.parent):
        inside = target.parent
    if inside is not None:
        raise UserError(f"--out {out}: a file of run {inside} (its checkpoints, config.yaml and metrics.jsonl are "
                        "the run's own): expected another path")


def _check_seed(args: argparse.Namespace) -> None:
    """Every command's ``--seed``: a seed torch and numpy take (``[0, 2^63 - 1]``)."""
    from .config import MAX_SEED

    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed {seed}: expected an integer in [0, {MAX_SEED}]")


#: How torch and numpy say that an allocation failed (CPU: the allocator's enforce message; CUDA: OutOfMemoryError).
_OUT_OF_MEMORY = ("can't allocate memory", "Storage size calculation overflowed", "out of memory",
                  "Unable to allocate")


def _memory_error_line(e: BaseException) -> str | None:
    """One line for an allocation that failed (a size option far too large for this machine), else None."""
    text = str(e)
    if not isinstance(e, MemoryError) and not any(mark in text for mark in _OUT_OF_MEMORY):
        return None
    detail = next((part.strip() for part in text.split(". ") if "allocate" in part), "")
    detail = f" ({detail.split('(')[0].strip()})" if detail else ""
    return (f"out of memory{detail}: a size option is too large for this machine; lower --batch-size, "
            "--width, --latent-dim, --image-size, --n or the like")


def _os_error_line(e: OSError) -> str:
    """``PATH: what went wrong`` for an operating-system error on a user's file."""
    what = e.strerror or str(e)
    from .rundir import written_path

    names = [written_path(str(n)) for n in (e.filename, e.filename2) if n is not None]
    return f"{' -> '.join(dict.fromkeys(names))}: {what}" if names else what


def _speaks_for_its_node() -> bool:
    """Whether this process prints the error line: always, but under torchrun (``WORLD_SIZE`` > 1) only the first
    process of each node (``LOCAL_RANK`` 0), as every rank meets the same user error, and a node's own (its
    files, its GPUs) is still said by that node."""
    try:
        launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        launched = False
    return not launched or os.environ.get("LOCAL_RANK", "0") == "0"


def _say_error(line: str, every_rank: bool = False) -> None:
    """The one error line (``every_rank``: an error only this rank meets, e.g. a LOCAL_RANK without a GPU)."""
    if every_rank or _speaks_for_its_node():
        if "\n" in line.strip():  # a library's several-line message quoted inside: the first line says what failed
            first = line.strip().splitlines()[0].rstrip()
            line = first + (")" if first.count("(") > first.count(")") else "")
        print(f"ganforge: error: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = argv is None  # a real command (not a call from Python): e.g. --time-budget counts from start
    try:
        _check_empty_paths(args)
        _check_empty_lists(args)
        _check_data_dir(args)
        _check_seed(args)
        _check_out_spares_the_runs(args)
        args.thread_choice = _choose_threads(args)
        return args.func(args)
    except UserError as e:
        _say_error(str(e), getattr(e, "every_rank", False))
        return e.exit_code
    except OSError as e:  # the user's file system: permissions, a full disk, a name too long, a file as a dir
        _say_error(_os_error_line(e))
        return 2
    except (MemoryError, RuntimeError) as e:
        line = _memory_error_line(e)
        if line is None:
            raise
        _say_error(line)
        return 2
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
