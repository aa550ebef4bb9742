"""The YAML recipes shipped inside the package (``ganforge/configs/``; a source checkout's ``configs/`` links
here), and how ``--config`` finds them: a file that exists is read as given; otherwise ``NAME``, ``NAME.yaml``
or ``configs/NAME.yaml`` names a shipped recipe, so the commands in the docs work from any directory after a
plain ``pip install``. No torch, no YAML at import: the CLI reads a config before it chooses threads."""

from __future__ import annotations

from pathlib import Path

#: the recipes' directory inside the installed package
RECIPES_DIR = Path(__file__).resolve().parent / "configs"


def resolve_config_path(path: str | Path) -> Path:
    """``--config PATH``: ``PATH`` when it exists; else the shipped recipe it names (``wgan-gp``,
    ``wgan-gp.yaml`` or ``configs/wgan-gp.yaml``); else ``PATH`` unchanged (reading it then fails in one line)."""
    given = Path(path).expanduser()
    if given.exists() or given.parent not in (Path("."), Path("configs")):
        return given
    shipped = RECIPES_DIR / (f"{given.stem}.yaml" if given.suffix in (".yaml", ".yml") else f"{given.name}.yaml")
    return shipped if shipped.is_file() else given


def recipes_by_model(recipes_dir: Path = RECIPES_DIR) -> dict[str, list[str]]:
    """``{model: ["configs/NAME.yaml", ...]}`` for the recipes in ``recipes_dir`` (by their ``model:`` key)."""
    import yaml

    found: dict[str, list[str]] = {}
    for path in sorted(recipes_dir.glob("*.yaml")) if recipes_dir.is_dir() else []:
        try:
            model = (yaml.safe_load(path.read_text()) or {}).get("model")
        except (OSError, yaml.YAMLError, AttributeError):
            continue  # not a recipe this listing can read: it lists the others
        if isinstance(model, str):
            found.setdefault(model, []).append(f"configs/{path.name}")
    return found
