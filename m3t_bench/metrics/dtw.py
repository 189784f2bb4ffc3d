"""Exact dynamic time warping (DTW), compiled with numba.

Definition (the symmetric step pattern of SOKE's and Progressive Transformers' exact DTW, and of
dtw-python's ``symmetric1``): with a frame cost ``c[i, j] >= 0`` between frame ``i`` of the first
sequence (length ``T1``) and frame ``j`` of the second (``T2``),

    D[0, 0] = c[0, 0]
    D[i, j] = c[i, j] + min(D[i-1, j-1], D[i, j-1], D[i-1, j])      (missing predecessors are skipped)

and the DTW cost is ``D[T1-1, T2-1]``: the *sum* of frame costs along the optimal warping path (each step,
diagonal or not, has weight 1). Costs accumulate in float64.

Tie-breaking (deterministic, identical to dtw-python): at each cell the predecessor is the first one, in the
order diagonal ``(i-1, j-1)``, left ``(i, j-1)``, up ``(i-1, j)``, whose candidate ``D[pred] + c[i, j]`` is
strictly smallest. The path is recovered by backtracking the stored choices from ``(T1-1, T2-1)``.

Frame costs computed inside the kernels (no ``(T1, T2, P)`` temporaries):

- ``"l2"``: mean over points of the Euclidean distance between two frames of ``P`` 3-D points, computed in
  float32 (points are pre-aligned by the caller);
- ``"procrustes"``: the same mean distance after the best similarity transform (rotation, uniform scale,
  translation; proper rotation, i.e. reflection excluded) of the first frame onto the second, fitted per
  cell in float64 by Horn's quaternion method (largest eigenvalue of the 4×4 key matrix found by Newton's
  method on its characteristic polynomial, eigenvector from the adjugate; ``numpy.linalg.eigh`` fallback
  when the eigenvalue is nearly repeated).

Pairs of sequences run in parallel over cores (``numba.prange``); each pair is computed independently by
the same sequential code, so results do not depend on the number of threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from m3t_bench.errors import UserError

DIAGONAL, LEFT, UP = 0, 1, 2
COST_L2, COST_PROCRUSTES = 0, 1
COST_KINDS = {"l2": COST_L2, "procrustes": COST_PROCRUSTES}
PAIRS_PER_CHUNK = 64


@dataclass(frozen=True)
class DTWResult:
    """``cost``: the DTW cost (sum of frame costs along the path, float64); ``path``: ``(L, 2)`` int64
    array of ``(i, j)`` index pairs from ``(0, 0)`` to ``(T1-1, T2-1)``."""

    cost: float
    path: np.ndarray


# ---------------------------------------------------------------------------------------------- DP core
@njit(cache=True, nogil=True)
def _step(diag, left, up, c):
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
def _accumulate_row(i, cost_row, acc, steps):
    """Fill row ``i`` of the accumulated cost ``acc`` (T1, T2) float64 from frame costs ``cost_row`` (T2,)
    and store each cell's choice in ``steps`` (see :func:`_step`)."""
    n2 = cost_row.shape[0]
    row, step_row = acc[i], steps[i]
    if i == 0:
        row[0] = cost_row[0]
        step_row[0] = DIAGONAL
        for j in range(1, n2):
            row[j] = row[j - 1] + cost_row[j]
            step_row[j] = LEFT
        return
    above = acc[i - 1]
    row[0] = above[0] + cost_row[0]
    step_row[0] = UP
    best = row[0]
    for j in range(1, n2):
        best, step_row[j] = _step(above[j - 1], best, above[j], cost_row[j])
        row[j] = best


@njit(cache=True, nogil=True)
def _backtrack(steps):
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
def _dtw_cost_matrix(cost):
    n1, n2 = cost.shape
    acc = np.empty((n1, n2))
    steps = np.empty((n1, n2), dtype=np.int8)
    for i in range(n1):
        _accumulate_row(i, cost[i], acc, steps)
    return acc[n1 - 1, n2 - 1], steps


# ------------------------------------------------------------------------------------- frame costs
@njit(cache=True, nogil=True)
def _l2_costs(a, i, bt, sums, out, j0, j1):
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
def _det3(a, b, c, d, e, f, g, h, k):
    return a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g)


