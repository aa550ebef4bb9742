"""The one training loop every GAN in ganforge shares: Algorithm 1 of Goodfellow et al. (2014).

Each iteration: ``k_disc`` discriminator steps, each on a fresh real minibatch and fresh noise, then one
generator step on fresh noise. The loop owns the device, the optimizers, the ``requires_grad`` toggles,
sample grids, the metrics log and checkpoints; networks and objectives know nothing of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import CHECKPOINT_KEYS, FORMAT, RESUME_KEYS, atomic_torch_save, load_checkpoint, load_model_weights
from .config import DEFAULT_STEPS, KEEP_BEST_LOWER_IS_BETTER, TrainConfig, save_yaml_config
from .data import ArrayDataset, load_dataset, to_data_range
from .data.pairs import with_pairs
from .data.sequences import with_sequences
from .distributed import ShardedMinibatchSampler, from_environment, parameter_checksums, slice_latent, wrap_ddp
from .errors import TrainingDiverged, UserError
from .images import grid_scale, make_grid, save_image, save_points_plot
from .models import MODELS, Batch, DataInfo, GANModel, Phase
from .rundir import atomic_write_text, finite_or_null, lock_run_dir, remove_stale_temporaries

NUM_FIXED_SAMPLES = 64
#: Rank r > 0 reseeds torch's global RNG (dropout masks) with ``seed + RANK_SEED_STRIDE * r``.
RANK_SEED_STRIDE = 1_000_003
#: Without a terminal (no progress bar) the loop prints a progress line at least this often, in seconds.
HEARTBEAT_S = 60.0


def improves(metric: str, value: float, best: float | None) -> bool:
    """Whether ``value`` of ``metric`` beats the best so far (``None``: nothing yet, any finite value does)."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if KEEP_BEST_LOWER_IS_BETTER.get(metric, False) else value > best  # old runs: higher


def check_eval_metrics(names: str, kind: str) -> None:
    """``--eval-metrics``: names a run of this kind of data can evaluate (a UserError lists them)."""
    from . import models  # noqa: F401  (models register their own metrics)
    from .metrics import cas  # noqa: F401  (registers cas, for conditional runs)
    from .metrics.evaluate import METRICS
    from .metrics.table import TABLE_METRICS

    known = TABLE_METRICS if kind == "table" else tuple(sorted(METRICS))
    given = [m.strip() for m in names.split(",") if m.strip()]  # "fid,kid," is fid and kid, as evaluation reads it
    unknown = [m for m in given if m not in known]
    if unknown or not given:
        raise UserError(f"--eval-metrics {names}: {', '.join(unknown) or 'empty'}: expected comma-separated names "
                        f"from {', '.join(known)}")


def refuse_run_dir_inside_data(data: str, run_dir: Path) -> None:
    """A run directory inside a ``folder:PATH`` dataset: its sample grids would be read as training images."""
    if not data.startswith("folder:"):
        return
    from .data.folder import SPLIT_DIRS, has_declared_splits

    root = Path(data[len("folder:"):]).expanduser().resolve()
    read = [root / split for split in SPLIT_DIRS] if has_declared_splits(root) else [root]
    inside = next((folder for folder in read if run_dir.resolve().is_relative_to(folder)), None)
    if inside is not None:
        raise UserError(f"--out {run_dir} is inside the data folder {inside}: the run's sample grids would become "
                        "training images: expected an --out outside it")


def split_sizes(dataset: ArrayDataset) -> dict[str, int]:
    """``{split: examples}`` of a dataset, saved in checkpoints: a resume on other files is refused."""
    return {name: len(arr) for name, arr in dataset.arrays.items()}


def train_fingerprint(dataset: ArrayDataset, splits: tuple[str, ...] = ("train",)) -> str:
    """A hash of the training split as read from its files, saved in checkpoints: a resume (or an evaluation)
    on files with the same sizes but other contents (an edited CSV, a replaced image) is refused. Images and
    points: the arrays and labels; tables: the decoded values, not the encoded rows (a refitted column
    transformer on another machine must not count as other data). ~0.1 s per 100 MB."""
    digest = hashlib.blake2b(digest_size=8)
    parts = []
    for split in splits:  # ("train",) for a run; every split where all of them matter (an anomaly run's classes)
        frame = dataset.meta.get("frames", {}).get(split) if dataset.kind == "table" else None
        at = "" if split == "train" else f"{split}/"  # the train split's names as runs have saved them
        parts += ([(f"{at}{name}", frame[name]) for name in sorted(frame)] if frame is not None else
                  [(f"{at}x", dataset.arrays.get(split)), (f"{at}y", dataset.labels.get(split))])
    for name, arr in parts:
        if arr is None:
            continue
        arr = np.asarray(arr)
        digest.update(str((name, arr.dtype.str, arr.shape)).encode())
        if arr.dtype.kind == "O":  # strings of a table column
            digest.update("\x1f".join(map(str, arr.tolist())).encode("utf-8", "surrogatepass"))
        else:
            digest.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return digest.hexdigest()


