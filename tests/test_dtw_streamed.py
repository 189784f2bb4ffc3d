"""The chunked-input DTW (m3t_bench.metrics.dtw_streamed) against the batched kernels: bit-identical costs and
path lengths for every frame cost, root choice, chunk size and the unpruned fallback."""

from __future__ import annotations

import numpy as np
import pytest

from m3t_bench.metrics.dtw import dtw_points_many
from m3t_bench.metrics.dtw_streamed import ChunkedPoints, dtw_streamed_pair


def chunked(a: np.ndarray, k: int) -> ChunkedPoints:
    return ChunkedPoints(len(a), a.shape[1], lambda: (a[i:i + k] for i in range(0, len(a), k)))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind, root", [("l2", 0), ("l2", -1), ("procrustes", -1)])
def test_streamed_equals_batched(seed, kind, root):
    rng = np.random.default_rng(seed)
    n1, n2, p = (int(v) for v in rng.integers(1, 50, 3))
    p = max(p % 7, 3)
    a = rng.standard_normal((n1, p, 3)).astype(np.float32)
    if seed % 2:  # a time-warped noisy copy: the pruning then skips most cells
        b = a[np.sort(rng.integers(0, n1, n2))] + np.float32(0.05) * rng.standard_normal((n2, p, 3)).astype(np.float32)
    else:
        b = rng.standard_normal((n2, p, 3)).astype(np.float32)
    scored = np.arange(1, p)
    out = dtw_points_many([a], [b], kind=kind, root=root, scored=scored, jobs=1)
    cost, length = out.costs[0], out.path_lengths[0]
    for k in (1, 3, n1):
        assert dtw_streamed_pair(chunked(a, k), b, kind=kind, root=root, scored=scored) == (cost, length)


def test_the_unpruned_fallback_is_streamed_too():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((9, 4, 3)).astype(np.float32)
    a[4] = 3e38  # frame costs overflow to inf: no finite upper bound, the full DP runs
    b = rng.standard_normal((7, 4, 3)).astype(np.float32)
    out = dtw_points_many([a], [b], kind="l2", root=-1, scored=np.arange(4), jobs=1)
    cost, length = out.costs[0], out.path_lengths[0]
    assert dtw_streamed_pair(chunked(a, 2), b, kind="l2", root=-1, scored=np.arange(4)) == (cost, length)


def test_chunks_must_cover_the_declared_frames():
    a = np.zeros((5, 3, 3), np.float32)
    with pytest.raises(ValueError, match="held 5 frames, expected 6"):
        dtw_streamed_pair(ChunkedPoints(6, 3, lambda: iter([a])), a, kind="l2", root=0, scored=np.arange(3))
