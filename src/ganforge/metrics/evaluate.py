"""The evaluation driver behind ``ganforge eval`` and ``ganforge train --eval-every``, and the metric registry.

A metric is a function ``metric(ctx: EvalContext) -> dict[str, float]`` registered under a name with
:func:`register_metric`; ``ganforge eval --metrics NAME,...`` runs the named ones in order and prints every
key they return. :class:`EvalContext` computes what metrics share lazily, once: the candidate samples
(generated ones, or held-out real data for the ``--real`` floor), their features and class probabilities,
and the cached reference statistics of the training split. A new metric (e.g. semi-supervised test
``accuracy``) is one decorated function in any module imported before the driver runs::

    from ganforge.metrics.evaluate import EvalContext, register_metric

    @register_metric("accuracy", "test accuracy of the discriminator's class head (semi-supervised GAN)")
    def accuracy(ctx: EvalContext) -> dict[str, float]:
        x, y = ctx.split_images("test"), ctx.dataset.labels["test"]
        ...  # ctx.model is the GANModel being evaluated (None for --real)
        return {"accuracy": value}

Conventions: candidates are compared with the first ``n`` images of the *train* split (the data the model
saw); for the real-data floor the candidates are the first ``n`` *test* images, so every number of a model
can be read beside what unseen real data scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import ArrayDataset, to_data_range
from ..errors import UserError
from ..registry import Registry
from .reference_stats import ReferenceStats, reference_stats, to_unit_range

MetricFn = Callable[["EvalContext"], dict[str, float]]


@dataclass
class MetricSpec:
    name: str
    description: str
    fn: MetricFn
    needs_features: bool = False


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(name: str, description: str, needs_features: bool = False) -> Callable[[MetricFn], MetricFn]:
    """Decorator: make ``fn(ctx) -> dict[str, float]`` available as ``ganforge eval --metrics name``."""

    def decorator(fn: MetricFn) -> MetricFn:
        METRICS.register(name)(MetricSpec(name, description, fn, needs_features))
        return fn

    return decorator


def default_features(dataset: ArrayDataset) -> str:
    """``domain`` for labelled images (a classifier of the dataset, shipped or trained by ``ganforge features
    train``); ``raw`` for points, tables and unlabelled images (a folder of photos has no classes to train a
    domain classifier on: ``--features inception`` gives papers' FIDs there)."""
    return "domain" if dataset.kind == "image" and dataset.num_classes else "raw"


#: metrics that read the features' class probabilities (a domain classifier's): not by default without them
NEEDS_CLASS_PROBS = ("is", "modes")
#: the fewest examples each metric works with (k-NN radii need k + 1 points: pr k = 3, dc k = 5; IS 10 splits)
MIN_EXAMPLES = {"pr": 4, "dc": 6, "is": 10}
#: raw pixel features of more numbers than this make FID's covariance square root take minutes (64x64 RGB:
#: 12,288 x 12,288); 64x64 grey (4,096) or 32x32 RGB (3,072) take a second or two
MAX_RAW_FID_FEATURES = 4096


def too_wide_for_fid(dataset: ArrayDataset, features: str) -> bool:
    """Whether FID and KID would build a covariance of raw pixels wider than :data:`MAX_RAW_FID_FEATURES`."""
    return features == "raw" and dataset.kind == "image" and int(np.prod(dataset.shape)) > MAX_RAW_FID_FEATURES


def check_evaluable(dataset: ArrayDataset, metrics: list[str], n: int, features: str, what: str = "--n",
                    instead: str = "--features inception (pip install 'ganforge[inception]') or --metrics without "
                                   "fid and kid") -> None:
    """One line before any metric runs when ``metrics`` cannot work on ``n`` examples of ``dataset`` with
    ``features``: fewer examples than a metric needs (:data:`MIN_EXAMPLES`), or FID/KID on raw pixels of more
    than :data:`MAX_RAW_FID_FEATURES` numbers each (``instead``: what the calling command offers)."""
    need = max((MIN_EXAMPLES.get(m, 2) for m in metrics), default=2)
    if n < need:
        why = {"pr": "pr's k-NN radii need 4", "dc": "dc's 6", "is": "IS's 10 splits 10"}
        reasons = "; ".join(why[m] for m in metrics if m in why) or "a mean and a spread need 2"
        raise UserError(f"{what} {n}: {', '.join(metrics)} need at least {need} examples ({reasons}; "
                        f"{dataset.name} has {len(dataset.split('train')):,} train and "
                        f"{len(dataset.split('test')):,} test): expected more, or fewer metrics")
    size = int(np.prod(dataset.shape))
    slow = [m for m in metrics if m in ("fid", "kid")]
    if too_wide_for_fid(dataset, features) and slow:
        raise UserError(f"{', '.join(slow)} on raw pixels of {dataset.name}: {size:,} numbers per image make the "
                        f"reference statistics a {size:,} x {size:,} covariance (FID's square root of it takes "
                        f"minutes): expected {instead}")


@dataclass
class EvalContext:
    """What the metrics of one evaluation share. ``candidates``: generated samples (images float
    ``(n, C, H, W)`` in [0, 1] or points ``(n, D)``), or held-out real data for the floor (``floor`` True).
    ``model`` is the GANModel that made them (None for the floor and for samples made elsewhere).
    ``heldout_split`` is real data neither the model nor the candidates came from ("test" for a model,
    "val" for the floor); ``reference_split`` ("train") is what candidates are compared with."""

    dataset: ArrayDataset
    candidates: torch.Tensor
    n: int
    features_spec: str
    model: Any = None
    heldout_split: str = "test"
    reference_split: str = "train"
    seed: int = 0
    use_cache: bool = True
    log: Callable[[str], None] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    floor: bool = False
    _extractor: Any = None
    _candidate_features: tuple | None = None
    _reference_logged: set = field(default_factory=set)

    @property
    def is_real_floor(self) -> bool:
        return self.floor

    def extractor(self):
        if self._extractor is None:
            from ..features.extractors import build_extractor

            self._extractor = build_extractor(self.features_spec, self.dataset.name, self.dataset.kind)
        return self._extractor

    def split_images(self, split: str, n: int | None = None) -> torch.Tensor:
        """The first ``n`` examples of a split in the data's range: images float in [0, 1], points as stored."""
        arr = self.dataset.split(split)
        return to_unit_range(arr[: n if n is not None else len(arr)])

    def candidate_features(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(features (n, D), probs (n, K) or None)`` of the candidates, computed once."""
        if self._candidate_features is None:
            ex = self.extractor()
            feats, probs = [], []
            for start in range(0, len(self.candidates), 5000):
                if self.log:
                    self.log(f"features: {self.features_spec} on candidates {start:,}-"
                             f"{min(start + 5000, len(self.candidates)):,} of {len(self.candidates):,}")
                f, p = ex.features_and_probs(self.candidates[start:start + 5000])
                feats.append(f)
                if p is not None:
                    probs.append(p)
            self._candidate_features = (torch.cat(feats), torch.cat(probs) if probs else None)
        return self._candidate_features

    def reference(self, split: str | None = None) -> ReferenceStats:
        """Cached statistics of the first ``n`` examples of ``split`` (default: the reference split)."""
        split = split or self.reference_split
        if self.log and split not in self._reference_logged:
            self._reference_logged.add(split)
            what = (f"samples of {self.dataset.meta['samples_of']}" if "samples_of" in self.dataset.meta
                    else f"{split} examples")  # a second --samples is the reference, not a dataset's split
            self.log(f"features: {self.features_spec} on the first {self.n:,} {what} (cached if seen)")
        return reference_stats(self.dataset.split(split), self.dataset.name, split, self.n, self.extractor(),
                               self.use_cache)


# ----------------------------------------------------------------------------- the metrics
@register_metric("fid", "Fréchet distance between feature Gaussians of candidates and train data", True)
def _fid(ctx: EvalContext) -> dict[str, float]:
    from .fid import feature_stats, fid_from_stats

    ref = ctx.reference()
    return {"fid": fid_from_stats(*feature_stats(ctx.candidate_features()[0]), ref.mu, ref.sigma)}


@register_metric("kid", "kernel inception distance (unbiased MMD^2, cubic kernel), mean and std over subsets", True)
def _kid(ctx: EvalContext) -> dict[str, float]:
    from .kid import kid_from_features

    mean, std = kid_from_features(ctx.reference().features, ctx.candidate_features()[0], seed=ctx.seed)
    return {"kid": mean, "kid_std": std}


@register_metric("is", "Inception-style score exp(E KL(p(y|x) || p(y))) from the classifier, 10 splits", True)
def _is(ctx: EvalContext) -> dict[str, float]:
    from .inception_score import inception_score_from_probs

    probs = ctx.candidate_features()[1]
    if probs is None:
        raise UserError(f"metric is: features {ctx.features_spec} give no class probabilities: use domain, or "
                        "inception with pytorch-fid's weights (fid-helper's file has no fc layer)")
    mean, std = inception_score_from_probs(probs)
    return {"is": mean, "is_std": std}


@register_metric("pr", "precision and recall of k-NN (k=3) feature manifolds", True)
def _pr(ctx: EvalContext) -> dict[str, float]:
    from .prdc import precision_recall

    precision, recall = precision_recall(ctx.reference().features, ctx.candidate_features()[0], k=3)
    return {"precision": precision, "recall": recall}


@register_metric("dc", "density and coverage of k-NN (k=5) feature manifolds", True)
def _dc(ctx: EvalContext) -> dict[str, float]:
    from .prdc import density_coverage

    density, coverage = density_coverage(ctx.reference().features, ctx.candidate_features()[0], k=5)
    return {"density": density, "coverage": coverage}


@register_metric("parzen", "Parzen window log-likelihood of the test split, sigma chosen on 1,000 val (2014)")
def _parzen(ctx: EvalContext) -> dict[str, float]:
    from .parzen import parzen_evaluate

    # the real-data floor fits the window to the first n *training* examples (its candidates are test data)
    samples = ctx.candidates if not ctx.is_real_floor else ctx.split_images("train", ctx.n)
    res = parzen_evaluate(samples, ctx.split_images("val", 1000), ctx.split_images("test"), log=ctx.log)
    ctx.notes["parzen_val_curve"] = res.val_mean_by_sigma
    return {"parzen": res.mean, "parzen_se": res.std_error, "parzen_sigma": res.sigma}


@register_metric("modes", "toy mixtures: modes covered and high-quality share; images: classes covered, class KL")
def _modes(ctx: EvalContext) -> dict[str, float]:
    from .modes import class_coverage, mode_coverage

    if "means" in ctx.dataset.meta:
        res = mode_coverage(ctx.candidates, ctx.dataset.meta["means"], ctx.dataset.meta["std"])
        ctx.notes["mode_counts"] = res.pop("mode_counts")
        return res
    probs = ctx.candidate_features()[1]
    if probs is None or ctx.dataset.num_classes is None:
        raise UserError(f"metric modes: {ctx.dataset.name} has neither mixture modes nor classes a classifier "
                        "predicts (use domain or inception features on labelled images)")
    res = class_coverage(probs, ctx.reference(ctx.heldout_split).probs)
    ctx.notes["class_counts"] = res.pop("class_counts")
    return res


@register_metric("memorisation", "nearest-training-example distance of candidates vs held-out real data")
def _memorisation(ctx: EvalContext) -> dict[str, float]:
    from .memorisation import memorisation_report

    train = ctx.split_images(ctx.reference_split)
    heldout = ctx.split_images(ctx.heldout_split, ctx.n)
    return memorisation_report(ctx.candidates, train, heldout)


# ----------------------------------------------------------------------------- the driver
@torch.inference_mode()
def sample_from(model_or_run: Any, n: int, seed: int, kind: str, batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples in the data's range on the CPU from a ``LoadedRun`` or a ``GANModel`` (put in eval mode
    for sampling and restored after, so a training loop can call this)."""
    if hasattr(model_or_run, "sample") and hasattr(model_or_run, "run_dir"):
        return model_or_run.sample(n, seed=seed, batch_size=batch_size)
    model = model_or_run
    was_training = model.training
    model.eval()
    try:
        rng = torch.Generator().manual_seed(seed)
        out = [to_data_range(model.generate(model.sample_latent(min(batch_size, n - s), rng)), kind).cpu()
               for s in range(0, n, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def parse_metrics(names: str | list[str]) -> list[str]:
    """``"fid,kid"`` or a list -> validated names in the order given, each once (a UserError lists the known
    ones)."""
    items = [s.strip() for s in names.split(",")] if isinstance(names, str) else list(names)
    items = list(dict.fromkeys(s for s in items if s))  # "fid,fid" is one FID, not two runs of it
    if not items:
        raise UserError("--metrics: expected a comma-separated list of metric names")
    for name in items:
        METRICS.get_or_fail(name)
    return items


def run_metrics(ctx: EvalContext, metrics: list[str], log: Callable[[str], None] | None = None
                ) -> tuple[dict[str, float], dict[str, float]]:
    """Run the named metrics on ``ctx``: ``(values, seconds per metric)``. Seconds include the feature
    extraction a metric triggers first (so the first feature metric carries that cost)."""
    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    if log:
        ctx.log = log
    for name in parse_metrics(metrics):
        t0 = time.perf_counter()
        if log:
            log(f"{name}: running")
        values.update(METRICS.get_or_fail(name).fn(ctx))
        seconds[name] = round(time.perf_counter() - t0, 3)
        if log:
            log(f"{name}: done in {seconds[name]:.1f} s")
    return values, seconds


def evaluate_model(model_or_run: Any, dataset: ArrayDataset, metrics: list[str] | str, n: int,
                   features: str | None = None, seed: int = 0, use_cache: bool = True,
                   timings: dict[str, float] | None = None, notes: dict[str, Any] | None = None,
                   log: Callable[[str], None] | None = None, extractor: Any = None) -> dict[str, float]:
    """Evaluate a ``LoadedRun`` or a ``GANModel`` on ``dataset`` (the one it was trained on): ``n`` samples
    drawn with ``seed``, compared with the first ``n`` training examples. Returns ``{key: value}`` (e.g.
    ``fid``, ``kid``, ``kid_std``, ``precision``); per-metric seconds go into ``timings`` if given.
    ``features``: ``domain``, ``inception[:PATH]`` or ``raw`` (default: domain for images, raw for points).
    A table's ``metrics`` are the table measures (``ganforge.metrics.table.TABLE_METRICS``)."""
    if dataset.kind == "table":
        from .table import evaluate_table_model

        return evaluate_table_model(model_or_run, dataset, metrics, n, seed)
    metrics = parse_metrics(metrics)
    if n < 2:
        raise UserError(f"--n {n}: expected an integer >= 2")
    if log:
        log(f"sampling {n:,} candidates")
    candidates = sample_from(model_or_run, n, seed, dataset.kind)
    if not bool(torch.isfinite(candidates).all()):
        bad = int((~torch.isfinite(candidates.flatten(1))).any(1).sum())
        where = f"run {model_or_run.run_dir} (step {model_or_run.step})" if hasattr(model_or_run, "run_dir") \
            else "the model"
        raise UserError(f"{where}: {bad:,} of {n:,} samples are NaN or infinite: expected finite samples "
                        "(the weights diverged; train again with a lower --lr)")
    model = getattr(model_or_run, "model", model_or_run)
    return evaluate_samples(candidates, dataset, metrics, features, seed, use_cache, timings, notes, model=model,
                            log=log, extractor=extractor)


def evaluate_samples(candidates: torch.Tensor, dataset: ArrayDataset, metrics: list[str] | str,
                     features: str | None = None, seed: int = 0, use_cache: bool = True,
                     timings: dict[str, float] | None = None, notes: dict[str, Any] | None = None, *,
                     model: Any = None, reference_split: str = "train",
                     log: Callable[[str], None] | None = None, extractor: Any = None) -> dict[str, float]:
    """Score ``candidates`` (images float ``(n, C, H, W)`` in [0, 1] or points ``(n, D)``; a run's samples or
    samples made elsewhere, ``ganforge eval --samples``) against the first ``n`` examples of
    ``dataset``'s ``reference_split``; held-out comparisons (modes, memorisation) use test, or val when the
    reference is test. The one function every model and every outside array goes through. ``log`` gets a
    line per stage (``ganforge eval``'s live progress); ``extractor``: the features' network if the caller
    already built it (``build_extractor`` of ``features``), else it is built when a metric needs it."""
    metrics = parse_metrics(metrics)
    n = len(candidates)
    if n < 2:
        raise UserError(f"samples: {n} given, expected at least 2")
    heldout = "val" if reference_split == "test" else "test"
    ctx = EvalContext(dataset, candidates, n, features or default_features(dataset), model=model, seed=seed,
                      use_cache=use_cache, reference_split=reference_split, heldout_split=heldout,
                      _extractor=extractor)
    values, seconds = run_metrics(ctx, metrics, log)
    if timings is not None:
        timings.update(seconds)
    if notes is not None:
        notes.update(ctx.notes)
    return values


def evaluate_real(dataset: ArrayDataset, metrics: list[str] | str, n: int, features: str | None = None,
                  seed: int = 0, use_cache: bool = True, log: Callable[[str], None] | None = None,
                  extractor: Any = None) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """The real-data floor: the first ``n`` test examples scored as if generated, against the train split
    (held-out comparisons use val). Returns ``(values, seconds, notes)``."""
    metrics = parse_metrics(metrics)
    ctx = EvalContext(dataset, to_unit_range(dataset.split("test")[:n]), n, features or default_features(dataset),
                      model=None, heldout_split="val", seed=seed, use_cache=use_cache, floor=True,
                      _extractor=extractor)
    values, seconds = run_metrics(ctx, metrics, log)
    return values, seconds, ctx.notes


def format_table(columns: dict[str, dict[str, float]]) -> str:
    """A plain-text table: one row per metric key, one column per evaluated thing."""
    keys: list[str] = []
    for vals in columns.values():
        keys += [k for k in vals if k not in keys]
    width = max([len(k) for k in keys] + [6])
    head = "metric".ljust(width) + "".join(f"  {name:>14}" for name in columns)
    lines = [head, "-" * len(head)]
    for k in keys:
        cells = []
        for vals in columns.values():
            v = vals.get(k)
            cells.append(f"  {'':>14}" if v is None else f"  {_fmt(v):>14}")
        lines.append(k.ljust(width) + "".join(cells))
    return "\n".join(lines)


def _fmt(v: float) -> str:
    if isinstance(v, (int, np.integer)) or float(v).is_integer() and abs(v) < 1e6:
        return f"{int(v)}" if float(v).is_integer() else f"{v:.4g}"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