def refuse_changed_data(ds: ArrayDataset, saved: str | None, who: str, expected: str, verb: str = "trained",
                        splits: tuple[str, ...] = ("train",)) -> None:
    """One line when ``ds``, read now, is not the data whose :func:`train_fingerprint` over ``splits`` was saved
    (``saved`` None: recorded by no hash, not checked)."""
    if saved is not None and train_fingerprint(ds, splits) != saved:
        raise UserError(f"{who}: the data changed since it was {verb}: {ds.name} is not what it was {verb} on "
                        f"(edited, added or removed files): expected {expected}")


class TrainingInterrupted(Exception):
    """Raised after SIGINT/SIGTERM once a checkpoint is safely written."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by signal {signum} at step {step}")
        self.signum, self.step = signum, step


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda requested but torch sees no CUDA GPU: use --device cpu")
    return torch.device(name)


def build_optimizer(cfg: TrainConfig, params, lr: float | None = None) -> torch.optim.Optimizer:
    """The phase's optimizer, at learning rate ``lr`` (the phase's own, e.g. TTUR's) or the config's. On CUDA,
    Adam runs fused (one kernel for all parameters) and the others use torch's default multi-tensor (foreach)
    path; on CPU torch's default, as the benchmark showed neither fused nor foreach Adam pays there (the step
    is ~1% of a DCGAN iteration on CPU), unless ``adam_fused=on`` (the MLPs of ``ctgan``, where Adam's
    per-parameter loop was ~8% of a step: docs/applications.md)."""
    params = list(params)
    on_cuda = bool(params) and params[0].is_cuda
    lr = lr if lr is not None else cfg.resolved_lr
    if cfg.optimizer == "adam":
        fused = {"auto": on_cuda, "on": True, "off": False}[cfg.adam_fused]
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay,
                                fused=fused or None)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def has_convolutions(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


def use_channels_last(cfg: TrainConfig, model: nn.Module, kind: str) -> bool:
    """``auto``: channels-last for models with convolutions on image data: oneDNN and cuDNN run NHWC
    convolutions faster (dcgan 28x28 at batch 128 on 2 idle CPU cores: 1.12-1.15x, docs/performance.md).
    On an oversubscribed CPU with spinning OpenMP threads its shorter parallel regions cost more than they
    save; the cure there is ``OMP_WAIT_POLICY=PASSIVE`` (or ``--channels-last off``), not NCHW."""
    if cfg.channels_last == "auto":
        return kind == "image" and has_convolutions(model)
    return cfg.channels_last == "on"


def check_run_dir_path(run_dir: Path) -> None:
    """A run directory must be a directory, or a path whose existing part is a directory."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir}: is a file, expected a run directory (a new or existing directory)")
    for parent in run_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"--out {run_dir}: {parent} is a file, expected a directory")
            break


def strict_json(record: dict[str, Any]) -> str:
    """One JSON line; a non-finite float becomes null (``NaN``/``Infinity`` are not JSON)."""
    return json.dumps(finite_or_null(record), allow_nan=False)


