"""Lower-bound (point-cluster) pruning of the DTW for many-point frame costs gives bit-identical costs and
paths to the unpruned kernel, on random, time-warped, adversarial and real skeleton pairs; the bound never
exceeds the exact frame cost; few pairs run without a parallel region."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m3t_bench.metrics import dtw, dtw_jpe, frame_cost_matrix
from m3t_bench.metrics.dtw import dtw_points_many
from m3t_bench.metrics.dtw_bounds import MIN_POINTS, lower_bound_matrix, point_clusters
from tests.test_metrics_dtw_pruned import smooth_motion, warped_copy

dtw_module = importlib.import_module("m3t_bench.metrics.dtw")   # the package exports a function of that name


def assert_clusters_exact(a, b):
    """Cluster-pruned == unpruned (cost and path exactly); returns the fraction of frame costs computed."""
    pruned, full = dtw(a, b, prune="clusters"), dtw(a, b, prune=False)
    assert pruned.cost == full.cost
    np.testing.assert_array_equal(pruned.path, full.path)
    return pruned.frame_costs / full.frame_costs


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 40), st.integers(1, 40), st.integers(1, 300),
       st.sampled_from(["independent", "warped", "noise", "identical", "still"]))
def test_cluster_pruning_equals_unpruned_random(seed, n1, n2, points, relation):
    rng = np.random.default_rng(seed)
    a = smooth_motion(rng, n1, points)
    b = {"independent": lambda: smooth_motion(rng, n2, points),
         "warped": lambda: warped_copy(a, rng),
         "noise": lambda: rng.normal(size=(n2, points, 3)).astype(np.float32),
         "identical": lambda: a.copy(),
         "still": lambda: np.repeat(a[:1], n2, axis=0)}[relation]()
    assert_clusters_exact(a, b)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 30), st.integers(1, 30), st.integers(1, 400),
       st.sampled_from([1, 4, 64]), st.floats(1e-6, 1e3))
def test_lower_bound_never_exceeds_the_frame_cost(seed, n1, n2, points, clusters, scale):
    rng = np.random.default_rng(seed)
    a = (smooth_motion(rng, n1, points) * np.float32(scale)).astype(np.float32)
    b = (warped_copy(a, rng) if seed % 2 else smooth_motion(rng, n2, points) * np.float32(scale)).astype(np.float32)
    lower, exact = lower_bound_matrix(a, b, clusters), frame_cost_matrix(a, b)
    assert (lower >= 0).all() and (lower <= exact).all()


def test_lower_bound_is_tight_on_spatially_coherent_points():
    """Clusters of nearby points: the bound is within a few percent of the exact cost (what makes it prune)."""
    rng = np.random.default_rng(0)
    base = rng.normal(scale=0.1, size=(1, 2000, 3))
    motion = rng.normal(scale=0.01, size=(30, 1, 3)) + 0.002 * rng.normal(size=(30, 2000, 3))
    a = (base + motion).astype(np.float32)
    ratio = lower_bound_matrix(a[:15], a[15:]) / frame_cost_matrix(a[:15], a[15:])
    assert np.median(ratio) > 0.8


def test_point_clusters_partition_every_point():
    rng = np.random.default_rng(1)
    for n_points, n_clusters in ((5023, 64), (10, 64), (1, 4), (100, 7)):
        labels = point_clusters(rng.normal(size=(n_points, 3)), n_clusters)
        counts = np.bincount(labels)
        assert len(counts) == min(n_points, n_clusters) and counts.min() >= 1
        assert counts.max() - counts.min() <= 1 + n_points // n_clusters // 2


def test_many_points_prune_with_clusters_and_save_work():
    """prune=True picks the cluster bound at >= MIN_POINTS points: same results, a fraction of the costs."""
    rng = np.random.default_rng(2)
    preds, refs = [], []
    for _ in range(4):
        a = smooth_motion(rng, int(rng.integers(60, 120)), MIN_POINTS + 44)
        preds.append(a)
        refs.append(warped_copy(a, rng, stretch=(0.8, 1.25), noise=0.002))
    scored = np.arange(1, MIN_POINTS + 44)
    pruned = dtw_points_many(preds, refs, kind="l2", root=0, scored=scored, jobs=2, prune=True)
    full = dtw_points_many(preds, refs, kind="l2", root=0, scored=scored, jobs=2, prune=False)
    np.testing.assert_array_equal(pruned.costs, full.costs)
    np.testing.assert_array_equal(pruned.path_lengths, full.path_lengths)
    assert pruned.frame_costs.sum() < 0.5 * full.frame_costs.sum()


def test_strongly_warped_and_adversarial_pairs():
    rng = np.random.default_rng(3)
    for _ in range(3):
        a = smooth_motion(rng, int(rng.integers(40, 100)), 300)
        assert assert_clusters_exact(a, warped_copy(a, rng, stretch=(0.3, 3.0), noise=0.0)) < 1.0
    long, short = smooth_motion(rng, 200, 280), smooth_motion(rng, 1, 280)
    assert_clusters_exact(short, long)
    assert_clusters_exact(long, short)
    assert_clusters_exact(long, long[::37])
    still = np.repeat(long[:1], 30, axis=0)               # every frame cost equal: all ties
    assert_clusters_exact(still, still[:17])


def test_overflowing_costs_fall_back_to_the_unpruned_kernel():
    rng = np.random.default_rng(4)
    a = smooth_motion(rng, 20, 300) * np.float32(1e30)   # squared float32 differences overflow to inf
    b = smooth_motion(rng, 15, 300) * np.float32(1e30)
    pruned, full = dtw(a, b, prune="clusters"), dtw(a, b, prune=False)
    assert pruned.cost == full.cost == np.inf
    np.testing.assert_array_equal(pruned.path, full.path)


def test_cluster_pruning_needs_l2_costs():
    from m3t_bench.errors import UserError
    a = np.zeros((3, 4, 3), np.float32)
    with pytest.raises(UserError, match="prune"):
        dtw(a, a, kind="procrustes", prune="clusters")
    with pytest.raises(UserError, match="prune"):
        dtw(a, a, prune="fast")


def test_a_single_pair_runs_without_a_parallel_region(monkeypatch):
    """Small calls stay small: one pair never enters the parallel kernel, and gives the same value."""
    rng = np.random.default_rng(5)
    pred, ref = smooth_motion(rng, 200, 21), smooth_motion(rng, 180, 21)
    expected = dtw_jpe(pred, ref)

    def refuse(*args):
        raise AssertionError("parallel region entered for a single pair")

    monkeypatch.setattr(dtw_module, "_dtw_pairs", refuse)
    assert dtw_jpe(pred, ref) == expected
    many = [smooth_motion(rng, 150, 21) for _ in range(16)]          # 7.6 M point distances
    with pytest.raises(AssertionError, match="parallel region"):         # real work still goes parallel
        dtw_points_many(many, many[::-1], kind="l2", root=0, scored=np.arange(21), jobs=2)


@pytest.mark.realdata
def test_cluster_pruning_equals_unpruned_real(skeletons):
    rng = np.random.default_rng(8)
    for a, b in zip(skeletons[:6], skeletons[1:7]):
        a, b = a - a[:, 1:2], b - b[:, 1:2]
        assert_clusters_exact(a, b)
        assert_clusters_exact(a, warped_copy(a, rng))
        # many points: the skeleton's joints with fixed offsets, as a mesh region moves with its joints
        offsets = rng.normal(scale=0.02, size=(1, 8, 1, 3)).astype(np.float32)
        many_a = (a[:, None] + offsets).reshape(len(a), -1, 3)
        many_b = (b[:, None] + offsets).reshape(len(b), -1, 3)
        assert many_a.shape[1] >= MIN_POINTS
        assert_clusters_exact(many_a, many_b)
        assert assert_clusters_exact(many_a, warped_copy(many_a, rng)) < 0.5


def test_device_cost_matrices_agree_with_the_compiled_kernels():
    """The --device path (torch cost matrices, the DP on the CPU), run on the CPU: the same costs within float32
    rounding and the same paths, for joint-sized and face-sized point sets."""
    from m3t_bench.metrics.dtw_device import dtw_points_on_device
    rng = np.random.default_rng(9)
    for points in (21, MIN_POINTS + 10):
        preds = [smooth_motion(rng, int(n), points) for n in rng.integers(5, 60, size=6)]
        refs = [warped_copy(p, rng) if k % 2 else smooth_motion(rng, 40, points) for k, p in enumerate(preds)]
        for root in (0, -1):
            scored = np.arange(1, points)
            compiled = dtw_points_many(preds, refs, kind="l2", root=root, scored=scored)
            costs, lengths = dtw_points_on_device(preds, refs, root=root, scored=scored, device="cpu")
            np.testing.assert_allclose(costs, compiled.costs, rtol=1e-5)
            np.testing.assert_array_equal(lengths, compiled.path_lengths)
    values = dtw_jpe(preds[0], refs[0]), dtw_jpe_many_on("cpu", preds[0], refs[0])
    assert values[1] == pytest.approx(values[0], rel=1e-5)


def dtw_jpe_many_on(device, pred, ref):
    from m3t_bench.metrics import dtw_jpe_many
    return float(dtw_jpe_many([pred], [ref], device=device)[0])
