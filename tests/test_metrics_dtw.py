"""Exact DTW and the joint/vertex errors, checked against dtw-python, fastdtw, a numpy Procrustes, a hand
computation and properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from m3t_bench.errors import UserError
from m3t_bench.metrics import (dtw, dtw_jpe, dtw_jpe_many, dtw_vpe, frame_cost_matrix, mpjpe, pa_jpe, pa_vpe,
                               similarity_procrustes)

dtwpy = pytest.importorskip("dtw")


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def smooth_motion(rng, frames, points=12):
    """A smooth random trajectory of ``points`` 3-D points (metres)."""
    t = np.linspace(0, 1, frames)[:, None, None]
    base = rng.normal(scale=0.3, size=(1, points, 3))
    amp = rng.normal(scale=0.1, size=(1, points, 3))
    return base + amp * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2) + rng.uniform(size=(1, points, 3))))


@pytest.fixture(scope="module")
def skeletons(shared_data):
    with np.load(shared_data / "skeletons" / "phoenix14t_3d_skels_50joints.npz", allow_pickle=False) as f:
        return [f[k] for k in sorted(f.keys())]


def dtw_python(cost):
    al = dtwpy.dtw(cost, step_pattern=dtwpy.symmetric1, keep_internals=False)
    return al.distance, np.stack([al.index1, al.index2], axis=1)


# ----------------------------------------------------------------------------- DTW core
def test_hand_computed_case():
    cost = np.array([[1.0, 2.0, 6.0],
                     [3.0, 1.0, 1.0]])
    # D = [[1, 3, 9], [4, 2, 3]]; path (0,0) -> (1,1) -> (1,2)
    res = dtw(cost)
    assert res.cost == 3.0
    assert res.path.tolist() == [[0, 0], [1, 1], [1, 2]]


def test_ties_follow_dtw_python_order():
    cost = np.zeros((3, 4))               # everything ties: diagonal first, then left, then up
    ours = dtw(cost)
    theirs = dtw_python(cost)
    assert ours.cost == theirs[0] == 0.0
    np.testing.assert_array_equal(ours.path, theirs[1])


@given(arrays(np.float64, st.tuples(st.integers(1, 25), st.integers(1, 25)),
              elements=st.floats(0, 10, allow_nan=False)))
def test_cost_and_path_equal_dtw_python_random(cost):
    ours = dtw(cost)
    distance, path = dtw_python(cost)
    assert ours.cost == pytest.approx(distance, rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(ours.path, path)


@pytest.mark.realdata
def test_cost_and_path_equal_dtw_python_real(skeletons):
    for a, b in zip(skeletons, skeletons[1:] + skeletons[:1]):
        cost = frame_cost_matrix(a - a[:, 1:2], b - b[:, 1:2])
        ours_fused = dtw(a - a[:, 1:2], b - b[:, 1:2])
        ours = dtw(cost)
        distance, path = dtw_python(cost)
        assert ours.cost == pytest.approx(distance, rel=1e-12)
        np.testing.assert_array_equal(ours.path, path)
        assert ours_fused.cost == ours.cost
        np.testing.assert_array_equal(ours_fused.path, ours.path)


def test_bad_cost_matrix_is_a_user_error():
    with pytest.raises(UserError):
        dtw(np.array([[1.0, -1.0]]))
    with pytest.raises(UserError):
        dtw(np.zeros((0, 3)))


# ----------------------------------------------------------------------------- Procrustes per cell
def numpy_procrustes_cost_matrix(a, b):
    out = np.empty((len(a), len(b)))
    for j in range(len(b)):
        aligned = similarity_procrustes(a, np.repeat(b[j:j + 1], len(a), axis=0))
        out[:, j] = np.linalg.norm(aligned - b[j], axis=-1).mean(axis=1)
    return out


def test_procrustes_kernel_matches_umeyama_svd():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(15, 12, 3)), rng.normal(size=(11, 12, 3))
    b[3] = 2.5 * a[4] @ random_rotation(rng).T + 1.0           # one exact similarity match
    planar = rng.normal(size=(4, 12, 3))
    planar[..., 2] = 0.0                                        # degenerate (coplanar) frames
    a = np.concatenate([a, planar])
    want = numpy_procrustes_cost_matrix(a.astype(np.float32).astype(np.float64),
                                        b.astype(np.float32).astype(np.float64))
    got = frame_cost_matrix(a, b, "procrustes")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert got[4, 3] < 1e-6


@pytest.mark.realdata
def test_procrustes_kernel_matches_umeyama_svd_real(skeletons):
    a, b = skeletons[0][:40, 29:50], skeletons[1][:30, 29:50]   # right hand, 21 points
    want = numpy_procrustes_cost_matrix(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(frame_cost_matrix(a, b, "procrustes"), want, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- DTW-JPE properties
motion = st.builds(lambda seed, n: smooth_motion(np.random.default_rng(seed), n),
                   st.integers(0, 2**31), st.integers(2, 30))


@given(motion, st.sampled_from(["root", "procrustes", "none"]), st.sampled_from(["path", "ref", "sum"]))
def test_identity_is_zero(a, align, norm):
    assert dtw_jpe(a, a, align=align, norm=norm) == pytest.approx(0.0, abs=1e-3)


@given(motion, motion, st.sampled_from(["root", "procrustes", "none"]))
def test_non_negative(a, b, align):
    assert dtw_jpe(a, b, align=align) >= 0.0


@given(motion, motion, st.sampled_from(["root", "none"]))
def test_symmetric_sum(a, b, align):
    assert dtw_jpe(a, b, align=align, norm="sum") == pytest.approx(dtw_jpe(b, a, align=align, norm="sum"),
                                                                   rel=1e-6)


@given(motion, motion, st.integers(0, 2**31))
def test_jpe_invariant_to_translation(a, b, seed):
    rng = np.random.default_rng(seed)
    shift_a, shift_b = rng.normal(size=(len(a), 1, 3)), rng.normal(size=(len(b), 1, 3))
    assert dtw_jpe(a + shift_a, b + shift_b) == pytest.approx(dtw_jpe(a, b), rel=1e-4, abs=1e-3)


@given(motion, motion, st.integers(0, 2**31))
def test_pa_jpe_invariant_to_similarity_of_prediction(a, b, seed):
    rng = np.random.default_rng(seed)
    moved = rng.uniform(0.5, 2.0) * a @ random_rotation(rng).T + rng.normal(size=3)
    assert dtw_jpe(moved, b, align="procrustes") == pytest.approx(dtw_jpe(a, b, align="procrustes"),
                                                                  rel=1e-4, abs=1e-3)


@given(motion, st.integers(2, 4))
def test_time_stretched_copy_costs_nothing(a, factor):
    stretched = np.repeat(a, factor, axis=0)
    for align in ("root", "procrustes"):
        assert dtw_jpe(stretched, a, align=align) == pytest.approx(0.0, abs=1e-3)


@given(motion, st.integers(0, 2**31))
def test_monotone_in_added_noise(a, seed):
    noise = np.random.default_rng(seed).normal(scale=0.01, size=a.shape)
    values = [dtw_jpe(a + s * noise, a, norm="ref") for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(x <= y + 1e-3 for x, y in zip(values, values[1:]))


def test_normalisations_and_units():
    rng = np.random.default_rng(3)
    a, b = smooth_motion(rng, 20), smooth_motion(rng, 17)
    a, b = a.astype(np.float32), b.astype(np.float32)               # the kernels work in float32
    raw = dtw(a - a[:, :1], b - b[:, :1])
    assert dtw_jpe(a, b, norm="sum", unit="m") == pytest.approx(raw.cost, rel=1e-12)
    assert dtw_jpe(a, b, norm="path", unit="m") == pytest.approx(raw.cost / len(raw.path), rel=1e-12)
    assert dtw_jpe(a, b, norm="ref", unit="mm") == pytest.approx(raw.cost / 17 * 1000, rel=1e-12)


@pytest.mark.realdata
def test_fastdtw_with_large_radius_agrees_on_real_pairs(skeletons):
    for a, b in zip(skeletons[:3], skeletons[3:6]):
        body_a, body_b = a[:60, :8], b[:50, :8]
        exact = dtw_jpe(body_a, body_b, root=1, norm="sum")
        approx = dtw_jpe(body_a, body_b, root=1, norm="sum", backend="fastdtw", fastdtw_radius=60)
        assert approx == pytest.approx(exact, rel=1e-5)


def test_results_identical_across_thread_counts():
    rng = np.random.default_rng(4)
    preds = [smooth_motion(rng, int(n), 21) for n in rng.integers(5, 40, size=9)]
    refs = [smooth_motion(rng, int(n), 21) for n in rng.integers(5, 40, size=9)]
    for align in ("root", "procrustes"):
        one = dtw_jpe_many(preds, refs, align=align, jobs=1)
        two = dtw_jpe_many(preds, refs, align=align, jobs=2)
        np.testing.assert_array_equal(one, two)
        assert one[2] == dtw_jpe(preds[2], refs[2], align=align)


def test_scored_subset_and_vpe_default_excludes_root():
    rng = np.random.default_rng(5)
    a, b = smooth_motion(rng, 10, 6), smooth_motion(rng, 12, 6)
    assert dtw_vpe(a, b) == pytest.approx(dtw_jpe(a, b, scored=[1, 2, 3, 4, 5]), rel=1e-12)
    assert dtw_jpe(a, b, scored=[0]) == 0.0                       # the root against itself


def test_bad_input_is_a_user_error():
    a = np.zeros((5, 4, 3))
    for kwargs in ({"align": "pa"}, {"norm": "mean"}, {"unit": "cm"}, {"root": 9}, {"scored": [7]},
                   {"backend": "dtaidistance"}):
        with pytest.raises(UserError):
            dtw_jpe(a, a, **kwargs)
    with pytest.raises(UserError):
        dtw_jpe(a, np.zeros((5, 3, 3)))
    with pytest.raises(UserError):
        dtw_jpe(a, np.full((5, 4, 3), np.nan))


# ----------------------------------------------------------------------------- per-frame errors
@given(motion, st.integers(0, 2**31))
def test_pa_jpe_per_frame_similarity_invariance(a, seed):
    rng = np.random.default_rng(seed)
    moved = np.stack([rng.uniform(0.5, 2) * f @ random_rotation(rng).T + rng.normal(size=3) for f in a])
    assert pa_jpe(moved, a) == pytest.approx(0.0, abs=1e-6)
    assert pa_vpe(a + 0.01 * rng.normal(size=a.shape), a) > 0.0


def test_mpjpe_hand_case():
    ref = np.zeros((2, 2, 3))
    pred = np.zeros((2, 2, 3))
    pred[:, 1, 0] = [0.003, 0.004]                         # joint 1 off by 3 mm then 4 mm; root exact
    assert mpjpe(pred, ref) == pytest.approx((1.5 + 2.0) / 2)
    assert mpjpe(pred + 5.0, ref) == pytest.approx(1.75)
    with pytest.raises(UserError):
        mpjpe(pred[:1], ref)