@njit(cache=True, nogil=True)
def _adjugate4(m, out):
    """Write the adjugate of the 4x4 matrix ``m`` into ``out`` (Laplace expansion over 2x2 minors) and
    return the determinant."""
    s0 = m[0, 0] * m[1, 1] - m[1, 0] * m[0, 1]
    s1 = m[0, 0] * m[1, 2] - m[1, 0] * m[0, 2]
    s2 = m[0, 0] * m[1, 3] - m[1, 0] * m[0, 3]
    s3 = m[0, 1] * m[1, 2] - m[1, 1] * m[0, 2]
    s4 = m[0, 1] * m[1, 3] - m[1, 1] * m[0, 3]
    s5 = m[0, 2] * m[1, 3] - m[1, 2] * m[0, 3]
    c5 = m[2, 2] * m[3, 3] - m[3, 2] * m[2, 3]
    c4 = m[2, 1] * m[3, 3] - m[3, 1] * m[2, 3]
    c3 = m[2, 1] * m[3, 2] - m[3, 1] * m[2, 2]
    c2 = m[2, 0] * m[3, 3] - m[3, 0] * m[2, 3]
    c1 = m[2, 0] * m[3, 2] - m[3, 0] * m[2, 2]
    c0 = m[2, 0] * m[3, 1] - m[3, 0] * m[2, 1]
    out[0, 0] = m[1, 1] * c5 - m[1, 2] * c4 + m[1, 3] * c3
    out[0, 1] = -m[0, 1] * c5 + m[0, 2] * c4 - m[0, 3] * c3
    out[0, 2] = m[3, 1] * s5 - m[3, 2] * s4 + m[3, 3] * s3
    out[0, 3] = -m[2, 1] * s5 + m[2, 2] * s4 - m[2, 3] * s3
    out[1, 0] = -m[1, 0] * c5 + m[1, 2] * c2 - m[1, 3] * c1
    out[1, 1] = m[0, 0] * c5 - m[0, 2] * c2 + m[0, 3] * c1
    out[1, 2] = -m[3, 0] * s5 + m[3, 2] * s2 - m[3, 3] * s1
    out[1, 3] = m[2, 0] * s5 - m[2, 2] * s2 + m[2, 3] * s1
    out[2, 0] = m[1, 0] * c4 - m[1, 1] * c2 + m[1, 3] * c0
    out[2, 1] = -m[0, 0] * c4 + m[0, 1] * c2 - m[0, 3] * c0
    out[2, 2] = m[3, 0] * s4 - m[3, 1] * s2 + m[3, 3] * s0
    out[2, 3] = -m[2, 0] * s4 + m[2, 1] * s2 - m[2, 3] * s0
    out[3, 0] = -m[1, 0] * c3 + m[1, 1] * c1 - m[1, 2] * c0
    out[3, 1] = m[0, 0] * c3 - m[0, 1] * c1 + m[0, 2] * c0
    out[3, 2] = -m[3, 0] * s3 + m[3, 1] * s1 - m[3, 2] * s0
    out[3, 3] = m[2, 0] * s3 - m[2, 1] * s1 + m[2, 2] * s0
    return s0 * c5 - s1 * c4 + s2 * c3 + s3 * c2 - s4 * c1 + s5 * c0


