"""Training speed: ganforge's loop against a tutorial-style reference loop, and against the machine's limit.

For each (model, image size, batch size) a row per implementation:

* ``ganforge``: :class:`ganforge.train.Trainer` steps (uint8 data resident on the device, one gather and
  one float conversion per batch, frozen parameters per phase, channels-last conv nets).
* ``reference``: the same networks and losses trained the way tutorials write it: a
  ``torch.utils.data.DataLoader`` over a per-sample ``Dataset`` whose ``__getitem__`` converts one image
  (``ToTensor`` then ``Normalize((0.5,), (0.5,))``), and a plain ``zero_grad(); loss.backward(); step()``
  per phase with no parameter freezing, NCHW memory.

Both are timed in alternating rounds in one process (the CPU here is shared, so only ratios measured side
by side mean much). Model FLOPs per image are counted with the FLOP formulas of ``torch.utils.flop_counter``
(those of ``FlopCounterMode``) over one whole training step; the machine's matmul peak is the best rate of
large fp32 matmuls on the same threads. Throughput figures are wall-clock; ``cpu_share_of_peak`` divides
FLOPs per CPU-second of the training step by FLOPs per CPU-second of the matmul, which stays meaningful when
other processes take turns on the cores.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from .config import TrainConfig
from .data import ArrayDataset, load_dataset
from .data.core import DATASETS, resize_dataset
from .errors import UserError
from .models import MODELS, Batch

#: What ``ganforge bench`` measures by default: (model, image size).
DEFAULT_CASES = (("gan", 28), ("dcgan", 28), ("dcgan", 64), ("wgan-gp", 28))
DEFAULT_BATCH_SIZES = (64, 128)
#: ``--quick``: one row pair of the headline case, well under 40 s on 2 busy cores.
QUICK_CASES = (("dcgan", 28),)
QUICK_BATCH_SIZES = (64,)
#: Examples kept from the dataset: enough for many steps without epoch effects, fast to load and resize.
BENCH_EXAMPLES = 8192
#: Keys of a model's recipe (configs/MODEL.yaml) the bench keeps: what makes the model the paper's model.
#: Data, sizes, batch and run lengths come from the bench itself.
RECIPE_KEYS = ("objective", "optimizer", "lr", "beta1", "beta2", "weight_decay", "momentum", "k_disc", "penalty",
               "gp_weight", "clip", "info_categories", "info_continuous", "info_weight", "ae_kind", "noise_std",
               "prior", "conditioning", "dropout", "pairs", "sequences")


def model_recipe(model: str) -> dict[str, Any]:
    """The model-defining options of its shipped recipe ``configs/MODEL.yaml`` (e.g. wgan-gp's
    ``objective: wasserstein``, ``penalty: gp``, ``k_disc: 5``); empty when there is none."""
    from .config import load_yaml_config
    from .recipes import RECIPES_DIR

    path = RECIPES_DIR / f"{model}.yaml"
    if not path.is_file():
        return {}
    return {k: v for k, v in load_yaml_config(path).items() if k in RECIPE_KEYS}


@dataclass
class BenchRow:
    """One measured configuration. ``flops_per_image`` counts one training step's FLOPs over the real images
    it consumes; ``share_of_peak`` is achieved model FLOP/s (best round) over ``peak_matmul_flops``."""

    impl: str
    model: str
    size: int
    device: str
    batch_size: int
    threads: int
    images_per_s: float
    images_per_s_best: float
    s_per_1000_steps: float
    peak_memory_mib: float
    flops_per_image: float
    achieved_flops: float
    peak_matmul_flops: float
    share_of_peak: float
    cpu_share_of_peak: float | None
    ratio_to_reference: float | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- the limit
def matmul_peak_flops(device: torch.device, n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Best FLOP/s of ``(n, n) @ (n, n)`` fp32 matmuls on ``device`` (2 n^3 FLOPs each) with the current
    threads, and the median FLOPs per CPU-second (CPU only, else nan)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    flops = 2.0 * n ** 3
    (a @ b).sum().item()  # warm-up
    best, per_cpu_s = 0.0, []
    for _ in range(repeats):
        _sync(device)
        w, c = time.perf_counter(), time.process_time()
        a @ b
        _sync(device)
        w, c = time.perf_counter() - w, time.process_time() - c
        best = max(best, flops / w)
        per_cpu_s.append(flops / c if c > 0 else math.nan)
    return best, statistics.median(per_cpu_s) if device.type == "cpu" else math.nan


class _FlopCounter(TorchDispatchMode):
    """Adds up, per aten op run, the FLOPs torch's ``FlopCounterMode`` formulas give (matmuls, convolutions,
    attention; forward and backward). ``FlopCounterMode`` itself also tracks modules with backward hooks,
    which ``torch.autograd.grad`` (WGAN-GP's gradient penalty) does not support; this keeps only the count."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(step: Callable[[], Any]) -> int:
    """FLOPs of one call of ``step``, counted with torch's FLOP formulas (``torch.utils.flop_counter``)."""
    with _FlopCounter() as counter:
        step()
    return int(counter.total)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------- data
def bench_dataset(size: int, data: str = "fashion-mnist", examples: int = BENCH_EXAMPLES,
                  log: Callable[[str], None] = print, data_dir: str | None = None) -> ArrayDataset:
    """The first ``examples`` training images of ``data`` at ``size x size`` (uint8); random uint8 images of
    the same shape, with a printed note, when the dataset is not installed."""
    if not data.startswith("folder:"):
        DATASETS.get_or_fail(data)  # an unknown name is the user's error, not a missing file
    try:
        full = load_dataset(data, data_dir)
    except UserError as e:
        if data.startswith("folder:"):
            raise
        log(f"bench: {data} not found ({e}); timing on random uint8 images of the same shape")
        rng = np.random.default_rng(0)
        return ArrayDataset("random", "image", {"train": rng.integers(0, 256, (examples, 1, size, size),
                                                                       dtype=np.uint8)})
    if full.kind != "image":
        raise UserError(f"--data {data}: holds {full.kind}, expected images (the benchmark times image models)")
    subset = ArrayDataset(full.name, full.kind, {"train": full.split("train")[:examples]}, {}, None, None,
                          full.source)
    if subset.shape[-1] != size:
        subset = resize_dataset(subset, size)
    return subset


#: Image models the tutorial-style reference loop cannot train (it feeds images alone), and why.
NOT_BENCHED = {"cgan": "it trains on labelled images", "sgan": "it trains on labelled images",
               "srresnet": "it trains on low/high-resolution pairs", "srgan": "it trains on low/high-resolution pairs",
               "nextframe": "it trains on frame sequences"}


# ---------------------------------------------------------------------------------------------- reference
class PerSampleImageDataset(torch.utils.data.Dataset):
    """The tutorial way: images kept as uint8 arrays, each one converted in ``__getitem__``:
    ``ToTensor()`` (``/255`` to [0, 1]) then ``Normalize((0.5,), (0.5,))`` (to [-1, 1])."""

    def __init__(self, images: np.ndarray):
        self.images = images  # (N, C, H, W) uint8

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i].astype(np.float32) / 255.0)  # ToTensor
        x = (x - 0.5) / 0.5  # Normalize(mean=0.5, std=0.5)
        return x, 0


