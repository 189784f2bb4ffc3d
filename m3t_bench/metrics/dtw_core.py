"""The dynamic-programming core of the exact DTW (numba kernels, no argument checks).

Recurrence (see :mod:`m3t_bench.metrics.dtw` for the definition and the tie-breaking rule): one row of the
accumulated cost at a time, each cell's choice of predecessor stored as ``DIAGONAL``, ``LEFT`` or ``UP``
and the path recovered by :func:`backtrack`. Frame costs are computed inside the kernels, a row segment
at a time (:func:`frame_costs`), so no ``(T1, T2, P)`` temporary exists:

- ``COST_L2``: mean over points of the Euclidean distance, float32 (points pre-aligned by the caller);
- ``COST_PROCRUSTES``: the per-cell similarity-Procrustes cost of :mod:`m3t_bench.metrics.procrustes`
  on frames centred on their centroids (float64).

:func:`dtw_full` computes every cell; :mod:`m3t_bench.metrics.dtw_pruning` skips the cells that cannot lie
on the optimal path with bit-identical results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from m3t_bench.metrics.procrustes import procrustes_costs

DIAGONAL, LEFT, UP = 0, 1, 2
COST_L2, COST_PROCRUSTES = 0, 1
COST_KINDS = {"l2": COST_L2, "procrustes": COST_PROCRUSTES}


@njit(cache=True, nogil=True)
def step(diag, left, up, c):
    """Accumulated cost and choice of one cell with frame cost ``c`` from its predecessors' accumulated
    costs (``inf`` for a missing one): candidates ``pred + c``, the first strictly smallest in the order
    diagonal, left, up wins. Branch-free so the per-row dependency chain runs at full speed."""
    via_diag = diag + c
    via_left = left + c
    via_up = up + c
    is_left = (via_left < via_diag) & (via_left <= via_up)
    is_up = (via_up < via_diag) & (via_up < via_left)
    return min(min(via_diag, via_up), via_left), np.int8(is_left) + np.int8(2) * np.int8(is_up)


@njit(cache=True, nogil=True)
def accumulate_row(i, cost_row, acc, steps):
    """Fill row ``i`` of the accumulated cost from frame costs ``cost_row`` (T2,) and store each cell's choice
    in ``steps[i]`` (see :func:`step`). ``acc`` (R, T2) float64 holds row ``i`` at ``i % R``: the whole matrix
    (R = T1) or the last two rows (R = 2), the previous row being at ``(i - 1) % R``."""
    n2 = cost_row.shape[0]
    n_rows = acc.shape[0]
    row, step_row = acc[i % n_rows], steps[i]
    if i == 0:
        row[0] = cost_row[0]
        step_row[0] = DIAGONAL
        for j in range(1, n2):
            row[j] = row[j - 1] + cost_row[j]
            step_row[j] = LEFT
        return
    above = acc[(i - 1) % n_rows]
    row[0] = above[0] + cost_row[0]
    step_row[0] = UP
    best = row[0]
    for j in range(1, n2):
        best, step_row[j] = step(above[j - 1], best, above[j], cost_row[j])
        row[j] = best


@njit(cache=True, nogil=True)
def backtrack(steps):
    """(L, 2) int64 warping path from (0, 0) to (T1-1, T2-1), following the stored choices backwards."""
    i, j = steps.shape[0] - 1, steps.shape[1] - 1
    reversed_path = np.empty((i + j + 1, 2), dtype=np.int64)
    length = 0
    while True:
        reversed_path[length, 0] = i
        reversed_path[length, 1] = j
        length += 1
        if i == 0 and j == 0:
            break
        s = steps[i, j]
        if s != LEFT:
            i -= 1
        if s != UP:
            j -= 1
    return reversed_path[:length][::-1].copy()


@njit(cache=True, nogil=True)
def dtw_cost_matrix(cost):
    n1, n2 = cost.shape
    acc = np.empty((n1, n2))
    steps = np.empty((n1, n2), dtype=np.int8)
    for i in range(n1):
        accumulate_row(i, cost[i], acc, steps)
    return acc[n1 - 1, n2 - 1], steps


@njit(cache=True, nogil=True)
def l2_costs(a, i, bt, sums, out, j0, j1):
    """``out[j]`` = mean over points p of ``||a[i, p] - b[j, p]||`` for the frames ``j0 <= j < j1``.
    ``a``: (T1, P, 3); ``bt``: (3, P, T2) float32 (b transposed so that the loop over j vectorises);
    ``sums``: (T2,) float32 scratch. Distances and their sum (over p in order) are float32, so a cost does
    not depend on which column range it was computed in."""
    n_points, n = bt.shape[1], j1 - j0
    partial = sums[j0:j1]              # zero-based loops over views: they vectorise, offset loops did not
    partial[:] = 0.0
    for p in range(n_points):
        ax, ay, az = np.float32(a[i, p, 0]), np.float32(a[i, p, 1]), np.float32(a[i, p, 2])
        bx, by, bz = bt[0, p, j0:j1], bt[1, p, j0:j1], bt[2, p, j0:j1]
        for k in range(n):
            dx = ax - bx[k]
            dy = ay - by[k]
            dz = az - bz[k]
            partial[k] += np.sqrt(dx * dx + dy * dy + dz * dz)
    for k in range(n):
        out[j0 + k] = np.float64(partial[k]) / n_points


@njit(cache=True, nogil=True)
def transposed(b):
    """(3, P, T) float32 copy of the (T, P, 3) array ``b``."""
    bt = np.empty((3, b.shape[1], b.shape[0]), dtype=np.float32)
    for j in range(b.shape[0]):
        for p in range(b.shape[1]):
            for u in range(3):
                bt[u, p, j] = b[j, p, u]
    return bt


@njit(cache=True, nogil=True)
def frame_costs(kind, x, y, sums, work, i, j0, j1, out):
    """``out[j]`` = frame cost ``kind`` between frame ``i`` of the first sequence and frames ``j0 <= j < j1``
    of the second. COST_L2: ``x`` (T1, P, 3) float32, ``y`` (3, P, T2) float32 (see :func:`transposed`),
    ``sums`` (T2,) float32 scratch; COST_PROCRUSTES: ``x`` (T1, P, 3), ``y`` (T2, P, 3) float64 centred
    frames, ``work`` (4, 4, 4) scratch. A cost never depends on the column range it was computed in."""
    if kind == COST_L2:
        l2_costs(x, i, y, sums, out, j0, j1)
    else:
        procrustes_costs(x, i, y, work, out, j0, j1)


@njit(cache=True, nogil=True)
def dtw_full(kind, x, y, sums, work, n1, n2):
    """Unpruned DTW of the (T1=n1, T2=n2) frame costs of :func:`frame_costs`: every cell is computed.
    Returns ``(cost, steps (T1, T2) int8)``."""
    row = np.empty(n2)
    acc = np.empty((2, n2))  # the last two rows: backtracking needs only ``steps``
    steps = np.empty((n1, n2), dtype=np.int8)
    for i in range(n1):
        frame_costs(kind, x, y, sums, work, i, 0, n2, row)
        accumulate_row(i, row, acc, steps)
    return acc[(n1 - 1) % 2, n2 - 1], steps


@njit(cache=True, nogil=True)
def selected(points, root, scored):
    """(T, S, 3) float32: ``points[:, scored]`` minus ``points[:, root]`` per frame (no shift if root < 0)."""
    out = np.empty((points.shape[0], scored.shape[0], 3), dtype=np.float32)
    for t in range(points.shape[0]):
        sx, sy, sz = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        if root >= 0:
            sx, sy, sz = points[t, root, 0], points[t, root, 1], points[t, root, 2]
        for k in range(scored.shape[0]):
            out[t, k, 0] = points[t, scored[k], 0] - sx
            out[t, k, 1] = points[t, scored[k], 1] - sy
            out[t, k, 2] = points[t, scored[k], 2] - sz
    return out
