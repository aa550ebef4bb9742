"""The ``ganforge`` command line. Each subcommand is one module in ``ganforge.commands`` with
``add_parser(subparsers)``; this file is the one place that turns a :class:`UserError` into one line on
stderr and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from .errors import UserError

#: Subcommand modules under ganforge.commands, in --help order.
COMMANDS = ("train", "sample", "eval", "export", "features", "lab", "report", "latent", "bench", "datasets")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ganforge", description="Train, sample, measure and look at generative adversarial networks.",
        epilog="Run 'ganforge COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if importlib.util.find_spec(f"ganforge.commands.{name}") is not None:
            importlib.import_module(f"ganforge.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = argv is None  # a real command (not a call from Python): e.g. --time-budget counts from start
    try:
        return args.func(args)
    except UserError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