class ReferenceLoop:
    """Tutorial-style training of the same networks and losses: a shuffled DataLoader of per-sample
    transforms, then for each phase ``opt.zero_grad(); loss.backward(); opt.step()`` with every parameter
    left trainable (so the D step also builds G's graph and the G step computes D's unused weight
    gradients, as tutorials do), NCHW memory, fresh ``torch.randn`` noise."""

    def __init__(self, cfg: TrainConfig, dataset: ArrayDataset, device: torch.device, workers: int = 0):
        from .models import DataInfo
        from .train import build_model, build_optimizer

        torch.manual_seed(cfg.seed)
        self.device, self.cfg = device, cfg
        info = DataInfo(dataset.kind, dataset.shape, dataset.num_classes)
        self.model = build_model(cfg, info).to(device)
        self.phases = self.model.phases()
        self.optimizers = {ph.name: build_optimizer(cfg, ph.params) for ph in self.phases}
        self.loader = torch.utils.data.DataLoader(PerSampleImageDataset(dataset.split("train")),
                                                  batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                                  num_workers=workers, pin_memory=device.type == "cuda")
        self._batches: Iterator = iter(())
        real = sum(ph.repeats for ph in self.phases if ph.needs_real)
        self.images_per_step = cfg.batch_size * max(real, 1)

    def next_batch(self) -> torch.Tensor:
        try:
            x, _ = next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            x, _ = next(self._batches)
        return x.to(self.device, non_blocking=True)

    def train_step(self) -> None:
        self.model.train()
        for phase in self.phases:
            optimizer = self.optimizers[phase.name]
            for _ in range(phase.repeats):
                x_real = self.next_batch() if phase.needs_real else None
                latent = self.model.sample_latent(self.cfg.batch_size)
                loss, _ = phase.loss(Batch(x_real, None, latent))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if phase.after_step is not None:
                    phase.after_step()


