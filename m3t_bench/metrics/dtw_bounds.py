"""Exact lower-bound pruning of the DTW for many-point frame costs (the face region's 5,023 vertices): the
exact mean point distance is computed only in cells that may still lie on the optimal path, with costs and
paths bit-identical to the unpruned DP (:func:`m3t_bench.metrics.dtw_core.dtw_full`).

The bound. The points are split into clusters (median bisection of the second sequence's first frame along
its widest axis, :func:`point_clusters`). For a cluster of n points, by the triangle inequality,
``sum_p ||x_p - y_p|| >= ||sum_p (x_p - y_p)|| = n ||mean(x) - mean(y)||``, so the cluster means give
``LB(i, j) = sum_c (n_c / P) ||mx_c(i) - my_c(j)||  <=  c(i, j)`` (the mean point distance), at C instead of
P distances per cell. The kernel's cost is a float32 sum over P points; its rounding error is at most
``(P + 16) 2^-24`` relative (subtraction, squares, sqrt: a few units each; sequential summation of P
non-negative terms: ``(P - 1) 2^-24``), so the bound used is ``LB_safe = max(0, LB (1 - 2 (P + 16) 2^-24) -
eps)`` with ``eps = 2^-40 * max |coordinate|`` absorbing the float64 error of the cluster means; hence
``LB_safe <= c~`` (the float32 cost the DP uses) in every cell.

The pruning (costs c~ >= 0; float addition rounded to nearest is monotone):
1. ``F(X)``: accumulated LB_safe from (0, 0) to X (the DP on LB_safe); ``B(X)``: the least LB_safe sum from
   X to the end, X excluded. Along every path a float sum of LB_safe is <= the float sum of c~ (termwise
   <=, monotone rounding), so ``F <= D`` (the exact DP value) everywhere; for a cell X of the optimal path
   P*, ``F(X) + B(X)`` is at most the LB_safe sum along P*, which is at least ``2 (P + 16) 2^-24`` relatively
   below the c~ sum along P* = the DTW cost D* (float64 summation error, ~1e-13 relative, is far smaller).
2. ``UB``: the c~ sum along the LB-optimal path, accumulated in path order as the DP accumulates: D* <= UB.
3. Kept cells: ``F + B <= UB (1 + 1e-9)``; they include P*. Per row, the exact cost is computed over the
   span from the first to the last kept cell; every other cell gets cost +inf.
4. The DP on these costs gives values D' >= D (only costs grew). On P*, by induction from (0, 0), D' = D and
   each cell keeps its choice: its chosen predecessor on P* has its old value, the other candidates can only
   have grown, and the first strictly smallest candidate in the order diagonal, left, up stays first (see
   :mod:`m3t_bench.metrics.dtw_pruning`, point 3). The backtracked path is P* and the cost D*, bit for bit.
If UB is not finite (overflowing coordinates), the unpruned DP runs instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from m3t_bench.metrics.dtw_core import COST_L2, accumulate_row, backtrack, dtw_full, transposed

#: Point clusters of the lower bound: LB costs CLUSTERS / P of the exact cost per cell.
CLUSTERS = 64
#: Frame costs over at least this many points use the lower-bound pruning (``prune=True``).
MIN_POINTS = 256
PRUNE_MARGIN = 1e-9
#: Columns either side of the LB path whose exact costs are computed with it (nearly free, usually kept).
BAND = 2
_UNIT = 2.0 ** -24
_ABSOLUTE = 2.0 ** -40


@njit(cache=True, nogil=True)
def point_clusters(frame, n_clusters):
    """(P,) int64 cluster label of each point of ``frame`` (P, 3): recursive median bisection along the widest
    axis into ``min(n_clusters, P)`` clusters (sizes differ by at most one per split)."""
    n_points = frame.shape[0]
    labels = np.zeros(n_points, dtype=np.int64)
    order = np.arange(n_points)
    # stack of (start, end, clusters) over ``order``
    stack = np.empty((2 * n_clusters + 2, 3), dtype=np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2] = 0, n_points, min(n_clusters, n_points)
    top, label = 1, 0
    while top > 0:
        top -= 1
        start, end, k = stack[top, 0], stack[top, 1], stack[top, 2]
        if k <= 1:
            for q in range(start, end):
                labels[order[q]] = label
            label += 1
            continue
        members = order[start:end].copy()
        widest, axis = -1.0, 0
        for u in range(3):
            extent = frame[members, u].max() - frame[members, u].min()
            if extent > widest:
                widest, axis = extent, u
        order[start:end] = members[np.argsort(frame[members, axis], kind="mergesort")]
        left = k // 2
        middle = start + (end - start) * left // k
        stack[top, 0], stack[top, 1], stack[top, 2] = middle, end, k - left
        stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = start, middle, left
        top += 2
    return labels


@njit(cache=True, nogil=True)
def _cluster_means(x, labels, n_clusters):
    """``(means (C, 3, T) float64, weights (C,) = n_c / P, max |coordinate|)`` of the frames of ``x`` (T, P, 3)
    for the cluster ``labels`` (P,)."""
    n_frames, n_points = x.shape[0], x.shape[1]
    counts = np.zeros(n_clusters)
    for p in range(n_points):
        counts[labels[p]] += 1.0
    sums = np.zeros((n_clusters, 3))
    means = np.empty((n_clusters, 3, n_frames))
    largest = np.float32(0.0)
    for t in range(n_frames):
        sums[:] = 0.0
        for p in range(n_points):
            c = labels[p]
            vx, vy, vz = x[t, p, 0], x[t, p, 1], x[t, p, 2]
            sums[c, 0] += vx
            sums[c, 1] += vy
            sums[c, 2] += vz
            largest = max(largest, abs(vx), abs(vy), abs(vz))
        for c in range(n_clusters):
            for u in range(3):
                means[c, u, t] = sums[c, u] / max(counts[c], 1.0)
    return means, counts / n_points, np.float64(largest)


@njit(cache=True, nogil=True)
def _lower_bounds(mx, my, weights, shrink, eps, out):
    """``out[i, j]`` = LB_safe (see the module doc) from cluster means ``mx`` (C, 3, T1), ``my`` (C, 3, T2)."""
    n1, n2 = out.shape
    for i in range(n1):
        row = out[i]
        row[:] = 0.0
        for c in range(mx.shape[0]):
            w = weights[c]
            if w == 0.0:
                continue
            ax, ay, az = mx[c, 0, i], mx[c, 1, i], mx[c, 2, i]
            bx, by, bz = my[c, 0], my[c, 1], my[c, 2]
            for j in range(n2):
                dx = ax - bx[j]
                dy = ay - by[j]
                dz = az - bz[j]
                row[j] += w * np.sqrt(dx * dx + dy * dy + dz * dz)
        for j in range(n2):
            row[j] = max(row[j] * shrink - eps, 0.0)


@njit(cache=True, nogil=True)
def lower_bounds(x, y, n_clusters):
    """(T1, T2) float64 LB_safe (module doc) between ``x`` (T1, P, 3) and ``y`` (T2, P, 3) float32, with
    ``n_clusters`` clusters of ``y``'s first frame."""
    labels = point_clusters(y[0].astype(np.float64), n_clusters)
    mx, weights, largest_x = _cluster_means(x, labels, labels.max() + 1)
    my, _, largest_y = _cluster_means(y, labels, labels.max() + 1)
    out = np.empty((x.shape[0], y.shape[0]))
    _lower_bounds(mx, my, weights, 1.0 - 2.0 * (x.shape[1] + 16) * _UNIT, _ABSOLUTE * max(largest_x, largest_y), out)
    return out


