"""The common interface of every anomaly-detection method, its registry, and its saved configuration.

A method is a class registered under a name (:data:`METHODS`) with

- ``fit(data, run_dir)``: learn from ``data.split("train")`` only, where ``data`` is the one-class view of a
  dataset (``ganforge.data.oneclass.one_class_dataset``: normal training examples in ``train``, held-out
  normal ones in ``val``, the whole test split in ``test``), writing what it needs under ``run_dir``;
  ``data.kind`` is "image", "points" or "table" (a table's view holds its rows re-encoded as ``float32 (N, D)``
  vectors without the label column), and a method lists what it takes in ``data_kinds``;
- ``load(run_dir, data)``: restore a fitted method in a fresh process;
- ``score(x) -> (N,)`` float64, higher = more anomalous, for ``x`` as the data layer stores it (images
  ``uint8 (N, C, H, W)`` in [0, 255], points and table rows ``float32 (N, D)``);
- ``reconstruct(x)``: the method's reconstruction of ``x`` in the data's range (images float in [0, 1]) for
  residual heat maps, or None when the method does not reconstruct.

Methods that train a ganforge model (:class:`TrainedModelMethod`) do it with the shared loop
(``ganforge.train.Trainer``) on the one-class dataset, in ``run_dir`` itself, so ``run_dir`` is also an ordinary
run (``ganforge sample``, ``report``); their training options are :class:`~ganforge.config.TrainConfig` fields:
the method's small CPU recipe (``train_defaults``), replaced by the user's (``AnomalyConfig.train``). A table's
rows are continuous vectors like toy points, so the model trains on them as points (:func:`training_view`):
the same MLP networks, no second set of table networks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml

from ..data import ArrayDataset, to_data_range, to_model_range
from ..errors import UserError
from ..registry import Registry

CONFIG_FILE = "anomaly.yaml"
#: Written into the run directory by ``ganforge anomaly score`` (its latest scoring), shown by ``ganforge report``.
SCORE_RECORD, SCORE_FIGURE = "anomaly_score.json", "anomaly_extremes.png"


@dataclass
class AnomalyConfig:
    """What defines an anomaly run (saved as ``RUN_DIR/anomaly.yaml``)."""

    method: str
    data: str = "fashion-mnist"
    data_dir: str | None = None
    normal_classes: list[int] = field(default_factory=lambda: [0])
    #: a table's column whose values are the classes (None: the table's target); classes are its categories'
    #: indices (``ganforge.data.oneclass``)
    label_column: str | None = None
    #: fraction of the normal training examples held out as ``val`` (never trained on)
    val_fraction: float = 0.1
    seed: int = 0
    #: TrainConfig overrides for methods that train a model (epochs, width, latent_dim, ...)
    train: dict[str, Any] = field(default_factory=dict)
    #: AnoGAN (Schlegl et al. 2017): Adam steps Gamma on z per example, its learning rate, and lambda
    anogan_steps: int = 100
    anogan_lr: float = 0.05
    anogan_lambda: float = 0.1
    #: f-AnoGAN (Schlegl et al. 2019): weight kappa of the D-feature residual, encoder training steps and lr
    fanogan_kappa: float = 1.0
    encoder_steps: int = 1000
    encoder_lr: float = 2e-4
    #: OC-SVM: at most this many training examples (kernel methods grow quadratically), drawn from ``seed``
    svm_max_train: int = 2000
    #: a hash of the source's splits when fitted (:func:`source_fingerprint`): ``anomaly score`` refuses
    #: files that changed since (None in runs fitted before it was recorded)
    train_fingerprint: str | None = None

    def validate(self) -> AnomalyConfig:
        METHODS.get_or_fail(self.method)
        checks = [(0 <= self.val_fraction < 1, "val_fraction", "a number in [0, 1)"),
                  (self.anogan_steps >= 0, "anogan_steps", "an integer >= 0"),
                  (0 < self.anogan_lr < float("inf"), "anogan_lr", "a number > 0"),
                  (0 <= self.anogan_lambda <= 1, "anogan_lambda", "a number in [0, 1]"),
                  (0 <= self.fanogan_kappa < float("inf"), "fanogan_kappa", "a number >= 0"),
                  (self.encoder_steps >= 1, "encoder_steps", "an integer >= 1"),
                  (0 < self.encoder_lr < float("inf"), "encoder_lr", "a number > 0"),
                  (self.svm_max_train >= 2, "svm_max_train", "an integer >= 2"),
                  (len(self.normal_classes) >= 1, "normal_classes", "at least one class")]
        for ok, name, expected in checks:
            if not ok:
                raise UserError(f"anomaly option {name}={getattr(self, name)!r} is invalid: expected {expected}")
        return self

    def save(self, run_dir: Path) -> None:
        from ..rundir import atomic_write_text

        atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(asdict(self), sort_keys=False))

    @classmethod
    def load(cls, run_dir: Path) -> AnomalyConfig:
        path = Path(run_dir) / CONFIG_FILE
        if not path.is_file():
            raise UserError(f"anomaly run {run_dir}: no {CONFIG_FILE}: expected a directory written by "
                            "'ganforge anomaly fit'")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]}): expected the file 'ganforge "
                            "anomaly fit' wrote") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(values, dict):
            raise UserError(f"{path}: holds a {type(values).__name__}: expected the mapping 'ganforge anomaly fit' "
                            "wrote")
        if set(values) - known:
            raise UserError(f"{path}: unknown keys {sorted(set(values) - known)}: expected {sorted(known)}")
        return cls(**values).validate()


def source_splits(ds: ArrayDataset) -> tuple[str, ...]:
    """The splits an anomaly run's hash covers: all of them (its classes are numbered over every split, so a new
    label in a test row renumbers the normal class; and its test split is what is scored)."""
    return tuple(sorted(ds.arrays))


def source_fingerprint(ds: ArrayDataset) -> str:
    """The hash :func:`load_source` checks (``train.train_fingerprint`` over :func:`source_splits`)."""
    from ..train import train_fingerprint

    return train_fingerprint(ds, source_splits(ds))


def load_source(data: str, data_dir: str | None, train: dict[str, Any], fingerprint: str | None = None,
                run_dir: Path | None = None) -> ArrayDataset:
    """The dataset an anomaly run reads; a table's column kinds follow the run's ``--discrete-columns`` and
    ``--continuous-columns`` (training options, ``train``), so an integer column with many values can name the
    classes. With the run's ``fingerprint``: a UserError when the files changed since it was fitted."""
    from ..data import load_dataset

    ds = load_dataset(data, data_dir, discrete_columns=train.get("discrete_columns"),
                      continuous_columns=train.get("continuous_columns"))
    from ..train import refuse_changed_data

    refuse_changed_data(ds, fingerprint, f"anomaly run {run_dir}", "the same files (scoring needs the fitted data, "
                        "--data OTHER included)", verb="fitted", splits=source_splits(ds))
    return ds


