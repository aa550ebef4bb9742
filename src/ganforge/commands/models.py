"""``ganforge models``: every model, the data it takes, its paper, and the defaults its recipe sets."""

from __future__ import annotations

import argparse
import textwrap


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list models: the data each takes, its paper, the defaults its recipe sets",
                       description="List every model ganforge trains: the kinds of data it takes (image, points, "
                                   "table), its paper and idea, and the settings its recipe gives it in place of "
                                   "train --help's shared [defaults] (flags and --config values still win), and "
                                   "its YAML recipes: shipped with ganforge, each a dataset and the paper's "
                                   "settings, for train --config configs/NAME.yaml from any directory "
                                   "(docs/models.md).")
    p.add_argument("model", nargs="?", default=None, help="show one model only")
    p.set_defaults(func=cmd_models)


def model_defaults_text(defaults: dict) -> str:
    """``{"lr": 1e-4, "k_disc": 5}`` -> ``"--k-disc 5, --lr 0.0001"`` (sorted; "none" when empty)."""
    return ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(defaults.items())) or "none"


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import MODELS
    from ..recipes import recipes_by_model

    names = [MODELS.get_or_fail(args.model).name] if args.model else sorted(MODELS)
    recipes = recipes_by_model()
    for name in names:
        spec = MODELS[name]
        print(f"{name}  [{', '.join(spec.data_kinds)}]")
        lines = [("", spec.description), ("defaults: ", model_defaults_text(spec.defaults))]
        lines += [("recipes: ", ", ".join(recipes[name]))] if name in recipes else []
        for label, text in lines:
            print(textwrap.fill(label + text, width=100, initial_indent="    ", subsequent_indent="      ",
                                break_on_hyphens=False))
    return 0
