"""This process's place in a ``torchrun`` launch, or a single-process run (shared by the tokenizer training and
the keypoint fitting: multi-GPU only through ``torchrun``/DDP, never a home-made launcher).

``torchrun --nproc_per_node N $(which m3t-bench) ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` and the
rendezvous; gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from m3t_bench.errors import UserError


@dataclass(frozen=True)
class Distributed:
    """``rank`` of ``world_size`` processes; ``local_rank`` picks the GPU on a node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's share of ``items``: every ``world_size``-th one starting at ``rank``."""
        return items[self.rank::self.world_size]


def init_distributed(device: str, *, timeout: datetime.timedelta | None = None) -> Distributed:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1), or a single-process run;
    ``timeout`` bounds collective waits (torch's default when ``None``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, **({} if timeout is None else {"timeout": timeout}))
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def barrier(ddp: Distributed) -> None:
    """Wait for every rank (no-op in a single process)."""
    if ddp.world_size > 1:
        dist.barrier()


def leave(ddp: Distributed) -> None:
    """Leave the process group (no-op in a single process)."""
    if ddp.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(device: str, ddp: Distributed) -> torch.device:
    """``cpu``, ``cuda`` (this process's local GPU under torchrun) or ``cuda:N``."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("CUDA requested but no GPU is visible to torch", field="--device")
        return torch.device(f"cuda:{ddp.local_rank}") if device == "cuda" else torch.device(device)
    if device != "cpu":
        raise UserError(f"unknown device {device!r}; expected cpu, cuda or cuda:N", field="--device")
    return torch.device("cpu")


def distributed_setup(device: str, batch_size: int) -> tuple[Distributed, torch.device]:
    """This process's place in the run and its device; :class:`UserError` when the global ``batch_size``
    (samples per optimiser step over all processes) does not split evenly over the processes."""
    ddp = init_distributed(device)
    dev = resolve_device(device, ddp)
    if batch_size % ddp.world_size:
        raise UserError(f"batch size {batch_size} is not divisible by the {ddp.world_size} processes",
                        field="--batch-size")
    return ddp, dev