class AnomalyMethod:
    """Base class: see the module docstring for the interface."""

    name: ClassVar[str] = ""
    #: the parsed arguments of the command that fits it (``anomaly fit``/``table``), or None from Python: a
    #: model it trains has its automatic thread choice re-decided as the machine's load changes
    #: (``Trainer.govern_threads``)
    command_args: Any = None
    #: one line for --help and the table
    description: ClassVar[str] = ""
    #: the data kinds the method takes
    data_kinds: ClassVar[tuple[str, ...]] = ("image", "points", "table")

    def __init__(self, cfg: AnomalyConfig):
        self.cfg = cfg

    def check_data(self, data: ArrayDataset) -> None:
        if data.kind not in self.data_kinds:
            raise UserError(f"anomaly method {self.name}: cannot work on {data.kind} data ({data.name}): expected "
                            f"{' or '.join(self.data_kinds)} data")

    def fit(self, data: ArrayDataset, run_dir: Path) -> None:
        raise NotImplementedError

    def load(self, run_dir: Path, data: ArrayDataset) -> None:
        raise NotImplementedError

    def score(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reconstruct(self, x: np.ndarray) -> np.ndarray | None:
        return None


METHODS: Registry[type[AnomalyMethod]] = Registry("anomaly method")


def register_method(cls: type[AnomalyMethod]) -> type[AnomalyMethod]:
    return METHODS.register(cls.name)(cls)


def in_batches(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, device: torch.device,
               batch_size: int = 500) -> torch.Tensor:
    """``fn`` over stored examples ``x`` in the model range, in batches, without gradients; results on the CPU."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            out.append(fn(to_model_range(torch.as_tensor(x[start:start + batch_size])).to(device)).cpu())
    return torch.cat(out)


def training_view(data: ArrayDataset) -> ArrayDataset:
    """What a model trains on: a table's one-class view as points (its rows are already continuous vectors,
    standardised and one-hot, ``float32 (N, D)``: the models' MLP networks for points take them as they are);
    images and points unchanged."""
    if data.kind != "table":
        return data
    return replace(data, kind="points", meta={"one_class": data.meta.get("one_class", {})})


class TrainedModelMethod(AnomalyMethod):
    """A method built on one ganforge model trained by the shared loop on the normal training examples.

    Subclasses set ``model`` (a registered model name), ``recipes`` (their small CPU recipe per data kind:
    "image", "points", "table"; any other kind takes the "points" one) and implement :meth:`score_model` (and
    :meth:`reconstruct_model` for heat maps), both on model-range tensors."""

    model: ClassVar[str] = ""
    recipes: ClassVar[dict[str, dict[str, Any]]] = {}

    def model_for(self, kind: str) -> str:
        """The registered model trained for data of ``kind``. Default: ``model``."""
        return self.model

    def train_defaults(self, kind: str) -> dict[str, Any]:
        """The training options this method starts from for data of ``kind`` (the user's replace them)."""
        return dict(self.recipes.get(kind, self.recipes.get("points", {})))

    def options_for_other_models(self, kind: str) -> list[str]:
        """The user's training options (``cfg.train``) that only other models read (``MODEL_OPTIONS``): one
        method refuses them; a table of methods, which shares one set of options, leaves them to the methods
        whose model reads them."""
        from ..config import MODEL_OPTIONS

        model = self.model_for(kind)
        return [k for k in self.cfg.train if k in MODEL_OPTIONS and model not in MODEL_OPTIONS[k]]

    def train_config(self, data: ArrayDataset):
        from ..models import config_for

        ignored = set(self.options_for_other_models(data.kind))
        values = {"model": self.model_for(data.kind), "data": self.cfg.data, "data_dir": self.cfg.data_dir,
                  "seed": self.cfg.seed,
                  "sample_every": 10**9, "checkpoint_every": 10**9, "device": "cpu",
                  **self.train_defaults(data.kind), **{k: v for k, v in self.cfg.train.items() if k not in ignored}}
        for length, other in (("steps", "epochs"), ("epochs", "steps")):  # the user's run length replaces the recipe's
            if length in self.cfg.train and other not in self.cfg.train:
                values.pop(other, None)
        return config_for(**values)

    def fit(self, data: ArrayDataset, run_dir: Path) -> None:
        from ..train import Trainer

        self.check_data(data)
        trainer = Trainer(self.train_config(data), run_dir, dataset=training_view(data), progress=False)
        trainer.govern_threads(self.command_args)  # minutes of training: other work may start or stop
        trainer.fit()
        self.after_fit(data, run_dir)
        self.load(run_dir, data)

    def after_fit(self, data: ArrayDataset, run_dir: Path) -> None:
        """A second stage after the model's training (f-AnoGAN's encoder). Default: nothing."""

    def load(self, run_dir: Path, data: ArrayDataset) -> None:
        from ..run import load_run

        self.run = load_run(run_dir)
        self.kind = data.kind

    def score_model(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct_model(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def score(self, x: np.ndarray) -> np.ndarray:
        return in_batches(self.score_model, x, self.run.device).double().numpy()

    def reconstruct(self, x: np.ndarray) -> np.ndarray | None:
        if type(self).reconstruct_model is TrainedModelMethod.reconstruct_model:
            return None
        x_hat = in_batches(self.reconstruct_model, x, self.run.device)
        return to_data_range(x_hat, self.kind).numpy()


def per_example_mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``(N,)``: the mean squared difference per example of two ``(N, *shape)`` tensors."""
    return (x - x_hat).square().flatten(1).mean(1)


def build_method(cfg: AnomalyConfig) -> AnomalyMethod:
    return METHODS.get_or_fail(cfg.method)(cfg)
