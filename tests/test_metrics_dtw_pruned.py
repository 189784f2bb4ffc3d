"""Pruned exact DTW (PrunedDTW-style upper-bound pruning) gives bit-identical costs and paths to the
unpruned kernel, on random, adversarial and real skeleton pairs, for both frame-cost kinds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m3t_bench.metrics import dtw, frame_cost_matrix
from m3t_bench.metrics.dtw import dtw_points_many
from m3t_bench.metrics.dtw_pruning import reference_path_columns, reference_path_cost


def smooth_motion(rng, frames, points=12):
    """A smooth random trajectory of ``points`` 3-D points (metres), float32."""
    t = np.linspace(0, 1, frames)[:, None, None]
    base = rng.normal(scale=0.3, size=(1, points, 3))
    amp = rng.normal(scale=0.1, size=(1, points, 3))
    out = base + amp * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2) + rng.uniform(size=(1, points, 3))))
    return out.astype(np.float32)


def warped_copy(x, rng, stretch=(0.5, 2.0), noise=0.005):
    """``x`` resampled at sorted random times (strong non-uniform time warp) plus small noise."""
    n = max(1, int(len(x) * rng.uniform(*stretch)))
    times = np.sort(rng.uniform(0, len(x) - 1, size=n))
    noisy = x[np.round(times).astype(int)] + rng.normal(scale=noise, size=(n,) + x.shape[1:])
    return noisy.astype(np.float32)


def accumulated(cost):
    """Unpruned accumulated cost matrix (float64), written independently of the kernels."""
    acc = np.empty_like(cost)
    acc[0] = np.cumsum(cost[0])
    for i in range(1, len(cost)):
        acc[i, 0] = acc[i - 1, 0] + cost[i, 0]
        for j in range(1, cost.shape[1]):
            c = cost[i, j]
            acc[i, j] = min(acc[i - 1, j - 1] + c, acc[i - 1, j] + c, acc[i, j - 1] + c)
    return acc


def assert_pruning_exact(a, b, kind):
    """Pruned == unpruned (cost exactly, path exactly); returns the fraction of frame costs computed."""
    pruned, full = dtw(a, b, kind=kind, prune=True), dtw(a, b, kind=kind, prune=False)
    cells, all_cells = pruned.frame_costs, full.frame_costs
    assert all_cells == len(a) * len(b)
    assert pruned.cost == full.cost
    np.testing.assert_array_equal(pruned.path, full.path)
    return cells / all_cells


@pytest.fixture(scope="module")
def skeletons(shared_data):
    with np.load(shared_data / "skeletons" / "phoenix14t_3d_skels_50joints.npz", allow_pickle=False) as f:
        return [f[k].astype(np.float32) for k in sorted(f.keys())]


# ----------------------------------------------------------------------------- random pairs (hypothesis)
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 40), st.integers(1, 40), st.integers(1, 9),
       st.sampled_from(["l2", "procrustes"]), st.sampled_from(["independent", "warped", "noise"]))
def test_pruned_equals_unpruned_random(seed, n1, n2, points, kind, relation):
    rng = np.random.default_rng(seed)
    a = smooth_motion(rng, n1, points)
    b = {"independent": lambda: smooth_motion(rng, n2, points),
         "warped": lambda: warped_copy(a, rng),
         "noise": lambda: rng.normal(size=(n2, points, 3)).astype(np.float32)}[relation]()
    if kind == "procrustes" and points < 3:
        points_a = rng.normal(size=(len(a), 3, 3)).astype(np.float32)   # Procrustes needs >= 3 points
        a, b = points_a, warped_copy(points_a, rng)
    assert_pruning_exact(a, b, kind)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60))
def test_reference_path_is_a_valid_warping_path(n1, n2):
    columns = reference_path_columns(n1, n2)
    path = [(i, j) for i in range(n1) for j in range(columns[i, 0], columns[i, 1] + 1)]
    assert path[0] == (0, 0) and path[-1] == (n1 - 1, n2 - 1)
    steps = {(i1 - i0, j1 - j0) for (i0, j0), (i1, j1) in zip(path, path[1:])}
    assert steps <= {(1, 1), (0, 1), (1, 0)}


def test_path_cells_never_exceed_the_upper_bound():
    """The proof's premise, checked on an independent DP: every cell of the optimal path has D <= UB."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        a = smooth_motion(rng, int(rng.integers(5, 40)), 8)
        b = warped_copy(a, rng)
        cost = frame_cost_matrix(a, b)
        acc = accumulated(cost)
        upper = reference_path_cost(a, b, "l2")
        result = dtw(a, b)
        assert result.cost == acc[-1, -1] <= upper
        assert all(acc[i, j] <= upper for i, j in result.path)


