"""Exact DTW of one pair whose first sequence arrives in chunks of frames: memory bounded by the second
sequence, one chunk and the ``(T1, T2)`` int8 choices, never by the first sequence's points.

The pruned DP (:mod:`m3t_bench.metrics.dtw`) visits the rows of the cost matrix in order, and row ``i`` only
needs frame ``i`` of the first sequence; so does the upper bound it starts from. Here both run over the
chunks of the first sequence (which the caller produces twice, e.g. by two forward passes of the body
model), with the accumulated costs kept for two rows only. Every cell is computed by the same functions in
the same order as :func:`m3t_bench.metrics.dtw.dtw_points_many`, so the cost and the path are bit-identical
to it (``tests/test_dtw_streamed.py``); only the memory differs.

Use: a scorer that would need gigabytes of points for one very long prediction (e.g. 20,000 frames of the
5,024 face-region vertices: 1.2 GB, and about three times that in copies) passes a :class:`ChunkedPoints`
instead of an array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

from m3t_bench.metrics.dtw_core import (COST_KINDS, COST_L2, DIAGONAL, LEFT, UP, backtrack, frame_costs, selected, step,
                                        transposed)
from m3t_bench.metrics.dtw_pruning import L2_MAX_CHUNK, PRUNE_MARGIN, _alive_span, _continue_left, reference_path_columns
from m3t_bench.metrics.procrustes import centred


@dataclass(frozen=True)
class ChunkedPoints:
    """A ``(n_frames, n_points, 3)`` point sequence given as consecutive chunks of frames: ``chunks()`` yields
    float32 arrays ``(k, n_points, 3)`` in frame order (it is called more than once and must yield the same
    values every time)."""

    n_frames: int
    n_points: int
    chunks: Callable[[], Iterator[np.ndarray]]

    def __len__(self) -> int:
        return self.n_frames

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of the array it stands for."""
        return (self.n_frames, self.n_points, 3)

    @classmethod
    def of_array(cls, points: np.ndarray, frames_per_chunk: int) -> "ChunkedPoints":
        """An array seen in chunks of ``frames_per_chunk`` frames."""
        return cls(len(points), points.shape[1],
                   lambda: (points[i:i + frames_per_chunk] for i in range(0, len(points), frames_per_chunk)))


@njit(cache=True, nogil=True)
def _upper_bound_rows(kind, x, i0, y, sums, work, columns, costs, total):
    """Add the reference-path cells of rows ``i0 .. i0 + len(x) - 1`` (``x`` holds those frames) to
    ``total``, in path order; returns ``(total, frame costs computed)``."""
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
def _pruned_rows(kind, x, i0, y, sums, work, n2, bound, max_chunk, costs, rows, steps, span):
    """Rows ``i0 .. i0 + len(x) - 1`` of the pruned DP (the body of :func:`m3t_bench.metrics.dtw._dtw_pruned`'s
    row loop): accumulated costs in ``rows[i % 2]``, choices in ``steps[i]``, the previous row's computed
    range and alive span in ``span`` = (lo, hi, first, last). Returns ``(frame costs computed, ok)``;
    ``ok`` is False when a row has no alive cell (the caller then runs the full DP)."""
    lo, hi, first, last = span[0], span[1], span[2], span[3]
    n_cells = 0
    for k in range(x.shape[0]):
        i = i0 + k
        row, step_row = rows[i % 2], steps[i]
        if i == 0:
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
        if end > hi:
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
def _full_rows(kind, x, i0, y, sums, work, n2, costs, acc, steps):
    """Rows ``i0 .. i0 + len(x) - 1`` of the unpruned DP (the fallback; the arithmetic of
    :func:`m3t_bench.metrics.dtw._accumulate_row`) with two accumulated rows ``acc`` (2, T2)."""
    for k in range(x.shape[0]):
        i = i0 + k
        frame_costs(kind, x, y, sums, work, k, 0, n2, costs)
        row, step_row = acc[i % 2], steps[i]
        if i == 0:
            row[0] = costs[0]
            step_row[0] = DIAGONAL
            for j in range(1, n2):
                row[j] = row[j - 1] + costs[j]
                step_row[j] = LEFT
            continue
        above = acc[(i - 1) % 2]
        row[0] = above[0] + costs[0]
        step_row[0] = UP
        best = row[0]
        for j in range(1, n2):
            best, step_row[j] = step(above[j - 1], best, above[j], costs[j])
            row[j] = best


def _frames(chunk: np.ndarray, kind: int, root: int, scored: np.ndarray) -> np.ndarray:
    """One chunk prepared exactly as the batched kernel prepares the whole sequence (per frame)."""
    chunk = np.ascontiguousarray(chunk, dtype=np.float32)
    if kind == COST_L2:
        return selected(chunk, root, scored)
    return centred(selected(chunk, -1, scored))


def dtw_streamed_pair(pred: ChunkedPoints, ref: np.ndarray, *, kind: str, root: int,
                      scored: np.ndarray) -> tuple[float, int]:
    """``(cost, path length)`` of the DTW between ``pred`` (chunked, T1 frames) and ``ref`` (T2, P, 3), with
    the frame cost, root and scored points of :func:`m3t_bench.metrics.dtw.dtw_points_many`; bit-identical to
    it. Memory: ``ref``'s points (a few copies), one chunk, ``T1 x T2`` bytes of choices."""
    kind_id = COST_KINDS[kind]
    scored = np.ascontiguousarray(scored, dtype=np.int64)
    ref = np.ascontiguousarray(ref, dtype=np.float32)
    n1, n2 = pred.n_frames, ref.shape[0]
    y = transposed(selected(ref, root, scored)) if kind_id == COST_L2 else centred(selected(ref, -1, scored))
    sums, work, costs = np.empty(n2, dtype=np.float32), np.zeros((4, 4, 4)), np.empty(n2)
    steps = np.empty((n1, n2), dtype=np.int8)
    rows = np.empty((2, n2))

    def chunks() -> Iterator[tuple[int, np.ndarray]]:
        i0 = 0
        for chunk in pred.chunks():
            yield i0, _frames(chunk, kind_id, root, scored)
            i0 += len(chunk)
        if i0 != n1:
            raise ValueError(f"the chunks held {i0} frames, expected {n1}")

    columns = reference_path_columns(n1, n2)
    total = 0.0
    for i0, x in chunks():
        total, _ = _upper_bound_rows(kind_id, x, i0, y, sums, work, columns, costs, total)
    bound = total * (1.0 + PRUNE_MARGIN)
    ok = bool(np.isfinite(bound))
    if ok:
        max_chunk = L2_MAX_CHUNK if kind_id == COST_L2 else 1
        span = np.zeros(4, dtype=np.int64)
        for i0, x in chunks():
            _, ok = _pruned_rows(kind_id, x, i0, y, sums, work, n2, bound, max_chunk, costs, rows, steps, span)
            if not ok:
                break
        ok = ok and span[3] == n2 - 1
    if not ok:
        for i0, x in chunks():
            _full_rows(kind_id, x, i0, y, sums, work, n2, costs, rows, steps)
    return float(rows[(n1 - 1) % 2, n2 - 1]), int(backtrack(steps).shape[0])