# ---------------------------------------------------------------------------------------------- timing
def _peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process high-water mark (Linux: KiB)


def _timed(step: Callable[[], None], steps: int, device: torch.device) -> tuple[float, float]:
    """Seconds per step: wall clock and process CPU time."""
    _sync(device)
    w, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - w) / steps, (time.process_time() - c) / steps


def bench_case(model: str, size: int, batch_size: int, device: torch.device, dataset: ArrayDataset, *,
               rounds: int = 3, steps: int = 3, warmup: int = 1, workers: int = 0,
               options: dict[str, str] | None = None, peak: tuple[float, float] | None = None,
               log: Callable[[str], None] = print) -> list[BenchRow]:
    """Time ganforge and the reference loop in ``rounds`` alternating rounds of ``steps`` steps each;
    returns the ganforge row then the reference row."""
    from .train import Trainer

    options = dict(options or {})
    values = {**model_recipe(model), "model": model, "data": dataset.name, "batch_size": batch_size,
              "device": device.type, "sample_every": 10 ** 9, "checkpoint_every": 10 ** 9, **options}
    cfg = TrainConfig.from_dict(values, source=f"bench {model}").validate()
    with tempfile.TemporaryDirectory(prefix="ganforge-bench-") as tmp:
        trainer = Trainer(cfg, tmp, dataset=dataset, progress=False)
        reference = ReferenceLoop(cfg.__class__(**{**cfg.to_dict(), "channels_last": "off", "compile": "off",
                                                   "amp": "off"}), dataset, trainer.device, workers)
        impls = {"ganforge": (trainer.train_step, trainer.images_per_step),
                 "reference": (reference.train_step, reference.images_per_step)}
        flops = {name: count_flops(step) / images for name, (step, images) in impls.items()}
        for step, _ in impls.values():
            for _ in range(warmup):
                step()
        peak_wall, peak_cpu = peak or matmul_peak_flops(trainer.device)
        peak_cpus = [peak_cpu]
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in impls}
        mem: dict[str, float] = {}
        for r in range(rounds):
            # the peak is probed every round too, so that a busy moment at the start does not inflate shares
            probe_wall, probe_cpu = matmul_peak_flops(trainer.device, repeats=2)
            peak_wall, peak_cpus = max(peak_wall, probe_wall), peak_cpus + [probe_cpu]
            order = list(impls) if r % 2 == 0 else list(reversed(impls))  # alternate who goes first
            for name in order:
                step, _ = impls[name]
                if trainer.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(trainer.device)
                times[name].append(_timed(step, steps, trainer.device))
                mem[name] = max(mem.get(name, 0.0), _peak_memory_mib(trainer.device))
        peak_cpu = statistics.median(peak_cpus)
        rows = []
        for name, (_, images) in impls.items():
            walls = [w for w, _ in times[name]]
            cpus = [c for _, c in times[name]]
            ips = images / statistics.median(walls)
            ips_best = images / min(walls)
            achieved = flops[name] * ips_best
            cpu_share = (flops[name] * images / statistics.median(cpus)) / peak_cpu if peak_cpu == peak_cpu else None
            rows.append(BenchRow(
                impl=name, model=model, size=size, device=str(trainer.device.type), batch_size=batch_size,
                threads=torch.get_num_threads(), images_per_s=round(ips, 1), images_per_s_best=round(ips_best, 1),
                s_per_1000_steps=round(1000 * statistics.median(walls), 1), peak_memory_mib=round(mem[name], 1),
                flops_per_image=round(flops[name]), achieved_flops=round(achieved),
                peak_matmul_flops=round(peak_wall), share_of_peak=round(achieved / peak_wall, 3),
                cpu_share_of_peak=None if cpu_share is None else round(cpu_share, 3),
                options={"amp": cfg.amp, "compile": cfg.compile,
                         "channels_last": "on" if trainer.channels_last else "off"}
                if name == "ganforge" else {"dataloader_workers": workers}))
        # ratio per round (both measured side by side), then the median over rounds
        ratios = [(impls["ganforge"][1] / g[0]) / (impls["reference"][1] / ref[0])
                  for g, ref in zip(times["ganforge"], times["reference"], strict=True)]
        rows[0].ratio_to_reference = round(statistics.median(ratios), 2)
    return rows


