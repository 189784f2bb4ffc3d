"""Exact DTW of one pair whose first sequence arrives in chunks of frames: memory bounded by the second
sequence, one chunk and the ``(T1, T2)`` int8 choices, never by the first sequence's points.

The pruned DP (:mod:`m3t_bench.metrics.dtw_pruning`) visits the rows of the cost matrix in order, and row
``i`` only needs frame ``i`` of the first sequence; so does the upper bound it starts from. Here both run over
the chunks of the first sequence (which the caller produces twice, e.g. by two forward passes of the body
model) through the same row functions that :func:`~m3t_bench.metrics.dtw_pruning.dtw_pruned` and the full DP
use, with two accumulated rows, so the cost and the path are bit-identical to
:func:`m3t_bench.metrics.dtw.dtw_points_many` (``tests/test_dtw_streamed.py``); only the memory differs.

Use: a scorer that would need gigabytes of points for one very long prediction (e.g. 20,000 frames of the
5,024 face-region vertices: 1.2 GB, and about three times that in copies) passes a :class:`ChunkedPoints`
instead of an array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

from m3t_bench.metrics.dtw_core import (COST_KINDS, COST_L2, accumulate_row, backtrack, frame_costs, selected,
                                        transposed)
from m3t_bench.metrics.dtw_pruning import (L2_MAX_CHUNK, PRUNE_MARGIN, pruned_rows, reference_path_columns,
                                           reference_path_rows)
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
def _full_rows(kind, x, i0, y, sums, work, n2, costs, rows, steps):
    """Rows ``i0 .. i0 + len(x) - 1`` of the unpruned DP (the fallback) with two accumulated rows ``rows``."""
    for k in range(x.shape[0]):
        frame_costs(kind, x, y, sums, work, k, 0, n2, costs)
        accumulate_row(i0 + k, costs, rows, steps)


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
        total, _ = reference_path_rows(kind_id, x, i0, y, sums, work, columns, costs, total)
    bound = total * (1.0 + PRUNE_MARGIN)
    ok = bool(np.isfinite(bound))
    if ok:
        max_chunk = L2_MAX_CHUNK if kind_id == COST_L2 else 1
        span = np.zeros(4, dtype=np.int64)
        for i0, x in chunks():
            _, ok = pruned_rows(kind_id, x, i0, y, sums, work, n2, bound, max_chunk, costs, rows, steps, span)
            if not ok:
                break
        ok = ok and span[3] == n2 - 1
    if not ok:
        for i0, x in chunks():
            _full_rows(kind_id, x, i0, y, sums, work, n2, costs, rows, steps)
    return float(rows[(n1 - 1) % 2, n2 - 1]), int(backtrack(steps).shape[0])