def train_subset(dataset: ArrayDataset, subset: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The training examples and labels the sampler draws from: the whole train split, or with ``--subset N``
    a fixed choice of N of them (without replacement, from ``subset_seed`` alone, so every run and seed sees
    the same images). Evaluation keeps the whole dataset as its reference."""
    x, y = dataset.split("train"), dataset.labels.get("train")
    if not subset:
        return x, y
    if subset > len(x):
        raise UserError(f"subset={subset} is invalid: dataset {dataset.name}'s train split has only {len(x)} "
                        "examples")
    chosen = np.sort(np.random.default_rng(seed).choice(len(x), subset, replace=False))
    return x[chosen], (y[chosen] if y is not None else None)


def build_model(cfg: TrainConfig, data: DataInfo) -> GANModel:
    """The registered model named by ``cfg.model``, checked against the kind of data it is given."""
    spec = MODELS.get_or_fail(cfg.model)
    if data.kind not in spec.data_kinds:
        raise UserError(f"model {cfg.model} cannot model {data.kind} data ({cfg.data}): "
                        f"it takes {' or '.join(spec.data_kinds)} data")
    model = spec.build(cfg, data)
    model.keep_generator_ema()
    return model


class Trainer:
    """Trains one run in ``run_dir``: the model's phases in turn, each with its own optimizer.

    Layout: ``config.yaml``, ``metrics.jsonl``, ``samples/step_XXXXXX.png``, ``checkpoints/latest.pt``
    (plus ``checkpoints/step_XXXXXX.pt`` every ``keep_every`` steps).
    """

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False, download: bool = False,
                 dataset: ArrayDataset | None = None, progress: bool | None = None):
        self.started = time.perf_counter()  # --time-budget counts from here: data loading is part of a run's time
        self.thread_governor = None  # a threads.ThreadGovernor re-deciding CPU threads as the load changes
        self.budget_reached = False
        self.cfg = cfg.validate()
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.dist, self.device = from_environment(resolve_device(cfg.device))
        self.is_main = self.dist.is_main  # rank 0 alone writes samples, metrics and checkpoints
        self.lock = None
        created = not self.run_dir.exists()
        if self.is_main:  # before anything is read or written: one process per run directory
            check_run_dir_path(self.run_dir)
            self.lock = lock_run_dir(self.run_dir)
        try:
            self._setup(cfg, resume, download, dataset, progress)
        except BaseException:
            self._abandon(created)
            raise

    def govern_threads(self, args) -> None:
        """Re-decide torch's CPU threads during :meth:`fit` as other work starts and stops on the machine
        (:class:`~ganforge.threads.ThreadGovernor`), where the command (its parsed ``args``) chose them from the
        machine and applied that choice: not for ``--threads``/``OMP_NUM_THREADS``, GPUs or torchrun. A command
        that trains several models has one governor for all (:func:`~ganforge.threads.command_governor`); ``args``
        None (no command) governs nothing."""
        if self.device.type == "cpu" and not self.dist.enabled:
            from .threads import command_governor

            self.thread_governor = command_governor(args)

    def _abandon(self, created: bool) -> None:
        """Start-up failed: release the lock, and remove the run directory if this call created it and
        nothing but the lock file is in it (a failed start leaves no half-made run behind)."""
        if self.lock is None:
            return
        self.lock.release()
        self.lock = None
        if created and {p.name for p in self.run_dir.iterdir()} <= {".lock"}:
            (self.run_dir / ".lock").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()

    def _setup(self, cfg: TrainConfig, resume: bool, download: bool, dataset: ArrayDataset | None,
               progress: bool | None) -> None:
        latest = self.ckpt_dir / "latest.pt"
        if self.is_main:
            remove_stale_temporaries(self.run_dir)  # left by a process killed mid-write
        if resume and not latest.is_file():
            raise UserError(f"--resume: no checkpoint at {latest}")
        if not resume and latest.is_file():
            raise UserError(f"run directory {self.run_dir} already holds a run: add --resume to continue it, "
                            "or choose another --out")
        leftovers = sorted(p.name for p in self.ckpt_dir.glob("*.pt")) if not resume else []
        if leftovers:  # e.g. another run's best.pt: a new run beside it would later load the other's weights
            raise UserError(f"run directory {self.run_dir} holds checkpoints ({', '.join(leftovers[:3])}"
                            f"{', ...' if len(leftovers) > 3 else ''}) but no latest.pt (another run's, or one killed "
                            "before its first checkpoint): choose another --out, or remove them")
        if not resume:  # what a new run asks for must be used; a resumed one keeps what it was saved with
            cfg.refuse_ignored_options()
            refuse_run_dir_inside_data(cfg.data, self.run_dir)
            build = MODELS.get_or_fail(cfg.model).build  # a GANModel class, or a function building one
            getattr(build, "refuse_for_new_run", lambda cfg: None)(cfg)
        self.progress = (sys.stderr.isatty() if progress is None else progress) and self.is_main
        loaded_here = dataset is None
        dataset = dataset or load_dataset(cfg.data, cfg.data_dir, download, cfg.image_size, cfg.max_image_pixels,
                                          cfg.discrete_columns, cfg.continuous_columns)
        # the files as read, before pairs or clips are made; none for a dataset handed in (augment's subset,
        # lab's draws): a later `dataset()` of the run reads the named files, which are not what it trained on
        self.train_fingerprint = train_fingerprint(dataset) if loaded_here else None
        self.dataset = with_pairs(dataset, cfg.pairs, cfg.pair_blur, cfg.pair_noise,  # SR pairs: a condition
                                  cfg.pair_augment)
        self.dataset = with_sequences(self.dataset, cfg.sequences, cfg.context_frames, cfg.canvas)  # clips
        if self.dataset.kind != "image" and not resume:  # image-only options on points or a table: refused
            given = [f"--{name.replace('_', '-')}" for name in ("image_size", "max_image_pixels")
                     if getattr(cfg, name) is not None] + (["--channels-last on"] if cfg.channels_last == "on" else [])
            given += ["--gan-recipe 2014-code"] if cfg.gan_recipe == "2014-code" else []  # its pixels in [0, 1]
            if given:
                raise UserError(f"{', '.join(given)}: options of image data: expected none of them for {cfg.data}, "
                                f"which holds {self.dataset.kind}")
        if self.dataset.kind != "table" and not resume:  # a table's column kinds: nothing else reads them
            given = [f"--{name.replace('_', '-')}" for name in ("discrete_columns", "continuous_columns")
                     if getattr(cfg, name) is not None]
            if given:
                raise UserError(f"{', '.join(given)}: options of table data: expected none of them for {cfg.data}, "
                                f"which holds {self.dataset.kind}")
        self.data_info = DataInfo(self.dataset.kind, self.dataset.shape, self.dataset.num_classes,
                                  self.dataset.meta.get("table"))
        if cfg.eval_every:  # a misspelt metric, or one that cannot run here, fails now, not after N steps
            check_eval_metrics(cfg.eval_metrics, self.dataset.kind)
            if self.dataset.kind != "table":
                from .metrics.evaluate import check_evaluable, default_features, parse_metrics

                n = min(cfg.eval_n, len(self.dataset.split("train")), len(self.dataset.split("test")))
                check_evaluable(self.dataset, parse_metrics(cfg.eval_metrics), n, default_features(self.dataset),
                                "--eval-n" if n == cfg.eval_n else f"--eval-n {cfg.eval_n:,} capped to",
                                "--eval-metrics without fid and kid (pr,dc for example) or a smaller --image-size")

        torch.manual_seed(cfg.seed)  # initial weights (identical on every rank) and dropout masks
        self.model = build_model(cfg, self.data_info).to(self.device)
        if self.dist.rank:
            torch.manual_seed(cfg.seed + RANK_SEED_STRIDE * self.dist.rank)  # each rank its own dropout masks
        self.channels_last = use_channels_last(cfg, self.model, self.dataset.kind)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if cfg.sync_bn == "on" and self.dist.enabled:
            if self.device.type != "cuda":
                raise UserError("sync_bn=on needs CUDA: torch's SyncBatchNorm runs on GPUs only "
                                "(use --sync-bn off on CPU)")
            nn.SyncBatchNorm.convert_sync_batchnorm(self.model)  # in place: same parameters, same state dict
        self.phases = self.model.phases()
        # fixed from here on (the optimizers hold these): the toggles of run_phase need not walk the modules
        self.model_params = list(self.model.parameters())
        self.trainable_ids = {ph.name: {id(p) for p in ph.params} for ph in self.phases}
        self.optimizers = {ph.name: build_optimizer(cfg, ph.params, ph.lr) for ph in self.phases}
        if cfg.compile == "on":  # in place, so state dicts keep their keys
            for net in (self.model.generator, self.model.discriminator):
                if net is not None:
                    net.compile()
        # DDP averages each phase's gradients over ranks; single-process training calls the phases directly.
        self.ddp = wrap_ddp(self.model, self.phases, self.dist, self.device) if self.dist.enabled else None

        train_x, labels = train_subset(self.dataset, cfg.subset, cfg.subset_seed)
        n_train, global_batch = len(train_x), cfg.batch_size * self.dist.world_size
        if n_train < global_batch:
            raise UserError(f"dataset {self.dataset.name}: its train split has {n_train} examples: expected at "
                            f"least one minibatch of {global_batch} (lower --batch-size)")
        train = torch.tensor(train_x, device=self.device)  # a copy: caches are read-only
        labels = torch.from_numpy(labels).to(self.device) if labels is not None else None
        self.sampler = ShardedMinibatchSampler(train, labels, cfg.batch_size, cfg.seed, self.dist.rank,
                                               self.dist.world_size,
                                               torch.channels_last if self.channels_last else None,
                                               self.dataset.condition, self.dataset.augment)
        self.model.begin_training(train, labels, torch.Generator().manual_seed(cfg.seed + 4))
        self.noise_rng = torch.Generator().manual_seed(cfg.seed + 1)
        self.fixed_latent = self.model.sample_latent(NUM_FIXED_SAMPLES, torch.Generator().manual_seed(cfg.seed + 2))

        # images per step over all ranks: batch_size is per rank, the global minibatch is world_size times it
        global_batch = cfg.batch_size * self.dist.world_size
        real_per_step = global_batch * sum(ph.repeats for ph in self.phases if ph.needs_real)
        self.images_per_step = max(real_per_step, global_batch)
        self.steps_per_epoch = math.ceil(n_train / self.images_per_step)
        if cfg.steps is not None:
            self.total_steps = cfg.steps
        elif cfg.epochs is not None:
            self.total_steps = math.ceil(cfg.epochs * self.steps_per_epoch)
        else:
            self.total_steps = DEFAULT_STEPS
        self.step = 0
        self.elapsed_s = 0.0
        self.checkpoint_step: int | None = None  # step of the last checkpoint written or resumed from
        # --keep-best / --early-stop: best value so far, its step, evaluations since it (saved in checkpoints)
        self.best: dict[str, Any] = {"value": None, "step": None, "stale": 0}
        if resume:
            self.load_state_dict(load_checkpoint(latest, self.device, CHECKPOINT_KEYS + RESUME_KEYS), latest)
            self.checkpoint_step = self.step
            if self.step > self.total_steps:  # not a silent no-op: the run is already further than asked
                raise UserError(f"--resume: run {self.run_dir} is at step {self.step}, past the {self.total_steps} "
                                f"steps asked: expected --steps (or --epochs) beyond step {self.step} to train on")
        self.tensorboard = None
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml_config(self.cfg, self.run_dir / "config.yaml")
            if cfg.log == "tensorboard":
                from .tensorboard_log import TensorBoardLog

                self.tensorboard = TensorBoardLog(self.run_dir, self.cfg.to_dict(), self.step)

    @property
    def generator(self) -> nn.Module:
        return self.model.generator

    @property
    def discriminator(self) -> nn.Module | None:
        return self.model.discriminator

    # ----------------------------------------------------------------- Algorithm 1
    def next_latent(self):
        """Fresh latents for this rank's ``batch_size`` rows: every rank draws the global batch's latents
        from the same generator and keeps its own slice (one process: exactly ``sample_latent(m)``)."""
        m, r = self.cfg.batch_size, self.dist.rank
        if not self.dist.enabled:
            return self.model.sample_latent(m, self.noise_rng)
        return slice_latent(self.model.sample_latent(m * self.dist.world_size, self.noise_rng), r * m, (r + 1) * m)

    def autocast(self):
        """bf16 autocast around the phases' forward passes when ``amp=bf16`` (no loss scaling needed)."""
        if self.cfg.amp == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def run_phase(self, phase: Phase) -> dict[str, torch.Tensor]:
        """``phase.repeats`` updates of the phase's parameters, each on a fresh minibatch and fresh latents;
        every other parameter is frozen meanwhile, so no gradient flows into it."""
        trainable = self.trainable_ids[phase.name]
        for p in self.model_params:
            p.requires_grad_(id(p) in trainable)
        optimizer = self.optimizers[phase.name]
        index = next(i for i, ph in enumerate(self.phases) if ph is phase)
        for _ in range(phase.repeats):
            x_real, y_real, condition = self.sampler.next_with_condition() if phase.needs_real else (None,) * 3
            batch = Batch(x_real, y_real, self.next_latent(), condition)
            with self.autocast():
                loss, logs = self.ddp(index, batch) if self.ddp is not None else phase.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if phase.after_step is not None:
                phase.after_step()
        return {f"loss/{phase.name}": loss.detach(), **{k: v.detach() for k, v in logs.items()}}

    def apply_schedules(self) -> None:
        """Learning rate and momentum for the coming iteration, a pure function of the step (so a resumed run
        follows the same schedule): lr = max(lr0 / lr_decay^step, min_lr); SGD momentum linear from
        ``momentum`` to ``momentum_final`` over ``momentum_ramp_epochs``. Constant unless configured."""
        cfg = self.cfg
        if cfg.lr_decay == 1.0 and cfg.momentum_final is None:
            return
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                base_lr = group.setdefault("initial_lr", group["lr"])
                group["lr"] = max(base_lr / cfg.lr_decay ** self.step, cfg.min_lr)
                if cfg.momentum_final is not None and "momentum" in group:
                    ramp = min(1.0, self.step / (cfg.momentum_ramp_epochs * self.steps_per_epoch))
                    group["momentum"] = cfg.momentum + (cfg.momentum_final - cfg.momentum) * ramp

    def train_step(self) -> dict[str, torch.Tensor]:
        """One iteration: every phase in order (for a GAN: k discriminator steps, then one generator step)."""
        self.model.train()
        self.apply_schedules()
        self.model.on_step(self.step, self.total_steps)
        if self.model.resets_optimizers(self.step):
            for optimizer in self.optimizers.values():
                optimizer.state.clear()
        logs: dict[str, torch.Tensor] = {}
        try:
            for phase in self.phases:
                logs.update(self.run_phase(phase))
        finally:
            for p in self.model_params:
                p.requires_grad_(True)
        self.model.after_iteration()
        self.step += 1
        return logs

    # ----------------------------------------------------------------- the run
    def fit(self) -> int:
        """Train until ``total_steps``; returns the final step. Ctrl-C/SIGTERM save, then raise
        :class:`TrainingInterrupted`."""
        stop: list[int] = []

        def on_signal(signum, frame):
            if stop:  # a second signal: stop at once (the last checkpoint is intact)
                raise KeyboardInterrupt
            stop.append(signum)

        handlers = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, on_signal)
        except ValueError:
            handlers = {}  # not the main thread: no signal handling

        if self.is_main:
            self._truncate_metrics_after(self.step)
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True)
        sums: dict[str, torch.Tensor] = {}
        count, t0, interval_start = 0, time.perf_counter(), time.perf_counter()
        last_heartbeat = interval_start
        try:
            if self.step == 0 and self.is_main:
                self.write_samples()
            while self.step < self.total_steps:
                logs = self.train_step()
                self.check_finite(logs)
                if self.thread_governor is not None and (change := self.thread_governor.poll()) and self.is_main:
                    line = f"step {self.step}/{self.total_steps}  {change}"
                    bar.write(line) if bar is not None else print(line, flush=True)
                for key, v in logs.items():
                    sums[key] = sums.get(key, 0.0) + v
                count += 1
                if bar is not None:
                    bar.update(1)
                    if self.step % 10 == 0 or self.step == self.total_steps:
                        steps_per_s = count / max(time.perf_counter() - interval_start, 1e-9)
                        if self.cfg.time_budget_s:  # the bar ends (and its eta counts to) where the budget does
                            bar.total = min(self.total_steps, self.step + round(self.eta_s(steps_per_s) * steps_per_s))
                        bar.set_postfix_str(self._format(sums, count, steps_per_s * self.images_per_step),
                                            refresh=False)
                elif self.is_main and time.perf_counter() - last_heartbeat >= HEARTBEAT_S:
                    last_heartbeat = time.perf_counter()  # logs (nohup, CI) get a line a minute between samples
                    print(self._heartbeat(count / max(last_heartbeat - interval_start, 1e-9)), flush=True)
                done = self.step == self.total_steps
                over_budget = self.budget_left_s() == 0.0
                # under torchrun a signal (or the budget) may reach the ranks at different steps: they agree
                stopping = bool(stop) or over_budget
                if self.dist.enabled:
                    stopping = self.dist.any_true(stopping)
                if self.step % self.cfg.sample_every == 0 or done or stopping:
                    self.check_finite_weights()
                    now = time.perf_counter()
                    self.elapsed_s += now - t0
                    t0 = now
                    rate = count * self.images_per_step / max(now - interval_start, 1e-9)
                    sums, extra = self._reduce_logs(sums)
                    if self.is_main:
                        self._log_metrics(sums, count, rate, extra)
                        if bar is None:
                            print(f"step {self.step}/{self.total_steps}  {self._format(sums, count, rate)}",
                                  flush=True)
                        self.write_samples()
                    sums, count, interval_start = {}, 0, time.perf_counter()
                if self.cfg.eval_every and (self.step % self.cfg.eval_every == 0 or done) and self.is_main:
                    eval_s = self.log_evaluation()
                    t0 += eval_s  # evaluation time counts neither as training time nor against images/s
                    interval_start += eval_s
                early = self.cfg.early_stop and self.cfg.eval_every and self.step % self.cfg.eval_every == 0 \
                    and self._early_stop_agreed()
                keep = self.cfg.keep_every and self.step % self.cfg.keep_every == 0  # keeping implies saving
                if self.step % self.cfg.checkpoint_every == 0 or keep or done or stopping or early:
                    now = time.perf_counter()
                    self.elapsed_s += now - t0  # every checkpoint carries the training time so far
                    t0 = now
                    self.check_finite_weights()  # never overwrite the last good checkpoint with a broken state
                    self.save_checkpoint()
                if stopping:
                    if stop or not self.cfg.time_budget_s:
                        raise TrainingInterrupted(stop[0] if stop else signal.SIGTERM, self.step)
                    self.budget_reached = True  # a clean end: samples and checkpoint are written
                    break
                if early:
                    if self.is_main:
                        print(f"step {self.step}/{self.total_steps}  early stop: {self.cfg.keep_best} has not "
                              f"improved for {self.best['stale']} evaluations (best {self.best['value']:.4g} at "
                              f"step {self.best['step']}, checkpoints/best.pt)", flush=True)
                    break
            self.dist.barrier()  # no rank leaves before rank 0 has written the last samples and checkpoint
        finally:
            if bar is not None:
                bar.close()
            for sig, old in handlers.items():
                signal.signal(sig, old)
        return self.step

    # ----------------------------------------------------------------- divergence guard
    def check_finite(self, logs: dict[str, torch.Tensor]) -> None:
        """Stop with :class:`TrainingDiverged` if any logged loss of this step is NaN or infinite (one
        ``isfinite`` over the step's few scalars; under DDP the ranks agree first)."""
        if not logs:
            return
        values = torch.stack([v.detach().float().mean() for v in logs.values()])
        bad = not bool(torch.isfinite(values).all())
        if self.dist.enabled:
            bad = self.dist.any_true(bad)
        if bad:
            key, value = next(((k, float(v)) for k, v in zip(logs, values.tolist(), strict=True)
                               if not math.isfinite(v)), ("a loss on another rank", float("nan")))
            self._diverged(f"{key} is {value}")

    def check_finite_weights(self) -> None:
        """Stop with :class:`TrainingDiverged` if any weight or floating buffer is NaN or infinite (e.g. a
        non-finite gradient stepped into it); run before every checkpoint and sample write."""
        for name, t in [*self.model.named_parameters(), *self.model.named_buffers()]:
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                self._diverged(f"weight {name} is not finite")

    def _diverged(self, what: str) -> None:
        kept = (f"{self.ckpt_dir / 'latest.pt'} (step {self.checkpoint_step}) is the last good checkpoint"
                if self.checkpoint_step is not None else "no checkpoint was written")
        cfg = self.cfg
        rates = [f"--{name.replace('_', '-')} (now {getattr(cfg, name):g})" for name in ("lr_d", "lr_g")
                 if getattr(cfg, name) is not None]
        if len(rates) < 2:  # G's or D's rate is --lr's
            rates.insert(0, f"--lr (now {cfg.resolved_lr:g})")
        raise TrainingDiverged(f"training diverged at step {self.step}: {what}; {kept}; lower {' or '.join(rates)} "
                               "or change --optimizer/--objective")

    def _reduce_logs(self, sums: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Under DDP: log sums averaged over ranks, and ``ddp/param_spread``, the spread of the ranks'
        parameter checksums (0 while the ranks hold identical weights). One process: unchanged."""
        if not self.dist.enabled:
            return sums, {}
        keys = sorted(sums)
        if keys:
            stacked = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64) for k in keys])
            stacked = stacked.to(self.dist.collective_device)
            torch.distributed.all_reduce(stacked)
            sums = {k: v / self.dist.world_size for k, v in zip(keys, stacked.cpu(), strict=True)}
        checksums = parameter_checksums(self.model, self.dist)
        return sums, {"ddp/world_size": self.dist.world_size, "ddp/param_spread": max(checksums) - min(checksums)}

    def log_evaluation(self) -> float:
        """``--eval-every``: the chosen metrics on ``eval_n`` fresh samples, appended to metrics.jsonl as
        ``metric/<name>``; returns the seconds it took."""
        from .metrics.evaluate import evaluate_model  # imported here: the loop needs metrics only for this

        start = time.perf_counter()
        n = min(self.cfg.eval_n, len(self.dataset.split("train")), len(self.dataset.split("test")))
        # on a fork of torch's global generator: what evaluation draws must not move training's dropout masks
        # and style mixing, or a run evaluated at other steps (a resume's stop step) would train differently
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            values = evaluate_model(self.model, self.dataset, self.cfg.eval_metrics, n=n, seed=self.cfg.seed)
        record = {"step": self.step, **{f"metric/{k}": round(float(v), 6) for k, v in values.items()}}
        self._append_metrics(record)
        if not self.progress:
            print(f"step {self.step}/{self.total_steps}  " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()),
                  flush=True)
        if self.cfg.keep_best:
            self.keep_best(values)
        return time.perf_counter() - start

    def keep_best(self, values: dict[str, float]) -> None:
        """``--keep-best METRIC``: write ``checkpoints/best.pt`` (weights, config, data, step and the metric:
        enough for ``load_run``/``sample``/``eval``, not for resuming) when ``values[METRIC]`` improves on the
        best so far; otherwise count one more evaluation without improvement (``--early-stop``'s patience)."""
        name = self.cfg.keep_best
        if name not in values:
            raise UserError(f"keep_best={name}: the evaluation gave no such value (it gave {', '.join(values)})")
        value = float(values[name])
        if not improves(name, value, self.best["value"]):
            self.best["stale"] += 1
            return
        self.best = {"value": value, "step": self.step, "stale": 0}
        atomic_torch_save({"format": FORMAT, "step": self.step, "config": self.cfg.to_dict(),
                           "data": {"name": self.dataset.name, **self.data_info.to_dict()},
                           "model": self.model.state_dict(), "metric": {name: value}}, self.ckpt_dir / "best.pt")

    def _early_stop_agreed(self) -> bool:
        """``--early-stop PATIENCE``: the best metric is PATIENCE or more evaluations old (rank 0 evaluates;
        under torchrun every rank learns its verdict)."""
        stale = self.best["stale"] >= self.cfg.early_stop
        return self.dist.any_true(stale) if self.dist.enabled else stale

    def budget_left_s(self) -> float | None:
        """Seconds left of ``--time-budget`` (0.0 once spent), or None without a budget."""
        budget = self.cfg.time_budget_s
        return None if budget is None else max(0.0, budget - (time.perf_counter() - self.started))

    def eta_s(self, steps_per_s: float) -> float:
        """Seconds until the run ends: the remaining steps at ``steps_per_s``, or the budget if it ends first."""
        left = (self.total_steps - self.step) / max(steps_per_s, 1e-9)
        budget_left = self.budget_left_s()
        return left if budget_left is None else min(left, budget_left)

    def _heartbeat(self, steps_per_s: float) -> str:
        """``step S/T  img/s R  eta 12m05s``: the progress line of a run without a terminal."""
        minutes, seconds = divmod(int(self.eta_s(steps_per_s)), 60)
        return (f"step {self.step}/{self.total_steps}  img/s {steps_per_s * self.images_per_step:.0f}  "
                f"eta {minutes}m{seconds:02d}s")

    @staticmethod
    def _format(sums: dict[str, torch.Tensor], count: int, rate: float) -> str:
        """``img/s``, then every logged mean: losses per phase, ``D(x)`` and ``D(G(z))`` for GANs."""
        names = {"D/real": "D(x)", "D/fake": "D(G(z))"}
        parts = [f"img/s {rate:.0f}"]
        parts += [f"{names.get(k, k)} {float(v) / max(count, 1):.3f}" for k, v in sums.items()]
        return "  ".join(parts)

    def _log_metrics(self, sums: dict[str, torch.Tensor], count: int, rate: float,
                     extra: dict[str, float] | None = None) -> None:
        record: dict[str, Any] = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
                                  "time_s": round(self.elapsed_s, 3), "images_per_s": round(rate, 1)}
        record.update({k: round(float(v) / max(count, 1), 6) for k, v in sums.items()})
        record.update(extra or {})
        self._append_metrics(record)

    def _append_metrics(self, record: dict[str, Any]) -> None:
        """One strict-JSON line in ``metrics.jsonl`` (and, with ``--log tensorboard``, the same scalars there)."""
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(strict_json(record) + "\n")
        if self.tensorboard is not None:
            self.tensorboard.scalars(record)

    def _truncate_metrics_after(self, step: int) -> None:
        """On resume, drop log lines written after the checkpoint we resume from (they will be redone), and
        a torn line a kill left mid-write. Rewritten atomically."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # torn by a kill during the write
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line)
        atomic_write_text(path, "".join(ln + "\n" for ln in kept))

    @torch.inference_mode()
    def generate(self, latent) -> torch.Tensor:
        """Samples in the data's range on the CPU, model in eval mode (batch norm uses running statistics)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return to_data_range(self.model.generate(latent), self.dataset.kind).cpu()
        finally:
            self.model.train(was_training)

    def write_samples(self) -> Path:
        """Images: a grid of G(fixed noise). Points: 2,000 samples over the test data (also fixed noise).
        Tables: a CSV of 500 decoded rows."""
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        if self.dataset.kind == "table":  # a table's samples are rows: a CSV of 500 decoded ones, drawn as
            from .data.table import TableSpec  # `ganforge sample` draws them (eval mode)

            spec, path = TableSpec(self.data_info.table), path.with_suffix(".csv")
            self.model.eval()
            latent = self.model.sample_latent(500, torch.Generator().manual_seed(self.cfg.seed + 3))
            self.model.train()
            path.parent.mkdir(parents=True, exist_ok=True)
            spec.write_csv(spec.decode(self.generate(latent).numpy()), path)
            return path
        if self.dataset.kind == "image":
            x = self.generate(self.fixed_latent)
            save_image(make_grid(x, nrow=8), path, scale=grid_scale(x.shape[-1]))
        else:
            latent = self.model.sample_latent(2000, torch.Generator().manual_seed(self.cfg.seed + 3))
            save_points_plot(self.generate(latent).numpy(), path, self.dataset.split("test")[:2000],
                             title=f"{self.cfg.model} on {self.cfg.data}, step {self.step}")
        if self.tensorboard is not None:
            self.tensorboard.image_file("samples", path, self.step)
        return path

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "config": self.cfg.to_dict(),
            "data": {"name": self.dataset.name, **self.data_info.to_dict(), "splits": split_sizes(self.dataset),
                     "train_fingerprint": self.train_fingerprint},
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "sampler_cursor": self.sampler.cursor,
            "best": dict(self.best),
            "noise_rng": self.noise_rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            **self._rank_rng_states(),
        }

    def _rank_rng_states(self) -> dict[str, list[torch.Tensor]]:
        """Under DDP, every rank's torch (and CUDA) RNG state, gathered so each rank's dropout masks
        continue exactly on resume. A collective: all ranks call it at the same step."""
        if not self.dist.enabled:
            return {}
        out: dict[str, list[torch.Tensor]] = {}
        states = {"torch_rng_ranks": torch.get_rng_state()}
        if self.device.type == "cuda":
            states["cuda_rng_ranks"] = torch.cuda.get_rng_state(self.device)
        for key, state in states.items():
            t = state.to(self.dist.collective_device)
            gathered = [torch.empty_like(t) for _ in range(self.dist.world_size)]
            torch.distributed.all_gather(gathered, t)
            out[key] = [g.cpu() for g in gathered]
        return out

    def load_state_dict(self, ckpt: dict[str, Any], path: str | Path = "checkpoint") -> None:
        saved, now = ckpt.get("data", {}).get("splits"), split_sizes(self.dataset)
        if saved is not None and saved != now:  # files added or removed: not the run it was (checkpoints before
            def sizes(d: dict[str, int]) -> str:  # this check carry no sizes and resume as before)
                return ", ".join(f"{k} {v:,}" for k, v in d.items())
            raise UserError(f"--resume: the data changed since {path} was saved: {self.dataset.name} now has "
                            f"{sizes(now)} examples, the run was trained on {sizes(saved)}: expected the same "
                            "files (or start a new run in another --out)")
        saved_print = ckpt.get("data", {}).get("train_fingerprint")
        if None not in (saved_print, self.train_fingerprint) and saved_print != self.train_fingerprint:
            raise UserError(f"--resume: the data changed since {path} was saved: {self.dataset.name}'s training "
                            "examples have the sizes the run was trained on but other contents: expected the same "
                            "files (or start a new run in another --out)")
        load_model_weights(self.model, self.model.fit_ema_state(ckpt["model"]), path)
        for name, opt in self.optimizers.items():
            try:
                opt.load_state_dict(ckpt["optimizers"][name])
            except ValueError as e:  # the weights fit, the optimizer's parameter list does not
                raise UserError(f"checkpoint {path}: its {name} optimizer state does not fit the parameters this "
                                f"ganforge version trains (saved by another version?): it can be sampled and "
                                f"evaluated, not resumed ({' '.join(str(e).split())[:120]})") from None
        self.sampler.cursor = int(ckpt["sampler_cursor"])
        self.noise_rng.set_state(ckpt["noise_rng"].cpu())
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        if ckpt["cuda_rng"] and torch.cuda.is_available() and not self.dist.enabled:
            torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["cuda_rng"]])
        if self.dist.enabled:
            r, n = self.dist.rank, self.dist.world_size
            if len(ckpt.get("torch_rng_ranks", [])) == n:
                torch.set_rng_state(ckpt["torch_rng_ranks"][r].cpu())
                if self.device.type == "cuda" and len(ckpt.get("cuda_rng_ranks", [])) == n:
                    torch.cuda.set_rng_state(ckpt["cuda_rng_ranks"][r].cpu(), self.device)
            else:  # saved with another number of ranks: fresh per-rank streams (not bit-identical to before)
                torch.manual_seed(self.cfg.seed + RANK_SEED_STRIDE * r + int(ckpt["step"]))
        self.step = int(ckpt["step"])
        self.elapsed_s = float(ckpt["elapsed_s"])
        self.best = dict(ckpt.get("best", self.best))

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/latest.pt`` (rank 0 only; under DDP every rank must call it, as it gathers
        the ranks' RNG states)."""
        state = self.state_dict()
        latest = self.ckpt_dir / "latest.pt"
        self.checkpoint_step = self.step  # every rank: a divergence message names the same last good step
        if not self.is_main:
            return latest
        # the kept copy first: a kill between the two writes then leaves latest.pt at the step before, and the
        # resumed run writes this step's kept copy again (the other order lost it for good)
        if self.cfg.keep_every and self.step % self.cfg.keep_every == 0:
            atomic_torch_save(state, self.ckpt_dir / f"step_{self.step:06d}.pt")
        atomic_torch_save(state, latest)
        return latest
