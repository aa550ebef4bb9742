"""Trained runs from Python: ``ganforge.load_run(RUN_DIR)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from .checkpoint import load_checkpoint, load_model_weights
from .config import RESUMABLE, TrainConfig
from .data import ArrayDataset, load_dataset, to_data_range
from .errors import UserError
from .inversion import InversionResult
from .models import DataInfo, GANModel
from .noise import with_temperature
from .train import build_model


@dataclass
class LoadedRun:
    """A trained run, in eval mode on ``device``: its model, config and what data it modelled."""

    run_dir: Path
    model: GANModel
    config: TrainConfig
    data: DataInfo
    data_name: str
    step: int
    #: a hash of the training examples the run was trained on (``train.train_fingerprint``; None before 2026-12)
    train_fingerprint: str | None = None

    @property
    def generator(self) -> nn.Module:
        return self.model.generator

    @property
    def discriminator(self) -> nn.Module | None:
        return self.model.discriminator

    @property
    def device(self) -> torch.device:
        return self.model.device

    def set_truncation(self, psi: float) -> None:
        """The truncation trick of style-based generators (stylegan2): samples from ``w_avg + psi (w - w_avg)``
        from now on; psi = 1 leaves w as it is. Other models accept only psi = 1."""
        if psi == 1.0 and not hasattr(self.model, "truncation_psi"):
            return
        if not hasattr(self.model, "truncation_psi"):
            raise UserError(f"--truncation {psi}: model {self.config.model} has no mapping network to truncate "
                            "(expected stylegan2; --temperature scales z for any model)")
        if not 0.0 <= psi <= 1.0:
            raise UserError(f"--truncation {psi}: expected a number between 0 (the average w) and 1 (none)")
        self.model.truncation_psi = float(psi)

    @torch.inference_mode()
    def sample(self, n: int, seed: int | None = None, batch_size: int = 1024, temperature: float = 1.0,
               truncation: float | None = None) -> torch.Tensor:
        """``n`` samples on the CPU in the data's range: images float ``(n, C, H, W)`` in [0, 1],
        points ``(n, D)``. A given ``seed`` gives the same samples every time; ``temperature`` scales the
        noise (``noise.with_temperature``; 1 = the training prior); ``truncation`` psi: see
        :meth:`set_truncation` (None: as set before, 1 by default)."""
        if n < 1:
            raise UserError(f"number of samples n={n} is invalid: expected an integer >= 1")
        if truncation is not None:
            self.set_truncation(truncation)
        rng = torch.Generator()
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(seed)
        out = []
        for start in range(0, n, batch_size):
            latent = self.model.sample_latent(min(batch_size, n - start), rng)
            latent = with_temperature(latent, temperature, self.config.prior)
            out.append(to_data_range(self.model.generate(latent), self.data.kind).cpu())
        return torch.cat(out)

    def dataset(self, data_dir: str | None = None) -> ArrayDataset:
        """The run's dataset read as training read it: its name, image size, largest image and table column
        kinds from the config, its files from ``data_dir`` (default: the directory it was trained from)."""
        from .train import refuse_changed_data

        cfg = self.config
        ds = load_dataset(cfg.data, data_dir or cfg.data_dir, False, cfg.image_size, cfg.max_image_pixels,
                          cfg.discrete_columns, cfg.continuous_columns)
        named = cfg.data.startswith(("csv:", "parquet:", "folder:"))  # the path is part of the name
        refuse_changed_data(ds, self.train_fingerprint, f"run {self.run_dir}",
                            f"the files it was trained on at {cfg.data.partition(':')[2]}" if named else
                            "the same files (--data-dir DIR where a copy of them lies)")
        return ds

    def training_examples(self, data_dir: str | None = None) -> torch.Tensor:
        """What the run trained on, as stored: the train split (uint8 images ``(N, C, H, W)``, float points
        ``(N, D)``), or with ``--subset`` the same fixed choice of it."""
        from .train import train_subset

        return torch.from_numpy(train_subset(self.dataset(data_dir), self.config.subset, self.config.subset_seed)[0])

    def sample_table_rows(self, n: int, seed: int, keep: Callable[[dict], np.ndarray] | None = None,
                          temperature: float = 1.0, max_rounds: int = 50) -> tuple[dict, int]:
        """A table run's ``n`` rows decoded to the original columns (a frame: column name -> array), and how
        many rows were drawn for them. With ``keep`` (a frame -> ``bool (rows,)`` mask) only the rows it keeps,
        drawn in rounds of ``n`` (round r from seed ``seed + r``, so round 0 is ``sample(n, seed)``) until
        ``n`` are kept or ``max_rounds`` have been drawn; fewer than ``n`` may come back."""
        from .data.table import TableSpec, take

        if self.data.table is None:
            raise UserError(f"run {self.run_dir} models {self.data.kind} data, not a table")
        spec = TableSpec(self.data.table)
        kept, drawn = [], 0
        for r in range(max_rounds if keep is not None else 1):
            frame = spec.decode(self.sample(n, seed=seed + r, temperature=temperature).numpy())
            drawn += n
            kept.append(take(frame, np.flatnonzero(keep(frame))) if keep is not None else frame)
            if sum(len(f[spec.names[0]]) for f in kept) >= n:
                break
        return {k: np.concatenate([f[k] for f in kept])[:n] for k in spec.names}, drawn

    def invert(self, x: torch.Tensor, **options) -> InversionResult:
        """Latents for images ``x`` float ``(N, C, H, W)`` in [0, 1] (as :meth:`sample` returns them; toy points
        ``(N, D)`` as they are): :func:`ganforge.inversion.invert_latents` in the model's range, its result
        returned in the data's range: ``reconstruction`` in [0, 1] and ``error (N,)`` the mean squared pixel
        error of the (clamped) reconstruction in [0, 1] units. ``options``: ``steps``, ``lr``,
        ``feature_fn`` (on images in [-1, 1]), ``feature_weight``, ``prior_weight``, ``init``, ``restarts``,
        ``use_encoder``, ``seed``."""
        from .inversion import invert_latents, per_example_mse

        if self.data.kind not in ("image", "points"):
            raise UserError(f"run {self.run_dir}: models {self.data.kind} data: inversion expects image or point runs")
        x = torch.as_tensor(x)
        if x.ndim != 1 + len(self.data.shape) or tuple(x.shape[1:]) != tuple(self.data.shape):
            raise UserError(f"images of shape {tuple(x.shape[1:])}: run {self.run_dir} models "
                            f"{self.data_name} examples of shape {tuple(self.data.shape)}: expected the same size "
                            "and number of channels")
        if self.data.kind == "image":
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            if len(x) and (x.min() < 0.0 or x.max() > 1.0):
                raise UserError(f"images with values in [{float(x.min()):.3g}, {float(x.max()):.3g}]: expected "
                                "float images in [0, 1] (or uint8)")
            model_x = x * 2.0 - 1.0
        else:
            x = model_x = x.float()
        result = invert_latents(self.model, model_x.to(self.device), **options)
        result.reconstruction = to_data_range(result.reconstruction, self.data.kind).cpu()
        result.error = per_example_mse(result.reconstruction, x.cpu())
        result.latent = result.latent.cpu()
        return result


def require_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` as a Path; a UserError when it is a file or does not exist."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise UserError(f"run directory {run_dir}: is a file, expected the directory 'ganforge train --out' wrote")
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} not found")
    return run_dir


def kept_checkpoints(run_dir: Path, pattern: str = "*.pt") -> list[str]:
    """The names of a run's checkpoints other than latest.pt: best.pt first, then step_N.pt by step."""
    names = (p.name for p in (run_dir / "checkpoints").glob(pattern) if p.name != "latest.pt")
    return sorted(names, key=lambda n: (n != "best.pt", len(n), n))


