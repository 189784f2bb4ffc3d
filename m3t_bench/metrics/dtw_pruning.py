"""Exact pruning of the DTW: cells that cannot lie on the optimal path are never computed, with costs and
paths bit-identical to the unpruned DP (:func:`m3t_bench.metrics.dtw_core.dtw_full`).

The public switch is ``prune=`` of :func:`m3t_bench.metrics.dtw.dtw` and
:func:`m3t_bench.metrics.dtw.dtw_points_many` (default on; ``prune=False`` runs the unpruned reference DP,
which tests and ``make bench`` compare against). :func:`reference_path_cost` exposes the upper bound the
pruning starts from, :func:`reference_path_columns` the path it is the cost of. The argument follows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from m3t_bench.metrics.dtw_core import COST_KINDS, COST_L2, DIAGONAL, dtw_full, frame_costs, step, transposed
from m3t_bench.metrics.procrustes import centred

# PrunedDTW (after Silva & Batista, 2016). UB is the cost of one valid warping path (the reference path
# along the rectangle's diagonal), accumulated exactly as the DP accumulates it: same float32 frame costs
# (same function, same per-point order), float64 sums ``D_next = D_prev + c`` in path order. A cell is
# *alive* when its accumulated cost D <= bound = UB * (1 + 1e-9); only alive cells and their possible
# successors are computed, row by row, over one contiguous column range.
#
# Why the cost and the path are bit-identical to the unpruned DP (costs c >= 0; float addition rounded to
# nearest is monotone, and fl(D + c) >= D):
# 1. D never decreases along a warping path, and the DP value of each cell on the reference path is <= the
#    partial sum of that path up to it, so D[T1-1, T2-1] <= UB <= bound, and every cell on the backtracked
#    path and every chosen predecessor has D <= D[T1-1, T2-1] <= bound: alive.
# 2. Pruned values D' (uncomputed cells read as +inf) satisfy D' >= D, by induction in DP order (candidates
#    are monotone in the predecessor values). Hence D' <= bound implies D <= bound.
# 3. For an alive cell X, its chosen predecessor p* is alive, so (induction) p* was computed with D'[p*] =
#    D[p*]; the other candidates can only have grown. p* was the first strictly smallest candidate in the
#    order diagonal, left, up; it still is (earlier ones stay strictly larger, later ones larger or equal),
#    so X gets the same value and the same choice. The margin of 1e-9 is belt and braces: 1. holds exactly.
# 4. Every alive cell is computed: in row i, the first alive cell's predecessor is diagonal or up (a left
#    predecessor would be alive and further left), so it lies at or right of the first alive column f of
#    row i-1; cells up to l+1 (l = last alive column of row i-1) can have a live diagonal or up predecessor;
#    beyond, only left moves from an alive cell can reach an alive cell, so the row continues while the
#    cell to the left is alive. Cells outside the computed range are dead and never read as anything but
#    +inf, and backtracking only visits alive cells (1.), so uncomputed ``acc``/``steps`` are never read.
# If UB is not finite, or a row has no alive cell (impossible by 1.), the unpruned DP runs instead.
PRUNE_MARGIN = 1e-9
L2_MAX_CHUNK = 32     # most columns of l2 frame costs computed at once when a row continues by left moves


@njit(cache=True, nogil=True)
def reference_path_columns(n1, n2):
    """(T1, 2) int64: the first and last column, per row, of the reference warping path (row i ends at
    column round(i (T2-1) / (T1-1)); each row starts one diagonal step after the previous row's end, or
    below it if the end did not move)."""
    columns = np.empty((n1, 2), dtype=np.int64)
    previous_end = -1
    for i in range(n1):
        end = n2 - 1 if n1 == 1 else (2 * i * (n2 - 1) + (n1 - 1)) // (2 * (n1 - 1))
        columns[i, 0] = min(previous_end + 1, end)
        columns[i, 1] = end
        previous_end = end
    return columns


@njit(cache=True, nogil=True)
def reference_path_rows(kind, x, i0, y, sums, work, columns, costs, total):
    """Add the reference-path cells of rows ``i0 .. i0 + len(x) - 1`` (``x`` holds those frames; ``columns``
    from :func:`reference_path_columns`) to ``total`` in path order: the accumulated cost UB of the block
    above when run over every row. Returns ``(total, frame costs computed)``; ``costs`` (T2,) float64 scratch."""
    n_cells = 0
    for k in range(x.shape[0]):
        i = i0 + k
        j0, j1 = columns[i, 0], columns[i, 1] + 1
        frame_costs(kind, x, y, sums, work, k, j0, j1, costs)
        for j in range(j0, j1):
            total += costs[j]
        n_cells += j1 - j0
    return total, n_cells


@njit(cache=True, nogil=True)
def _continue_left(kind, x, y, sums, work, i, j, best, bound, max_chunk, costs, row, step_row):
    """Extend row ``i`` from column ``j`` by left moves while the cell to the left (accumulated cost
    ``best``) is alive; frame costs come 1, 2, 4, ... (at most ``max_chunk``) columns at a time. Returns
    ``(last column computed, frame costs computed)``."""
    n2 = row.shape[0]
    n_cells = 0
    chunk = 1
    while j < n2 and best <= bound:
        j1 = min(j + chunk, n2)
        frame_costs(kind, x, y, sums, work, i, j, j1, costs)
        n_cells += j1 - j
        chunk = min(2 * chunk, max_chunk)
        while j < j1 and best <= bound:
            best, step_row[j] = step(np.inf, best, np.inf, costs[j])
            row[j] = best
            j += 1
    return j - 1, n_cells


@njit(cache=True, nogil=True)
def _alive_span(row, j0, j1, bound):
    """First and last column ``j0 <= j <= j1`` with ``row[j] <= bound``; ``(-1, -1)`` if there is none."""
    first = j0
    while first <= j1 and not row[first] <= bound:
        first += 1
    if first > j1:
        return -1, -1
    last = j1
    while not row[last] <= bound:
        last -= 1
    return first, last


@njit(cache=True, nogil=True)
def pruned_rows(kind, x, i0, y, sums, work, n2, bound, max_chunk, costs, rows, steps, span):
    """Rows ``i0 .. i0 + len(x) - 1`` of the pruned DP (``x`` holds those frames; rows come in order, from 0):
    accumulated costs in ``rows[i % 2]`` (2, T2), choices in ``steps[i]``, and the previous row's computed
    range and alive span carried in ``span`` = (lo, hi, first, last) int64. Returns ``(frame costs computed,
    ok)``; ``ok`` is False when a row has no alive cell (the caller then runs the full DP)."""
    lo, hi, first, last = span[0], span[1], span[2], span[3]
    n_cells = 0
    for k in range(x.shape[0]):
        i = i0 + k
        row, step_row = rows[i % 2], steps[i]
        if i == 0:
            # row 0: (0, 0) then left moves; alive columns form a prefix since D grows along the row
            frame_costs(kind, x, y, sums, work, k, 0, 1, costs)
            row[0] = costs[0]
            step_row[0] = DIAGONAL
            hi, added = _continue_left(kind, x, y, sums, work, k, 1, row[0], bound, max_chunk, costs, row, step_row)
            n_cells += 1 + added
            lo, first = 0, 0
            last = hi if row[hi] <= bound else hi - 1
            continue
        above = rows[(i - 1) % 2]
        start, end = first, min(last + 1, n2 - 1)
        frame_costs(kind, x, y, sums, work, k, start, end + 1, costs)
        n_cells += end - start + 1
        diag = above[start - 1] if start - 1 >= lo else np.inf
        best, step_row[start] = step(diag, np.inf, above[start], costs[start])
        row[start] = best
        for j in range(start + 1, min(end, hi) + 1):
            best, step_row[j] = step(above[j - 1], best, above[j], costs[j])
            row[j] = best
        if end > hi:                                         # (i-1, end) lies right of the previous range
            best, step_row[end] = step(above[end - 1], best, np.inf, costs[end])
            row[end] = best
        lo, hi = start, end
        first, last = _alive_span(row, start, end, bound)
        if first < 0:
            return n_cells, False
        if last == end:
            hi, added = _continue_left(kind, x, y, sums, work, k, end + 1, best, bound, max_chunk, costs, row,
                                       step_row)
            n_cells += added
            last = hi if row[hi] <= bound else hi - 1
    span[0], span[1], span[2], span[3] = lo, hi, first, last
    return n_cells, True


@njit(cache=True, nogil=True)
def dtw_pruned(kind, x, y, sums, work, n1, n2):
    """Same result as :func:`m3t_bench.metrics.dtw_core.dtw_full` (bit for bit, see the block above), computing
    only the cells that can lie on the optimal path. Returns ``(cost, steps (T1, T2) int8, frame costs
    computed)``; ``steps`` holds garbage outside the computed cells, which backtracking never visits."""
    costs = np.empty(n2)
    upper, n_cells = reference_path_rows(kind, x, 0, y, sums, work, reference_path_columns(n1, n2), costs, 0.0)
    bound = upper * (1.0 + PRUNE_MARGIN)
    if np.isfinite(bound):
        rows = np.empty((2, n2))
        steps = np.empty((n1, n2), dtype=np.int8)
        span = np.zeros(4, dtype=np.int64)
        added, ok = pruned_rows(kind, x, 0, y, sums, work, n2, bound, L2_MAX_CHUNK if kind == COST_L2 else 1,
                                costs, rows, steps, span)
        n_cells += added
        if ok and span[3] == n2 - 1:
            return rows[(n1 - 1) % 2, n2 - 1], steps, n_cells
    cost, steps = dtw_full(kind, x, y, sums, work, n1, n2)
    return cost, steps, n_cells + n1 * n2


def reference_path_cost(a: np.ndarray, b: np.ndarray, kind: str = "l2") -> float:
    """The pruning's upper bound UB: the DTW cost along the reference path of :func:`reference_path_columns`
    between ``a`` (T1, P, 3) and ``b`` (T2, P, 3) with frame cost ``kind`` (``"l2"`` on the points as given,
    ``"procrustes"``), accumulated exactly as the DP accumulates it. Never below the exact DTW cost.

    >>> import numpy as np
    >>> a = np.zeros((3, 2, 3), np.float32); b = np.ones((2, 2, 3), np.float32)
    >>> round(reference_path_cost(a, b), 4)        # 3 cells on the path, each sqrt(3) apart
    5.1962
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if COST_KINDS[kind] == COST_L2:
        x, y = a, transposed(b)
    else:
        x, y = centred(a), centred(b)
    sums, work, costs = np.empty(len(b), np.float32), np.zeros((4, 4, 4)), np.empty(len(b))
    columns = reference_path_columns(len(a), len(b))
    return float(reference_path_rows(COST_KINDS[kind], x, 0, y, sums, work, columns, costs, 0.0)[0])