@njit(cache=True, nogil=True)
def _cost_to_go(lower):
    """(T1, T2) float64: the least sum of ``lower`` over the cells after X on a warping path from X to the
    last cell (X itself excluded; 0 at the last cell)."""
    n1, n2 = lower.shape
    out = np.empty((n1, n2))
    for i in range(n1 - 1, -1, -1):
        for j in range(n2 - 1, -1, -1):
            best = np.inf
            if i + 1 < n1 and j + 1 < n2:
                best = lower[i + 1, j + 1] + out[i + 1, j + 1]
            if j + 1 < n2:
                best = min(best, lower[i, j + 1] + out[i, j + 1])
            if i + 1 < n1:
                best = min(best, lower[i + 1, j] + out[i + 1, j])
            out[i, j] = best if (i + 1 < n1 or j + 1 < n2) else 0.0
    return out


@njit(cache=True, nogil=True)
def _l2_cells(x, i, y, out, j0, j1):
    """``out[j]`` for ``j0 <= j < j1``: the float32 cost of :func:`m3t_bench.metrics.dtw_core.l2_costs`, with
    the same operations in the same order (so the same bits), on ``y`` (T2, P, 3): each cell reads its frame
    as one contiguous stream (the transposed layout touches a cache line per point and cell), four cells at a
    time in scalar accumulators (independent dependency chains)."""
    n_points = y.shape[1]
    j = j0
    while j + 4 <= j1:
        s0 = s1 = s2 = s3 = np.float32(0.0)
        for p in range(n_points):
            ax, ay, az = np.float32(x[i, p, 0]), np.float32(x[i, p, 1]), np.float32(x[i, p, 2])
            dx, dy, dz = ax - y[j, p, 0], ay - y[j, p, 1], az - y[j, p, 2]
            s0 += np.sqrt(dx * dx + dy * dy + dz * dz)
            dx, dy, dz = ax - y[j + 1, p, 0], ay - y[j + 1, p, 1], az - y[j + 1, p, 2]
            s1 += np.sqrt(dx * dx + dy * dy + dz * dz)
            dx, dy, dz = ax - y[j + 2, p, 0], ay - y[j + 2, p, 1], az - y[j + 2, p, 2]
            s2 += np.sqrt(dx * dx + dy * dy + dz * dz)
            dx, dy, dz = ax - y[j + 3, p, 0], ay - y[j + 3, p, 1], az - y[j + 3, p, 2]
            s3 += np.sqrt(dx * dx + dy * dy + dz * dz)
        out[j], out[j + 1] = np.float64(s0) / n_points, np.float64(s1) / n_points
        out[j + 2], out[j + 3] = np.float64(s2) / n_points, np.float64(s3) / n_points
        j += 4
    while j < j1:
        s0 = np.float32(0.0)
        for p in range(n_points):
            dx = np.float32(x[i, p, 0]) - y[j, p, 0]
            dy = np.float32(x[i, p, 1]) - y[j, p, 1]
            dz = np.float32(x[i, p, 2]) - y[j, p, 2]
            s0 += np.sqrt(dx * dx + dy * dy + dz * dz)
        out[j] = np.float64(s0) / n_points
        j += 1