def run_benchmark(cases=DEFAULT_CASES, batch_sizes=DEFAULT_BATCH_SIZES, device: str = "auto", *,
                  rounds: int = 3, steps: int = 3, workers: int = 0, options: dict[str, str] | None = None,
                  data: str = "fashion-mnist", data_dir: str | None = None, log: Callable[[str], None] = print,
                  emit: Callable[[BenchRow], None] | None = None, intro: str | None = None) -> list[BenchRow]:
    """Every (model, size) x batch size; models not registered are skipped with a printed note. ``intro`` is
    logged once the cases and data are known good (a refusal comes alone)."""
    from .train import resolve_device

    dev = resolve_device(device)
    registered = [(model, size) for model, size in cases if model in MODELS]
    for model, _ in cases:
        if model not in MODELS:
            log(f"bench: model {model} is not registered here; skipped")
        elif "image" not in MODELS[model].data_kinds:  # before the peak's seconds and any data is read
            raise UserError(f"model {model} cannot model image data ({data}): it takes "
                            f"{' or '.join(MODELS[model].data_kinds)} data (the benchmark times image models)")
        elif model in NOT_BENCHED:
            raise UserError(f"model {model}: {NOT_BENCHED[model]}: the benchmark times models trained on images "
                            "alone (time this one with ganforge train, whose log gives images/s)")
    datasets = {size: bench_dataset(size, data, log=log, data_dir=data_dir) for size in {s for _, s in registered}}
    if intro:
        log(intro)
    peak = matmul_peak_flops(dev)
    wait = os.environ.get("OMP_WAIT_POLICY", "unset (GNU OpenMP spins)")
    log(f"bench: {dev} threads {torch.get_num_threads()}, OMP_WAIT_POLICY {wait}: matmul peak "
        f"{peak[0] / 1e9:.1f} GFLOP/s (best of 5 fp32 2048x2048 matmuls)")
    rows: list[BenchRow] = []
    for model, size in registered:
        for batch_size in batch_sizes:
            for row in bench_case(model, size, batch_size, dev, datasets[size], rounds=rounds, steps=steps,
                                  workers=workers, options=options, peak=peak, log=log):
                rows.append(row)
                if emit is not None:
                    emit(row)
    return rows


def format_row(row: BenchRow) -> str:
    """One table line: what a person reads first (images/s, the ratio, the share of the matmul peak)."""
    ratio = f"x{row.ratio_to_reference:.2f}" if row.ratio_to_reference is not None else ""
    cpu = f" ({row.cpu_share_of_peak:.0%} CPU-time)" if row.cpu_share_of_peak is not None else ""
    return (f"{row.impl:9s} {row.model:8s} {row.size:3d}px bs {row.batch_size:4d} {row.device:4s} "
            f"{row.images_per_s:8.1f} img/s (best {row.images_per_s_best:8.1f}) {ratio:6s} "
            f"{row.s_per_1000_steps:8.1f} s/1k steps  {row.flops_per_image / 1e6:7.1f} MFLOP/img  "
            f"{row.achieved_flops / 1e9:6.1f} GFLOP/s = {row.share_of_peak:4.0%} of matmul peak{cpu}  "
            f"mem {row.peak_memory_mib:.0f} MiB")
