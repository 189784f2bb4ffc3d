"""The SMPL-FX parameter contract (m3t_bench.motion): rotations, mirroring, validation, npz io."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.motion import (MotionSequence, axis_angle_to_matrix, load_sample, matrix_to_axis_angle,
                              matrix_to_rot6d, mirror_axis_angle, mirror_hand, rot6d_to_matrix, save_sample)

seeds = st.integers(0, 2 ** 31 - 1)


def random_rotations(seed: int, n: int = 64) -> torch.Tensor:
    return torch.as_tensor(Rotation.random(n, random_state=seed).as_matrix())


@given(seeds)
def test_rot6d_round_trip(seed):
    r = random_rotations(seed)
    np.testing.assert_allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=1e-12)
    x = matrix_to_rot6d(r)
    np.testing.assert_allclose(matrix_to_rot6d(rot6d_to_matrix(x)), x, atol=1e-12)


@given(seeds)
def test_axis_angle_round_trip_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    axis = rng.standard_normal((64, 3))
    aa = axis / np.linalg.norm(axis, axis=1, keepdims=True) * rng.uniform(0, np.pi - 1e-3, (64, 1))
    m = axis_angle_to_matrix(torch.as_tensor(aa))
    np.testing.assert_allclose(m, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(matrix_to_axis_angle(m)), m, atol=1e-9)
    np.testing.assert_allclose(matrix_to_axis_angle(m), aa, atol=1e-6)


@given(seeds)
def test_gram_schmidt_output_is_a_rotation(seed):
    x = torch.as_tensor(np.random.default_rng(seed).standard_normal((128, 6)))
    m = rot6d_to_matrix(x)
    np.testing.assert_allclose(m.transpose(-1, -2) @ m, torch.eye(3).expand(128, 3, 3).double(), atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(m), np.ones(128), atol=1e-12)
    # the first column keeps the direction of the first 6D column
    np.testing.assert_allclose(m[:, :, 0], x[:, :3] / x[:, :3].norm(dim=1, keepdim=True), atol=1e-12)


@given(seeds)
def test_mirroring_is_an_involution_and_equals_m_r_m(seed):
    r = random_rotations(seed)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    x = matrix_to_rot6d(r)
    np.testing.assert_allclose(mirror_hand(mirror_hand(x)), x, atol=0)
    np.testing.assert_allclose(rot6d_to_matrix(mirror_hand(x)), mirror @ r @ mirror, atol=1e-12)
    aa = matrix_to_axis_angle(r)
    np.testing.assert_allclose(axis_angle_to_matrix(mirror_axis_angle(aa)), mirror @ r @ mirror, atol=1e-9)
    np.testing.assert_array_equal(mirror_hand(x.numpy()), mirror_hand(x).numpy())


def sample(t: int = 5, seed: int = 0) -> MotionSequence:
    rng = np.random.default_rng(seed)
    eye6 = np.array([1, 0, 0, 0, 1, 0], dtype=np.float32)
    face = np.concatenate([rng.standard_normal((t, 102)), np.tile(eye6, (t, 1))], 1).astype(np.float32)
    return MotionSequence(body=np.tile(eye6, (t, 12, 1)), lhand=np.tile(eye6, (t, 15, 1)),
                          rhand=np.tile(eye6, (t, 15, 1)), face=face)


def test_problems_reports_every_defect_at_once():
    seq = sample()
    seq.body = seq.body[:, :11]                    # wrong shape
    seq.lhand = seq.lhand.copy()
    seq.lhand[2, 3, 0] = np.nan                    # NaN
    seq.rhand = seq.rhand.copy()
    seq.rhand[1, 0] = 0.0                          # degenerate 6D
    seq.face = seq.face[:4]                        # frame count mismatch
    problems = seq.problems()
    text = "\n".join(problems)
    assert len(problems) >= 4
    for needle in ("body: shape", "lhand:", "NaN", "rhand:", "orthonormalised", "frame counts differ"):
        assert needle in text, needle
    with pytest.raises(ValidationFailed):
        seq.validate()
    assert sample().problems() == []
    empty = MotionSequence(**{k: v[:0] for k, v in sample().streams().items()})
    assert any("0 frames" in p for p in empty.problems())


def test_save_load_round_trip_is_exact_and_reproducible(tmp_path):
    seq = sample(7, seed=3)
    a, b = save_sample(tmp_path / "a.npz", seq), save_sample(tmp_path / "b.npz", seq)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    back = load_sample(a)
    for name, arr in seq.streams().items():
        np.testing.assert_array_equal(getattr(back, name), arr)
    np.testing.assert_array_equal(MotionSequence.from_features(seq.features()).features(), seq.features())


def test_pickled_object_arrays_are_refused_with_file_and_field(tmp_path):
    arrays = sample().to_arrays()
    arrays["face"] = np.array([object()] * 3, dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserError) as err:
        load_sample(path)
    assert str(path) in str(err.value) and "face" in str(err.value) and "pickle" in str(err.value)


def test_truncated_or_non_zip_files_are_user_errors(tmp_path):
    good = save_sample(tmp_path / "good.npz", sample())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    for path in (truncated, text, tmp_path / "missing.npz"):
        with pytest.raises(UserError) as err:
            load_sample(path)
        assert str(path) in str(err.value)
    assert zipfile.is_zipfile(good)