@njit(cache=True, nogil=True)
def _band_costs(x, y, path, costs, band):
    """Exact costs in a band around ``path`` (L, 2): per row, the path's cells and ``BAND`` columns either
    side (``band[i]``: first and last column), written into ``costs`` (T1, T2). Several cells per call share
    the row's pass over the points, so the band costs little more than the path. Returns the exact cost of
    the path, accumulated in path order (the DP's float64 additions)."""
    n2 = costs.shape[1]
    k = 0
    while k < path.shape[0]:
        i, last = path[k, 0], k
        while last + 1 < path.shape[0] and path[last + 1, 0] == i:
            last += 1
        band[i, 0], band[i, 1] = max(path[k, 1] - BAND, 0), min(path[last, 1] + BAND, n2 - 1)
        _l2_cells(x, i, y, costs[i], band[i, 0], band[i, 1] + 1)
        k = last + 1
    total = 0.0
    for k in range(path.shape[0]):
        total += costs[path[k, 0], path[k, 1]]
    return total


@njit(cache=True, nogil=True)
def dtw_lower_bounded(x, y, n_clusters):
    """DTW with the mean point distance between ``x`` (T1, P, 3) and ``y`` (T2, P, 3) float32, computing exact
    costs only in the kept cells (module doc). Returns ``(cost, steps (T1, T2) int8, exact frame costs computed)``,
    bit-identical in cost and path to ``dtw_full(COST_L2, ...)``."""
    n1, n2 = x.shape[0], y.shape[0]
    costs = lower_bounds(x, y, n_clusters)
    acc = np.empty((n1, n2))
    steps = np.empty((n1, n2), dtype=np.int8)
    for i in range(n1):
        accumulate_row(i, costs[i], acc, steps)
    later = _cost_to_go(costs)
    lb_path = backtrack(steps)
    band = np.empty((n1, 2), dtype=np.int64)
    upper = _band_costs(x, y, lb_path, costs, band)     # the LB values are no longer needed
    n_cells = np.sum(band[:, 1] - band[:, 0] + 1)
    bound = upper * (1.0 + PRUNE_MARGIN)
    if not np.isfinite(bound):
        cost, steps = dtw_full(COST_L2, x, transposed(y), np.empty(n2, dtype=np.float32),
                               np.zeros((4, 4, 4)), n1, n2)
        return cost, steps, n_cells + n1 * n2
    for i in range(n1):
        first, last = band[i, 0], band[i, 1]         # the LB path's cells are kept (module doc)
        for j in range(n2):
            if acc[i, j] + later[i, j] <= bound:
                first = min(first, j)
                break
        for j in range(n2 - 1, -1, -1):
            if acc[i, j] + later[i, j] <= bound:
                last = max(last, j)
                break
        row = costs[i]
        _l2_cells(x, i, y, row, first, band[i, 0])
        _l2_cells(x, i, y, row, band[i, 1] + 1, last + 1)
        n_cells += last - first - (band[i, 1] - band[i, 0])
        row[:first] = np.inf
        row[last + 1:] = np.inf
        accumulate_row(i, row, acc, steps)
    return acc[n1 - 1, n2 - 1], steps, n_cells


def lower_bound_matrix(a: np.ndarray, b: np.ndarray, n_clusters: int = CLUSTERS) -> np.ndarray:
    """(T1, T2) float64: the lower bound LB_safe the pruning uses (module doc) between ``a`` (T1, P, 3) and
    ``b`` (T2, P, 3), clusters from ``b``'s first frame; never above
    :func:`m3t_bench.metrics.dtw.frame_cost_matrix` (``"l2"``) in any cell.

    >>> import numpy as np
    >>> a = np.zeros((1, 4, 3), np.float32); b = a + np.float32(1.0)     # every point sqrt(3) away
    >>> lower_bound_matrix(a, b).round(4).tolist()
    [[1.732]]
    """
    return lower_bounds(np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32),
                        n_clusters)