@njit(cache=True, nogil=True)
def _best_rotation_quaternion(s, bound, key, adj, q):
    """Write into ``q`` the unit quaternion (w, x, y, z) of the rotation R maximising ``trace(R @ s)`` for
    ``s = sum_k x_k y_k^T`` (3x3) and return that maximum. ``bound`` >= the maximum (Newton starts there);
    ``key``, ``adj``: (4, 4) scratch arrays."""
    sxx, sxy, sxz = s[0, 0], s[0, 1], s[0, 2]
    syx, syy, syz = s[1, 0], s[1, 1], s[1, 2]
    szx, szy, szz = s[2, 0], s[2, 1], s[2, 2]
    key[0, 0] = sxx + syy + szz
    key[0, 1] = key[1, 0] = syz - szy
    key[0, 2] = key[2, 0] = szx - sxz
    key[0, 3] = key[3, 0] = sxy - syx
    key[1, 1] = sxx - syy - szz
    key[1, 2] = key[2, 1] = sxy + syx
    key[1, 3] = key[3, 1] = szx + sxz
    key[2, 2] = -sxx + syy - szz
    key[2, 3] = key[3, 2] = syz + szy
    key[3, 3] = -sxx - syy + szz
    # characteristic polynomial of the traceless symmetric key matrix: l^4 + c2 l^2 + c1 l + c0
    c2 = -2.0 * (sxx * sxx + sxy * sxy + sxz * sxz + syx * syx + syy * syy + syz * syz
                 + szx * szx + szy * szy + szz * szz)
    c1 = -8.0 * _det3(sxx, sxy, sxz, syx, syy, syz, szx, szy, szz)
    c0 = _adjugate4(key, adj)
    lam = bound
    for _ in range(100):
        poly = ((lam * lam + c2) * lam + c1) * lam + c0
        slope = (4.0 * lam * lam + 2.0 * c2) * lam + c1
        if slope <= 0.0:
            break
        delta = poly / slope
        lam -= delta
        if abs(delta) <= 1e-15 * bound:
            break
    # the eigenvector is any non-zero column of adj(key - lam I); take the largest
    for k in range(4):
        key[k, k] -= lam
    _adjugate4(key, adj)
    best_col = 0
    best_norm2 = -1.0
    for col in range(4):
        norm2 = adj[0, col] ** 2 + adj[1, col] ** 2 + adj[2, col] ** 2 + adj[3, col] ** 2
        if norm2 > best_norm2:
            best_norm2 = norm2
            best_col = col
    scale3 = max(abs(lam), 1e-300) ** 3
    if best_norm2 > (1e-6 * scale3) ** 2:
        norm = np.sqrt(best_norm2)
        for k in range(4):
            q[k] = adj[k, best_col] / norm
        return max(lam, 0.0)
    for k in range(4):  # nearly repeated eigenvalue: fall back on a full symmetric eigen-solver
        key[k, k] += lam
    values, vectors = np.linalg.eigh(key)
    for k in range(4):
        q[k] = vectors[k, 3]
    return max(values[3], 0.0)


@njit(cache=True, nogil=True)
def _rotation_from_quaternion(q, r):
    w, x, y, z = q[0], q[1], q[2], q[3]
    r[0, 0] = w * w + x * x - y * y - z * z
    r[0, 1] = 2.0 * (x * y - w * z)
    r[0, 2] = 2.0 * (x * z + w * y)
    r[1, 0] = 2.0 * (y * x + w * z)
    r[1, 1] = w * w - x * x + y * y - z * z
    r[1, 2] = 2.0 * (y * z - w * x)
    r[2, 0] = 2.0 * (z * x - w * y)
    r[2, 1] = 2.0 * (z * y + w * x)
    r[2, 2] = w * w - x * x - y * y + z * z


@njit(cache=True, nogil=True)
def _procrustes_frame_cost(x, y, work):
    """Mean Euclidean distance between ``y`` and ``x`` after the best similarity transform of ``x`` onto
    ``y``. ``x``, ``y``: (P, 3) float64 points, each centred on its own centroid; ``work``: (4, 4, 4)."""
    s, key, adj, r = work[0], work[1], work[2], work[3]
    q = work[0, 3]  # row 3 of the first slab: s only uses rows 0-2
    n_points = x.shape[0]
    nx2 = 0.0
    ny2 = 0.0
    for u in range(3):
        for v in range(3):
            s[u, v] = 0.0
    for p in range(n_points):
        x0, x1, x2 = x[p, 0], x[p, 1], x[p, 2]
        y0, y1, y2 = y[p, 0], y[p, 1], y[p, 2]
        nx2 += x0 * x0 + x1 * x1 + x2 * x2
        ny2 += y0 * y0 + y1 * y1 + y2 * y2
        s[0, 0] += x0 * y0
        s[0, 1] += x0 * y1
        s[0, 2] += x0 * y2
        s[1, 0] += x1 * y0
        s[1, 1] += x1 * y1
        s[1, 2] += x1 * y2
        s[2, 0] += x2 * y0
        s[2, 1] += x2 * y1
        s[2, 2] += x2 * y2
    scale = 0.0
    if nx2 > 0.0 and ny2 > 0.0:
        g = _best_rotation_quaternion(s, np.sqrt(nx2 * ny2), key, adj, q)
        _rotation_from_quaternion(q, r)
        scale = g / nx2
    else:
        _rotation_from_quaternion(np.array([1.0, 0.0, 0.0, 0.0]), r)
    total = 0.0
    for p in range(n_points):
        x0, x1, x2 = x[p, 0], x[p, 1], x[p, 2]
        d0 = scale * (r[0, 0] * x0 + r[0, 1] * x1 + r[0, 2] * x2) - y[p, 0]
        d1 = scale * (r[1, 0] * x0 + r[1, 1] * x1 + r[1, 2] * x2) - y[p, 1]
        d2 = scale * (r[2, 0] * x0 + r[2, 1] * x1 + r[2, 2] * x2) - y[p, 2]
        total += np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    return total / n_points


