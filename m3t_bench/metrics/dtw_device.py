"""Exact DTW with the frame-cost matrices computed by torch on any device (CUDA above all); the dynamic
programme and the backtracking stay on the CPU (:mod:`m3t_bench.metrics.dtw_core`).

Frame cost: the ``"l2"`` cost of :mod:`m3t_bench.metrics.dtw` (mean over the scored points of the Euclidean
distance after translating point ``root`` to the origin), in float32 on the device. The device sums the
points in its own order, so costs agree with the compiled CPU kernels within float32 rounding, not bit for
bit; every cell is computed (no pruning: on an accelerator the full matrix is cheaper than the bookkeeping).
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.metrics.dtw_core import backtrack, dtw_cost_matrix

#: Elements of the (rows, T2, points, 3) difference tensor per block of cost-matrix rows (~256 MB float32).
BLOCK_ELEMENTS = 1 << 26


def cost_matrix_on_device(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(T1, T2) float32 mean point distance between ``a`` (T1, P, 3) and ``b`` (T2, P, 3) on their device,
    a block of rows at a time (memory bounded by :data:`BLOCK_ELEMENTS`)."""
    rows = max(1, BLOCK_ELEMENTS // max(1, b.shape[0] * b.shape[1] * 3))
    return torch.cat([torch.linalg.vector_norm(a[i:i + rows, None] - b[None], dim=-1).mean(-1)
                      for i in range(0, a.shape[0], rows)])


def _aligned(points: np.ndarray, root: int, scored: np.ndarray, device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(points, dtype=np.float32), device=device)
    shifted = x - x[:, root:root + 1] if root >= 0 else x
    return shifted[:, torch.as_tensor(scored, device=device)]


def dtw_points_on_device(preds: list[np.ndarray], refs: list[np.ndarray], *, root: int, scored: np.ndarray,
                         device) -> tuple[np.ndarray, np.ndarray]:
    """``(costs (N,) float64, path lengths (N,) int64)`` of the exact DTW of each pair ``preds[k]`` (T1, P, 3),
    ``refs[k]`` (T2, P, 3) with the ``"l2"`` frame cost over the points ``scored`` after translating point
    ``root`` to the origin (-1: no translation); cost matrices on ``device``, the DP on the CPU.

    >>> import numpy as np
    >>> a = np.zeros((4, 2, 3), np.float32); b = a[:2] + np.float32(0.5)
    >>> costs, lengths = dtw_points_on_device([a], [b], root=-1, scored=np.arange(2), device="cpu")
    >>> costs.round(4).tolist(), lengths.tolist()                       # 4 path steps at sqrt(0.75) each
    ([3.4641], [4])
    """
    costs = np.empty(len(preds))
    lengths = np.empty(len(preds), dtype=np.int64)
    with torch.no_grad():
        for k, (p, r) in enumerate(zip(preds, refs)):
            matrix = cost_matrix_on_device(_aligned(p, root, scored, device), _aligned(r, root, scored, device))
            total, steps = dtw_cost_matrix(matrix.double().cpu().numpy())
            costs[k], lengths[k] = total, backtrack(steps).shape[0]
    return costs, lengths