def checkpoint_path(run_dir: Path, checkpoint: str | Path | None) -> Path:
    """``latest`` (or None): ``checkpoints/latest.pt``; ``best``: ``checkpoints/best.pt`` (written by
    ``--keep-best``); anything else is a path to a checkpoint file."""
    if checkpoint in (None, "latest"):
        latest = run_dir / "checkpoints" / "latest.pt"
        others = kept_checkpoints(run_dir)
        if not latest.exists() and others:  # removed or lost: say what the run still holds
            shown = others[:1] + others[1:][-2:] if others[0] == "best.pt" else others[-3:]
            raise UserError(f"checkpoint {latest} not found; the run holds {', '.join(shown)}: expected "
                            f"--checkpoint {'best' if others[0] == 'best.pt' else others[-1]} (or one of those)")
        return latest
    if checkpoint == "best":
        path = run_dir / "checkpoints" / "best.pt"
        if not path.is_file():
            raise UserError(f"checkpoint best: {path} not found (a run writes it when trained with --keep-best)")
        return path
    if Path(checkpoint).is_dir():
        raise UserError(f"--checkpoint {checkpoint}: is a directory, expected latest, best or a checkpoint file "
                        "(e.g. RUN/checkpoints/step_000100.pt)")
    given = Path(checkpoint)
    if given.exists():
        return given
    if not given.is_absolute():  # step_000100.pt or checkpoints/step_000100.pt: the run's own
        for inside in (run_dir / given, run_dir / "checkpoints" / given):
            if inside.is_file():
                return inside
    kept = kept_checkpoints(run_dir, "step_*.pt")
    holds = ("the last of its kept ones: " + ", ".join(kept[-3:]) if kept else
             "it keeps no step_N.pt: train with --keep-every N to keep them")
    raise UserError(f"--checkpoint {checkpoint}: not found here nor in {run_dir / 'checkpoints'} ({holds})")