@njit(cache=True, nogil=True)
def _procrustes_costs(a, i, b, work, out, j0, j1):
    """``out[j]`` = the Procrustes frame cost of centred frames ``a[i]`` and ``b[j]`` for ``j0 <= j < j1``;
    ``work``: (4, 4, 4) scratch."""
    for j in range(j0, j1):
        out[j] = _procrustes_frame_cost(a[i], b[j], work)


# ------------------------------------------------------------------------------------- fused kernels
@njit(cache=True, nogil=True)
def _transposed(b):
    """(3, P, T) float32 copy of the (T, P, 3) array ``b``."""
    bt = np.empty((3, b.shape[1], b.shape[0]), dtype=np.float32)
    for j in range(b.shape[0]):
        for p in range(b.shape[1]):
            for u in range(3):
                bt[u, p, j] = b[j, p, u]
    return bt


@njit(cache=True, nogil=True)
def _centred(points):
    """(T, P, 3) float64 copy of ``points`` with every frame centred on its own centroid."""
    out = np.empty(points.shape)
    n_points = points.shape[1]
    for t in range(points.shape[0]):
        for u in range(3):
            mean = 0.0
            for p in range(n_points):
                mean += points[t, p, u]
            mean /= n_points
            for p in range(n_points):
                out[t, p, u] = points[t, p, u] - mean
    return out


@njit(cache=True, nogil=True)
def _frame_costs(kind, x, y, sums, work, i, j0, j1, out):
    """``out[j]`` = frame cost ``kind`` between frame ``i`` of the first sequence and frames ``j0 <= j < j1``
    of the second. COST_L2: ``x`` (T1, P, 3) float32, ``y`` (3, P, T2) float32 (see :func:`_transposed`),
    ``sums`` (T2,) float32 scratch; COST_PROCRUSTES: ``x`` (T1, P, 3), ``y`` (T2, P, 3) float64 centred
    frames, ``work`` (4, 4, 4) scratch. A cost never depends on the column range it was computed in."""
    if kind == COST_L2:
        _l2_costs(x, i, y, sums, out, j0, j1)
    else:
        _procrustes_costs(x, i, y, work, out, j0, j1)


@njit(cache=True, nogil=True)
def _dtw_full(kind, x, y, sums, work, n1, n2):
    """Unpruned DTW of the (T1=n1, T2=n2) frame costs of :func:`_frame_costs`: every cell is computed.
    Returns ``(cost, steps (T1, T2) int8)``."""
    row = np.empty(n2)
    acc = np.empty((n1, n2))
    steps = np.empty((n1, n2), dtype=np.int8)
    for i in range(n1):
        _frame_costs(kind, x, y, sums, work, i, 0, n2, row)
        _accumulate_row(i, row, acc, steps)
    return acc[n1 - 1, n2 - 1], steps


