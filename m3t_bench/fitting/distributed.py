"""This process's place in a ``torchrun`` launch (rank-strided sharding of clips), or a single process.

``torchrun --nproc_per_node N $(which m3t-bench) fit ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` and the
rendezvous; every rank fits clips ``rank, rank + N, ...`` of the sorted clip list, then all meet at a barrier
and rank 0 merges. gloo on CPU, nccl on CUDA; no home-made launcher.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from m3t_bench.errors import UserError

#: How long ranks wait for each other at the final barrier (a corpus shard can take hours).
BARRIER_TIMEOUT = datetime.timedelta(hours=48)


@dataclass(frozen=True)
class Ranks:
    """``rank`` of ``world_size`` processes; ``local_rank`` picks the GPU on a node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's items: every ``world_size``-th one starting at ``rank``."""
        return items[self.rank::self.world_size]


def join(device: str) -> Ranks:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1), else a single-process run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo", timeout=BARRIER_TIMEOUT)
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(ranks: Ranks) -> None:
    if ranks.world_size > 1:
        dist.barrier()


def leave(ranks: Ranks) -> None:
    if ranks.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(device: str, ranks: Ranks) -> torch.device:
    """``cpu``, ``cuda`` (this rank's local GPU) or ``cuda:N``; UserError when CUDA is asked for but absent."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("CUDA requested but no GPU is visible to torch", field="--device")
        return torch.device(f"cuda:{ranks.local_rank}") if device == "cuda" else torch.device(device)
    if device != "cpu":
        raise UserError(f"unknown device {device!r}; expected cpu, cuda or cuda:N", field="--device")
    return torch.device("cpu")
