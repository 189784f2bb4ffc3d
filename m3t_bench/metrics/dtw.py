"""Exact dynamic time warping (DTW), compiled with numba: the public entry points and the pair batching.

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

Frame costs (computed inside the kernels, no ``(T1, T2, P)`` temporaries): ``"l2"`` = mean over points of
the Euclidean distance (float32; align the points first), ``"procrustes"`` = the same after the best
similarity transform per cell (:mod:`m3t_bench.metrics.procrustes`). The DP core is in
:mod:`m3t_bench.metrics.dtw_core`; ``prune=True`` (the default) skips cells that provably cannot lie on the
optimal path, with bit-identical costs and paths (:mod:`m3t_bench.metrics.dtw_pruning` holds the proof).

Pairs of sequences run in parallel over cores (``numba.prange``); each pair is computed independently by
the same sequential code, so results do not depend on the number of threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from m3t_bench.errors import UserError
from m3t_bench.metrics.dtw_core import (COST_KINDS, COST_L2, COST_PROCRUSTES, backtrack, dtw_cost_matrix, dtw_full,
                                        frame_costs, transposed)
from m3t_bench.metrics.dtw_pruning import dtw_pruned
from m3t_bench.metrics.procrustes import centred

PAIRS_PER_CHUNK = 64


@dataclass(frozen=True)
class DTWResult:
    """``cost``: the DTW cost (sum of frame costs along the path, float64); ``path``: ``(L, 2)`` int64
    array of ``(i, j)`` index pairs from ``(0, 0)`` to ``(T1-1, T2-1)``; ``frame_costs``: how many frame
    costs were computed (``T1 * T2`` without pruning; None for a given cost matrix)."""

    cost: float
    path: np.ndarray
    frame_costs: int | None = None


class DTWBatch(NamedTuple):
    """:func:`dtw_points_many`'s result, one entry per pair: ``costs`` (N,) float64 raw path sums in the
    input unit, ``path_lengths`` (N,) int64, ``frame_costs`` (N,) int64 frame costs computed."""

    costs: np.ndarray
    path_lengths: np.ndarray
    frame_costs: np.ndarray


# ------------------------------------------------------------------------------------- pair kernels
@njit(cache=True, nogil=True)
def _dtw_points(kind, x, y, sums, work, n1, n2, prune):
    """``(cost, steps, frame costs computed)`` with or without pruning (see :func:`frame_costs` for the
    inputs)."""
    if prune:
        return dtw_pruned(kind, x, y, sums, work, n1, n2)
    cost, steps = dtw_full(kind, x, y, sums, work, n1, n2)
    return cost, steps, n1 * n2


@njit(cache=True, nogil=True)
def _dtw_l2(a, b, prune):
    """DTW with the mean point distance (float32) as frame cost; a (T1, P, 3), b (T2, P, 3) float32."""
    sums = np.empty(b.shape[0], dtype=np.float32)
    return _dtw_points(COST_L2, a, transposed(b), sums, np.zeros((4, 4, 4)), a.shape[0], b.shape[0], prune)


@njit(cache=True, nogil=True)
def _dtw_procrustes(a, b, prune):
    """DTW with the per-cell similarity-Procrustes mean point distance (float64); a (T1, P, 3), b (T2, P, 3)."""
    sums = np.empty(b.shape[0], dtype=np.float32)
    return _dtw_points(COST_PROCRUSTES, centred(a), centred(b), sums, np.zeros((4, 4, 4)), a.shape[0],
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
        lengths[k] = backtrack(steps).shape[0]
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
                    scored: np.ndarray, jobs: int | None = None, prune: bool = True) -> DTWBatch:
    """DTW over many pairs ``preds[k]`` (T1_k, P, 3) and ``refs[k]`` (T2_k, P, 3), pairs in parallel on
    ``jobs`` threads (None: numba's current setting). Frame cost ``kind``: ``"l2"`` (points translated so
    that point ``root`` is at the origin; ``root=-1``: no translation) or ``"procrustes"``; only the point
    indices ``scored`` (int64) enter the cost. Inputs are rounded to float32. ``prune=False`` computes
    every cell (the reference the pruned kernel is checked against; same costs and paths, more work).

    Returns a :class:`DTWBatch` (costs, path lengths, frame costs computed). Pairs go to the kernel in
    chunks packed into two reused buffers (no per-call gigabyte copies).

    >>> import numpy as np
    >>> a = np.zeros((4, 2, 3), np.float32); b = a[:2] + np.float32(0.5)
    >>> out = dtw_points_many([a, a], [a, b], kind="l2", root=-1, scored=np.arange(2))
    >>> out.costs.round(4).tolist(), out.path_lengths.tolist()      # 4 path steps at sqrt(0.75) each
    ([0.0, 3.4641], [4, 4])
    """
    n_pairs = len(preds)
    costs = np.empty(n_pairs)
    lengths = np.empty(n_pairs, dtype=np.int64)
    cells = np.empty(n_pairs, dtype=np.int64)
    if n_pairs == 0:
        return DTWBatch(costs, lengths, cells)
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
    return DTWBatch(costs, lengths, cells)


def dtw(cost_or_a: np.ndarray, b: np.ndarray | None = None, *, kind: str = "l2", prune: bool = True) -> DTWResult:
    """Exact DTW cost and path.

    - ``dtw(cost)``: ``cost`` is a (T1, T2) matrix of non-negative frame costs (any unit; float64 used).
    - ``dtw(a, b)``: ``a`` (T1, P, 3) and ``b`` (T2, P, 3) point sequences; frame cost ``kind``: ``"l2"``
      the mean over points of the Euclidean distance (float32, no alignment: align the points first) or
      ``"procrustes"``; ``prune=False`` computes every cell (same result, see the module doc).

    Returns a :class:`DTWResult` with the raw path sum (same unit as the cost) and the warping path.

    >>> import numpy as np
    >>> res = dtw(np.array([[1.0, 2.0, 6.0], [3.0, 1.0, 1.0]]))
    >>> res.cost, res.path.tolist()
    (3.0, [[0, 0], [1, 1], [1, 2]])
    """
    if b is None:
        cost = np.ascontiguousarray(cost_or_a, dtype=np.float64)
        if cost.ndim != 2 or 0 in cost.shape:
            raise UserError(f"expected a non-empty (T1, T2) cost matrix, got shape {cost.shape}", field="cost")
        if not np.isfinite(cost).all() or (cost < 0).any():
            raise UserError("cost matrix must hold finite non-negative numbers", field="cost")
        total, steps = dtw_cost_matrix(cost)
        return DTWResult(cost=float(total), path=backtrack(steps))
    a, b = as_points(cost_or_a), as_points(b)
    total, steps, n_cells = _dtw_pair(a, b, COST_KINDS[kind], -1, np.arange(a.shape[1]), prune)
    return DTWResult(cost=float(total), path=backtrack(steps), frame_costs=int(n_cells))


def frame_cost_matrix(a: np.ndarray, b: np.ndarray, kind: str = "l2") -> np.ndarray:
    """(T1, T2) float64 matrix of the frame costs the kernels use between ``a`` (T1, P, 3) and ``b``
    (T2, P, 3): ``"l2"`` mean point distance (float32) or ``"procrustes"`` (see the module doc).

    >>> import numpy as np
    >>> frame_cost_matrix(np.zeros((1, 1, 3)), np.array([[[3.0, 4.0, 0.0]], [[0.0, 0.0, 0.0]]])).tolist()
    [[5.0, 0.0]]
    """
    return _frame_cost_matrix(as_points(a), as_points(b), COST_KINDS[kind])


@njit(cache=True)
def _frame_cost_matrix(a, b, kind):
    out = np.empty((a.shape[0], b.shape[0]))
    sums, work = np.empty(b.shape[0], dtype=np.float32), np.zeros((4, 4, 4))
    if kind == COST_L2:
        bt = transposed(b)
        for i in range(a.shape[0]):
            frame_costs(COST_L2, a, bt, sums, work, i, 0, b.shape[0], out[i])
    else:
        ac, bc = centred(a), centred(b)
        for i in range(a.shape[0]):
            frame_costs(COST_PROCRUSTES, ac, bc, sums, work, i, 0, b.shape[0], out[i])
    return out