# ----------------------------------------------------------------------------- adversarial pairs
@pytest.mark.parametrize("kind", ["l2", "procrustes"])
def test_identical_and_constant_sequences(kind):
    rng = np.random.default_rng(1)
    a = smooth_motion(rng, 50, 10)
    fraction = assert_pruning_exact(a, a, kind)
    if kind == "l2":
        assert fraction < 0.2                         # only the zero-cost diagonal band survives
    still = np.repeat(a[:1], 30, axis=0)              # every frame cost equal: all ties
    assert assert_pruning_exact(still, still[:17], kind) >= 1.0
    assert assert_pruning_exact(still, a, kind) > 0.0


@pytest.mark.parametrize("kind", ["l2", "procrustes"])
def test_very_different_lengths(kind):
    rng = np.random.default_rng(2)
    long, short = smooth_motion(rng, 300, 6), smooth_motion(rng, 1, 6)
    assert_pruning_exact(short, long, kind)
    assert_pruning_exact(long, short, kind)
    assert_pruning_exact(long[:2], long, kind)
    assert_pruning_exact(long, long[::37], kind)


@pytest.mark.parametrize("kind", ["l2", "procrustes"])
def test_strongly_warped_copies_and_noise(kind):
    rng = np.random.default_rng(3)
    for _ in range(4):
        a = smooth_motion(rng, int(rng.integers(40, 120)), 8)
        assert assert_pruning_exact(a, warped_copy(a, rng, stretch=(0.3, 3.0), noise=0.0), kind) < 1.0
        assert_pruning_exact(rng.normal(size=(60, 8, 3)), rng.normal(size=(45, 8, 3)), kind)


def test_overflowing_costs_fall_back_to_the_unpruned_kernel():
    rng = np.random.default_rng(4)
    a = smooth_motion(rng, 20, 4) * np.float32(1e30)  # squared float32 differences overflow to inf
    b = smooth_motion(rng, 15, 4) * np.float32(1e30)
    pruned, full = dtw(a, b, kind="l2", prune=True), dtw(a, b, kind="l2", prune=False)
    cells = pruned.frame_costs
    assert pruned.cost == full.cost == np.inf
    np.testing.assert_array_equal(pruned.path, full.path)
    assert cells > len(a) * len(b)                    # the reference path, then every cell


def test_pruning_saves_work_on_related_pairs():
    rng = np.random.default_rng(5)
    fractions = []
    for _ in range(5):
        a = smooth_motion(rng, 150, 12)
        fractions.append(assert_pruning_exact(a, warped_copy(a, rng, stretch=(0.8, 1.25)), "l2"))
    assert np.mean(fractions) < 0.6


def test_many_pairs_in_parallel_match_the_unpruned_kernel():
    rng = np.random.default_rng(6)
    preds = [smooth_motion(rng, int(n), 21) for n in rng.integers(1, 80, size=40)]
    refs = [warped_copy(p, rng) if k % 2 else smooth_motion(rng, 30, 21) for k, p in enumerate(preds)]
    scored = np.arange(1, 21)
    for kind, root in (("l2", 0), ("l2", -1), ("procrustes", -1)):
        pruned = dtw_points_many(preds, refs, kind=kind, root=root, scored=scored, jobs=2, prune=True)
        full = dtw_points_many(preds, refs, kind=kind, root=root, scored=scored, jobs=2, prune=False)
        np.testing.assert_array_equal(pruned[0], full[0])
        np.testing.assert_array_equal(pruned[1], full[1])
        assert (pruned[2] <= full[2] + np.array([len(p) + len(r) for p, r in zip(preds, refs)])).all()


# ----------------------------------------------------------------------------- real skeletons
@pytest.mark.realdata
def test_pruned_equals_unpruned_real(skeletons):
    rng = np.random.default_rng(8)
    for a, b in zip(skeletons[:6], skeletons[1:7]):
        a, b = a - a[:, 1:2], b - b[:, 1:2]
        assert_pruning_exact(a, b, "l2")
        assert_pruning_exact(a, warped_copy(a, rng), "l2")
        assert_pruning_exact(a[:60, 29:50], b[:50, 29:50], "procrustes")           # right hand
        assert_pruning_exact(a[:60, 29:50], warped_copy(a[:60, 29:50], rng), "procrustes")