# ------------------------------------------------------------------------------------- pruning
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
def _reference_path_columns(n1, n2):
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
def _upper_bound(kind, x, y, sums, work, n1, n2, costs):
    """``(UB, frame costs computed)``: the accumulated cost of the reference path (see the block above)."""
    columns = _reference_path_columns(n1, n2)
    total = 0.0
    n_cells = 0
    for i in range(n1):
        j0, j1 = columns[i, 0], columns[i, 1] + 1
        _frame_costs(kind, x, y, sums, work, i, j0, j1, costs)
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
        _frame_costs(kind, x, y, sums, work, i, j, j1, costs)
        n_cells += j1 - j
        chunk = min(2 * chunk, max_chunk)
        while j < j1 and best <= bound:
            best, step_row[j] = _step(np.inf, best, np.inf, costs[j])
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
def _dtw_pruned(kind, x, y, sums, work, n1, n2):
    """Same result as :func:`_dtw_full` (bit for bit, see the block above), computing only the cells that
    can lie on the optimal path. Returns ``(cost, steps (T1, T2) int8, frame costs computed)``; ``steps``
    holds garbage outside the computed cells, which backtracking never visits."""
    costs = np.empty(n2)
    upper, n_cells = _upper_bound(kind, x, y, sums, work, n1, n2, costs)
    bound = upper * (1.0 + PRUNE_MARGIN)
    max_chunk = L2_MAX_CHUNK if kind == COST_L2 else 1
    acc = np.empty((n1, n2))
    steps = np.empty((n1, n2), dtype=np.int8)
    if np.isfinite(bound):
        # row 0: (0, 0) then left moves; alive columns form a prefix since D grows along the row
        _frame_costs(kind, x, y, sums, work, 0, 0, 1, costs)
        acc[0, 0] = costs[0]
        steps[0, 0] = DIAGONAL
        hi, added = _continue_left(kind, x, y, sums, work, 0, 1, acc[0, 0], bound, max_chunk, costs, acc[0],
                                    steps[0])
        n_cells += 1 + added
        lo, first = 0, 0
        last = hi if acc[0, hi] <= bound else hi - 1
        for i in range(1, n1):
            above, row, step_row = acc[i - 1], acc[i], steps[i]
            start, end = first, min(last + 1, n2 - 1)
            _frame_costs(kind, x, y, sums, work, i, start, end + 1, costs)
            n_cells += end - start + 1
            diag = above[start - 1] if start - 1 >= lo else np.inf
            best, step_row[start] = _step(diag, np.inf, above[start], costs[start])
            row[start] = best
            for j in range(start + 1, min(end, hi) + 1):
                best, step_row[j] = _step(above[j - 1], best, above[j], costs[j])
                row[j] = best
            if end > hi:                                     # (i-1, end) lies right of the previous range
                best, step_row[end] = _step(above[end - 1], best, np.inf, costs[end])
                row[end] = best
            lo, hi = start, end
            first, last = _alive_span(row, start, end, bound)
            if first < 0:
                break
            if last == end:
                hi, added = _continue_left(kind, x, y, sums, work, i, end + 1, best, bound, max_chunk, costs,
                                           row, step_row)
                n_cells += added
                last = hi if row[hi] <= bound else hi - 1
        if first >= 0 and last == n2 - 1:
            return acc[n1 - 1, n2 - 1], steps, n_cells
    cost, steps = _dtw_full(kind, x, y, sums, work, n1, n2)
    return cost, steps, n_cells + n1 * n2


@njit(cache=True, nogil=True)
def _dtw_points(kind, x, y, sums, work, n1, n2, prune):
    """``(cost, steps, frame costs computed)`` with or without pruning (see :func:`_frame_costs` for the
    inputs)."""
    if prune:
        return _dtw_pruned(kind, x, y, sums, work, n1, n2)
    cost, steps = _dtw_full(kind, x, y, sums, work, n1, n2)
    return cost, steps, n1 * n2


@njit(cache=True, nogil=True)
def _dtw_l2(a, b, prune):
    """DTW with the mean point distance (float32) as frame cost; a (T1, P, 3), b (T2, P, 3) float32."""
    sums = np.empty(b.shape[0], dtype=np.float32)
    return _dtw_points(COST_L2, a, _transposed(b), sums, np.zeros((4, 4, 4)), a.shape[0], b.shape[0], prune)


@njit(cache=True, nogil=True)
def _dtw_procrustes(a, b, prune):
    """DTW with the per-cell similarity-Procrustes mean point distance (float64); a (T1, P, 3), b (T2, P, 3)."""
    sums = np.empty(b.shape[0], dtype=np.float32)
    return _dtw_points(COST_PROCRUSTES, _centred(a), _centred(b), sums, np.zeros((4, 4, 4)), a.shape[0],
                       b.shape[0], prune)


@njit(cache=True, nogil=True)
def _selected(points, root, scored):
    """(T, S, 3) float32: ``points[:, scored]`` minus ``points[:, root]`` per frame (no shift if root < 0)."""
    out = np.empty((points.shape[0], scored.shape[0], 3), dtype=np.float32)
    for t in range(points.shape[0]):
        for u in range(3):
            shift = points[t, root, u] if root >= 0 else np.float32(0.0)
            for k in range(scored.shape[0]):
                out[t, k, u] = points[t, scored[k], u] - shift
    return out