def refuse_another_runs_checkpoint(run_dir: Path, path: Path, saved: dict) -> None:
    """A checkpoint file given for ``run_dir`` must be of that run: every option a resume may not change
    (:data:`~ganforge.config.RESUMABLE`'s complement) as the run's config.yaml has it (a run without one, or
    an unreadable one, is not checked; keys only one of them knows, from another ganforge version, are skipped)."""
    try:
        own = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    if not isinstance(own, dict):
        return
    differ = sorted(k for k in set(saved) & set(own) if k not in RESUMABLE and saved[k] != own[k])
    if differ:
        shown = ", ".join(f"{k} {saved[k]!r} (the run: {own[k]!r})" for k in differ[:3])
        raise UserError(f"--checkpoint {path}: not a checkpoint of run {run_dir}: {shown}"
                        + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
                        + ": expected one of the run's own checkpoints")


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cpu") -> LoadedRun:
    """Load a run's checkpoint without touching its dataset: ``checkpoint`` is ``"latest"`` (the default),
    ``"best"`` (``--keep-best``'s ``checkpoints/best.pt``) or a file path."""
    run_dir = require_run_dir(run_dir)
    path = checkpoint_path(run_dir, checkpoint)
    ckpt = load_checkpoint(path, device)
    if checkpoint not in (None, "latest", "best"):
        refuse_another_runs_checkpoint(run_dir, path, ckpt["config"])
    cfg = TrainConfig.from_dict(ckpt["config"], source=str(path))
    data = DataInfo.from_dict(ckpt["data"])
    model = build_model(cfg, data)
    load_model_weights(model, model.fit_ema_state(ckpt["model"]), path)
    model.to(device).eval()
    return LoadedRun(run_dir, model, cfg, data, ckpt["data"]["name"], int(ckpt["step"]),
                     ckpt["data"].get("train_fingerprint"))
