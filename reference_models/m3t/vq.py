"""Learned-codebook vector quantizer with EMA updates and dead-code reset: the VQ-VAE ablation of the
M3T tokenizers (paper Table 3), in the style of the T2M-GPT / MotionGPT / SOKE motion VQ-VAEs.

* The codebook (``codebook_size`` vectors of width ``dim``) is initialised from the first training batch's
  encoder outputs (random rows; tiled with small noise when the batch has fewer rows than codes).
* Each training step moves code ``k`` to ``ema_sum_k / ema_count_k``, the exponential moving averages
  (decay ``decay``) of the sum and number of encoder outputs assigned to it.
* A code whose EMA count drops below ``dead_threshold`` is replaced by a random current encoder output.
* The loss is ``commitment_weight * mean((z - sg(code))^2)``; codes pass gradients straight through.

Random choices use the module's own seeded ``torch.Generator``. Under ``torch.distributed`` the EMA
statistics are summed over processes and initialisation/reset are decided on rank 0 and broadcast, so all
replicas keep the same codebook (drawn from rank 0's share of the batch: unlike FSQ, a VQ run under DDP is
not the single-process run to floating-point accuracy).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class EMAVectorQuantizer(nn.Module):
    """``EMAVectorQuantizer(codebook_size, dim)(z)`` with ``z (..., dim)`` returns
    ``(codes (..., dim), indices (...,) int64, commitment_loss ())``."""

    def __init__(self, codebook_size: int, dim: int, *, decay: float = 0.99, dead_threshold: float = 1.0,
                 commitment_weight: float = 0.02, seed: int = 0, eps: float = 1e-5):
        super().__init__()
        self.codebook_size, self.dim = int(codebook_size), int(dim)
        self.decay, self.dead_threshold, self.eps = float(decay), float(dead_threshold), float(eps)
        self.commitment_weight = float(commitment_weight)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.register_buffer("codebook", torch.zeros(codebook_size, dim))
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", torch.zeros(codebook_size, dim))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}, dim={self.dim}, decay={self.decay}"

    def _random_rows(self, flat: Tensor, n: int) -> Tensor:
        """``n`` rows drawn from ``flat (N, dim)`` (with replacement, plus tiny noise when N < n)."""
        pick = torch.randint(flat.shape[0], (n,), generator=self.generator).to(flat.device)
        rows = flat[pick]
        if flat.shape[0] < n:
            noise = torch.randn(rows.shape, generator=self.generator).to(flat.device)
            rows = rows + noise * (0.01 / max(self.dim, 1) ** 0.5)
        return rows

    @torch.no_grad()
    def _broadcast_state(self) -> None:
        if _distributed():
            for buf in (self.codebook, self.ema_sum, self.ema_count):
                dist.broadcast(buf, src=0)

    @torch.no_grad()
    def _initialise(self, flat: Tensor) -> None:
        self.codebook.copy_(self._random_rows(flat, self.codebook_size))
        self.ema_sum.copy_(self.codebook)
        self.ema_count.fill_(1.0)
        self._broadcast_state()
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, indices: Tensor) -> None:
        counts = torch.bincount(indices, minlength=self.codebook_size).to(flat.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, indices, flat)
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp_min(self.eps)[:, None])
        dead = self.ema_count < self.dead_threshold
        if bool(dead.any()):
            replacement = self._random_rows(flat, self.codebook_size)
            self.codebook[dead] = replacement[dead]
            self.ema_sum[dead] = replacement[dead] * self.ema_count[dead, None]
            self._broadcast_state()

    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the nearest code (squared Euclidean) for each row of ``flat (N, dim)`` -> ``(N,)`` int64."""
        dist2 = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t()
                 + self.codebook.pow(2).sum(1)[None, :])
        return dist2.argmin(dim=1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if z.shape[-1] != self.dim:
            raise ValueError(f"VQ expects a last axis of size {self.dim}, got shape {tuple(z.shape)}")
        with torch.autocast(device_type=z.device.type, enabled=False):
            flat = z.detach().float().reshape(-1, self.dim)
            if self.training and not bool(self.initialised):
                self._initialise(flat)
            indices = self.nearest(flat)
            codes = self.codebook[indices].reshape(z.shape)  # before this step's update
            if self.training:
                self._ema_update(flat, indices)
            loss = self.commitment_weight * F.mse_loss(z.float(), codes)
        codes_ste = z + (codes.to(z.dtype) - z).detach()
        return codes_ste, indices.reshape(z.shape[:-1]), loss

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Indices ``(...,)`` in ``[0, codebook_size)`` -> code vectors ``(..., dim)``."""
        indices = torch.as_tensor(indices, device=self.codebook.device).long()
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            raise ValueError(f"VQ index out of range [0, {self.codebook_size})")
        return self.codebook[indices]

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """Code vectors ``(..., dim)`` -> nearest-code indices ``(...,)``."""
        return self.nearest(codes.float().reshape(-1, self.dim)).reshape(codes.shape[:-1])