@njit(cache=True, nogil=True)
def _dtw_pair(a, b, kind, root, scored, prune):
    """DTW of one pair of (T, P, 3) float32 sequences on the points ``scored`` after the alignment of
    ``kind`` (translation by ``root`` for COST_L2 when root >= 0, per-cell Procrustes for COST_PROCRUSTES).
    Returns ``(cost, steps, frame costs computed)``."""
    if kind == COST_L2:
        return _dtw_l2(_selected(a, root, scored), _selected(b, root, scored), prune)
    return _dtw_procrustes(_selected(a, -1, scored), _selected(b, -1, scored), prune)


@njit(cache=True, parallel=True)
def _dtw_pairs(flat_a, starts_a, flat_b, starts_b, kind, root, scored, prune, costs, lengths, cells):
    """Pair k is ``flat_a[starts_a[k]:starts_a[k+1]]`` against ``flat_b[starts_b[k]:starts_b[k+1]]``;
    writes ``costs[k]``, ``lengths[k]`` (path length) and ``cells[k]`` (frame costs computed). Pairs run
    in parallel, each independently."""
    for k in prange(starts_a.shape[0] - 1):
        a = flat_a[starts_a[k]:starts_a[k + 1]]
        b = flat_b[starts_b[k]:starts_b[k + 1]]
        cost, steps, n_cells = _dtw_pair(a, b, kind, root, scored, prune)
        costs[k] = cost
        lengths[k] = _backtrack(steps).shape[0]
        cells[k] = n_cells


