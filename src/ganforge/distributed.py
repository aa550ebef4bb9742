"""Data-parallel training under ``torchrun``: PyTorch's own DistributedDataParallel, nothing home-made.

``torchrun --nproc_per_node N -m ganforge train ...`` starts N copies of the same command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`from_environment` reads them
and joins the process group (gloo on CPU, NCCL on CUDA). Without those variables it returns a one-process
context and nothing distributed happens.

How the global minibatch is split: every rank draws the *same* global minibatch of ``world_size * m``
indices (one shared permutation per epoch) and the same global latents, then keeps its own slice of ``m``.
Each rank therefore trains on its own examples, no two ranks see the same example in an epoch, and since DDP
averages gradients over ranks, N ranks of ``m`` take the step one process would take with ``N * m``, up to
float summation order and batch-norm statistics (per rank unless ``--sync-bn on``). The sampler state stays
one integer, so resume works exactly as on one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .data import MinibatchSampler, to_model_range
from .data.pairs import condition_seed
from .errors import UserError

#: Environment variables torchrun sets for every worker.
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistributedContext:
    """Where this process sits: ``rank`` of ``world_size`` (``local_rank`` on its node) and the device it
    trains on. ``world_size == 1`` means plain single-process training."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes samples, metrics and checkpoints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def any_true(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (e.g. one rank caught SIGTERM)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.collective_device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    @property
    def collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def world_size() -> int:
    """Ranks in the process group (1 outside torchrun): a step sees ``batch_size * world_size()`` examples,
    which is what anything counted in images (weight-average half-lives, ADA's speed) must count."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def sum_over_ranks_(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over all ranks, in place (unchanged outside torchrun). Every rank must call it together."""
    if world_size() > 1:
        torch.distributed.all_reduce(t)
    return t


def launched_by_torchrun() -> bool:
    return all(v in os.environ for v in ("RANK", "WORLD_SIZE")) and int(os.environ["WORLD_SIZE"]) > 1


def from_environment(device: torch.device) -> tuple[DistributedContext, torch.device]:
    """Join the process group torchrun describes (if any); returns the context and this rank's device.

    On CUDA each rank takes ``cuda:LOCAL_RANK`` and NCCL; on CPU gloo. A single process returns
    ``(DistributedContext(), device)`` unchanged.
    """
    if not launched_by_torchrun():
        return DistributedContext(), device
    missing = [v for v in TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise UserError(f"distributed launch: environment variable {missing[0]} is not set: expected torchrun "
                        "to set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            error = UserError(f"distributed launch: LOCAL_RANK {local_rank} but this node has "
                              f"{torch.cuda.device_count()} CUDA GPUs: expected --nproc_per_node <= GPUs per node")
            error.every_rank = True  # only the ranks past the node's GPUs meet it: they say it themselves
            raise error
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        backend = "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, local_rank, backend), device


def slice_latent(latent: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a latent: a tensor, or a tuple/list/dict of tensors (e.g. cgan's ``(z, y)``)."""
    if isinstance(latent, torch.Tensor):
        return latent[start:stop]
    if isinstance(latent, (tuple, list)):
        return type(latent)(slice_latent(v, start, stop) for v in latent)
    if isinstance(latent, dict):
        return {k: slice_latent(v, start, stop) for k, v in latent.items()}
    raise TypeError(f"cannot split a latent of type {type(latent).__name__} between ranks")


class ShardedMinibatchSampler:
    """Each rank's part of the global minibatch: rank ``r`` of ``N`` keeps rows ``r*m:(r+1)*m`` of the
    ``N*m`` indices a single :class:`MinibatchSampler` with batch ``N*m`` draws (same seed on every rank).

    With ``N = 1`` it draws exactly what ``MinibatchSampler(data, labels, m, seed)`` draws.
    ``cursor`` (global examples drawn) is the whole state, as for the single-process sampler.
    """

    def __init__(self, data: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, memory_format: torch.memory_format | None = None,
                 condition: Callable[[torch.Tensor, int], Any] | None = None,
                 augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None):
        self.global_sampler = MinibatchSampler(data, labels, batch_size * world_size, seed)
        self.seed, self.condition = seed, condition  # the dataset's condition (SR pairs' inputs), or None
        self.augment = augment  # the dataset's augmentation of targets (SR pairs' flips), or None
        self.data, self.labels = data, labels
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.memory_format = memory_format

    @property
    def cursor(self) -> int:
        return self.global_sampler.cursor

    @cursor.setter
    def cursor(self, value: int) -> None:
        self.global_sampler.cursor = value

    def next_indices(self) -> torch.Tensor:
        """This rank's ``m`` rows of the next global minibatch of indices."""
        return self.global_sampler.next_indices()[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's minibatch: ``x (m, *example_shape)`` float in the model range; ``y (m,)`` or None.
        Only this rank's rows are gathered and converted (uint8 -> float happens per batch, on device)."""
        idx = self.next_indices()
        x = to_model_range(self.data.index_select(0, idx))
        if self.memory_format is not None and x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        y = self.labels.index_select(0, idx) if self.labels is not None else None
        return x, y

    def next_with_condition(self) -> tuple[torch.Tensor, torch.Tensor | None, Any]:
        """:meth:`next`, augmented by the dataset's augmentation (if any), plus the dataset's condition of the
        augmented minibatch (None without one); their randomness a pure function of the seed, the cursor and
        the rank (resumed runs draw the same)."""
        seed = condition_seed(self.seed, self.cursor, self.rank)
        x, y = self.next()
        if self.augment is not None:
            x = self.augment(x, seed)
            if self.memory_format is not None and x.dim() == 4:
                x = x.contiguous(memory_format=self.memory_format)
        if self.condition is None:
            return x, y, None
        return x, y, self.condition(x, seed)


class PhaseStep(nn.Module):
    """Makes a model's phases DDP's ``forward``: ``PhaseStep(model)(i, batch)`` returns phase ``i``'s
    ``(loss, logs)``. DDP needs the loss computed inside its own forward to hook up gradient averaging; the
    model itself (and its state dict) is unchanged, so checkpoints read the same with or without DDP."""

    def __init__(self, model: nn.Module, phases: list):
        super().__init__()
        self.model = model
        self.phases = phases

    def forward(self, phase_index: int, batch: Any):
        return self.phases[phase_index].loss(batch)


def wrap_ddp(model: nn.Module, phases: list, ctx: DistributedContext, device: torch.device) -> nn.Module:
    """DDP over the whole model. ``find_unused_parameters=True`` because each phase trains only its own
    parameters (D's while G is frozen, and the reverse): DDP must not wait for gradients that never come."""
    from torch.nn.parallel import DistributedDataParallel

    kwargs: dict[str, Any] = {"find_unused_parameters": True}
    if device.type == "cuda":
        kwargs.update(device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(PhaseStep(model, phases), **kwargs)


def parameter_checksums(model: nn.Module, ctx: DistributedContext) -> list[float]:
    """Every rank's float64 sum of ``sum(p * (1 + index))`` over the parameters, gathered on all ranks.

    Ranks in sync hold bitwise-equal parameters, hence equal checksums; any drift shows as a spread.
    """
    total = torch.zeros((), dtype=torch.float64, device=next(model.parameters()).device)
    for i, p in enumerate(model.parameters()):
        total += p.detach().double().sum() * (1 + i)
    if not ctx.enabled:
        return [float(total)]
    t = total.reshape(1).to(ctx.collective_device)
    out = [torch.zeros_like(t) for _ in range(ctx.world_size)]
    torch.distributed.all_gather(out, t)
    return [float(v) for v in out]