# ------------------------------------------------------------------------------------- Python API
@contextlib.contextmanager
def numba_threads(jobs: int | None) -> Iterator[None]:
    """Run the block with ``jobs`` numba threads (None: numba's current setting), restoring it after."""
    if jobs is None:
        yield
        return
    if not isinstance(jobs, int) or jobs < 1:
        raise UserError(f"jobs must be a positive integer, got {jobs!r}", field="jobs")
    before = numba.get_num_threads()
    numba.set_num_threads(min(jobs, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def as_points(points: np.ndarray) -> np.ndarray:
    """The (T, P, 3) array the kernels take: C-contiguous float32 (inputs are rounded to float32)."""
    return np.ascontiguousarray(points, dtype=np.float32)


def _pack(arrays: list[np.ndarray], buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Copy (T_k, P, 3) arrays one after the other into the front of ``buffer``; return it and the starts."""
    starts = np.zeros(len(arrays) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(x) for x in arrays])
    flat = buffer[:starts[-1]]
    np.concatenate(arrays, out=flat, casting="same_kind")
    return flat, starts


def dtw_points_many(preds: list[np.ndarray], refs: list[np.ndarray], *, kind: str, root: int,
                    scored: np.ndarray, jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """DTW over many pairs ``preds[k]`` (T1_k, P, 3) and ``refs[k]`` (T2_k, P, 3), pairs in parallel on
    ``jobs`` threads (None: numba's current setting). Frame cost ``kind``: ``"l2"`` (points translated so
    that point ``root`` is at the origin; ``root=-1``: no translation) or ``"procrustes"``; only the point
    indices ``scored`` (int64) enter the cost. Inputs are rounded to float32.

    Returns ``(costs (N,) float64, path_lengths (N,) int64)``; ``costs`` are raw path sums in the input unit.
    Pairs go to the kernel in chunks packed into two reused buffers (no per-call gigabyte copies).
    """
    costs, lengths, _ = _run_pairs(preds, refs, kind=kind, root=root, scored=scored, jobs=jobs, prune=True)
    return costs, lengths


def _run_pairs(preds: list[np.ndarray], refs: list[np.ndarray], *, kind: str, root: int, scored: np.ndarray,
               jobs: int | None, prune: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dtw_points_many` with the pruning switch (``prune=False`` runs the unpruned reference kernel,
    for tests and the bench); also returns the number of frame costs computed per pair, (N,) int64."""
    n_pairs = len(preds)
    costs = np.empty(n_pairs)
    lengths = np.empty(n_pairs, dtype=np.int64)
    cells = np.empty(n_pairs, dtype=np.int64)
    if n_pairs == 0:
        return costs, lengths, cells
    chunks = [slice(c, min(c + PAIRS_PER_CHUNK, n_pairs)) for c in range(0, n_pairs, PAIRS_PER_CHUNK)]
    n_points = preds[0].shape[1]
    buf_a = np.empty((max(sum(len(x) for x in preds[c]) for c in chunks), n_points, 3), dtype=np.float32)
    buf_b = np.empty((max(sum(len(x) for x in refs[c]) for c in chunks), n_points, 3), dtype=np.float32)
    scored = np.ascontiguousarray(scored, dtype=np.int64)
    with numba_threads(jobs):
        for chunk in chunks:
            flat_a, starts_a = _pack(preds[chunk], buf_a)
            flat_b, starts_b = _pack(refs[chunk], buf_b)
            _dtw_pairs(flat_a, starts_a, flat_b, starts_b, COST_KINDS[kind], root, scored, prune,
                       costs[chunk], lengths[chunk], cells[chunk])
    return costs, lengths, cells


def _points_dtw(a: np.ndarray, b: np.ndarray, kind: str = "l2", *, prune: bool = True) -> tuple[DTWResult, int]:
    """DTW of ``a`` (T1, P, 3) and ``b`` (T2, P, 3) with frame cost ``kind`` on all points, no translation,
    with or without pruning (tests and the bench compare the two); also returns the frame costs computed."""
    a, b = as_points(a), as_points(b)
    total, steps, n_cells = _dtw_pair(a, b, COST_KINDS[kind], -1, np.arange(a.shape[1]), prune)
    return DTWResult(cost=float(total), path=_backtrack(steps)), int(n_cells)


def dtw(cost_or_a: np.ndarray, b: np.ndarray | None = None) -> DTWResult:
    """Exact DTW cost and path.

    - ``dtw(cost)``: ``cost`` is a (T1, T2) matrix of non-negative frame costs (any unit; float64 used).
    - ``dtw(a, b)``: ``a`` (T1, P, 3) and ``b`` (T2, P, 3) point sequences; the frame cost is the mean over
      points of the Euclidean distance (float32, no alignment: align the points first).

    Returns a :class:`DTWResult` with the raw path sum (same unit as the cost) and the warping path.
    """
    if b is None:
        cost = np.ascontiguousarray(cost_or_a, dtype=np.float64)
        if cost.ndim != 2 or 0 in cost.shape:
            raise UserError(f"expected a non-empty (T1, T2) cost matrix, got shape {cost.shape}", field="cost")
        if not np.isfinite(cost).all() or (cost < 0).any():
            raise UserError("cost matrix must hold finite non-negative numbers", field="cost")
        total, steps = _dtw_cost_matrix(cost)
        return DTWResult(cost=float(total), path=_backtrack(steps))
    return _points_dtw(cost_or_a, b, "l2")[0]


def frame_cost_matrix(a: np.ndarray, b: np.ndarray, kind: str = "l2") -> np.ndarray:
    """(T1, T2) float64 matrix of the frame costs the kernels use between ``a`` (T1, P, 3) and ``b``
    (T2, P, 3): ``"l2"`` mean point distance (float32) or ``"procrustes"`` (see the module doc)."""
    return _frame_cost_matrix(as_points(a), as_points(b), COST_KINDS[kind])


@njit(cache=True)
def _frame_cost_matrix(a, b, kind):
    out = np.empty((a.shape[0], b.shape[0]))
    sums, work = np.empty(b.shape[0], dtype=np.float32), np.zeros((4, 4, 4))
    if kind == COST_L2:
        bt = _transposed(b)
        for i in range(a.shape[0]):
            _frame_costs(COST_L2, a, bt, sums, work, i, 0, b.shape[0], out[i])
    else:
        ac, bc = _centred(a), _centred(b)
        for i in range(a.shape[0]):
            _frame_costs(COST_PROCRUSTES, ac, bc, sums, work, i, 0, b.shape[0], out[i])
    return out


def procrustes_cost(x: np.ndarray, y: np.ndarray) -> float:
    """The ``"procrustes"`` frame cost between two frames ``x``, ``y`` (P, 3), each already centred on its
    centroid: mean distance after the best similarity transform of ``x`` onto ``y`` (float64)."""
    return float(_procrustes_frame_cost(np.ascontiguousarray(x, dtype=np.float64),
                                        np.ascontiguousarray(y, dtype=np.float64), np.zeros((4, 4, 4))))
