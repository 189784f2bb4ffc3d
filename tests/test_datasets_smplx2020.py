"""``datasets convert --from smplx2020-flame``: the SMPL-X 2020 + FLAME (BEAT2/EMAGE) parameter layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from m3t_bench.cli import main
from m3t_bench.datasets import open_split, verify_split
from m3t_bench.datasets.convert import smplx2020_flame_to_sequence
from m3t_bench.errors import UserError
from m3t_bench.motion import BODY_JOINT_NAMES, HAND_JOINT_NAMES, SMPLX_JOINT_NAMES, rot6d_to_matrix, write_npz


def _random_arrays(t: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"poses": rng.uniform(-1.0, 1.0, (t, 165)).astype(np.float32),
            "expressions": rng.normal(0, 1, (t, 100)), "betas": rng.normal(0, 1, 300).astype(np.float32),
            "trans": rng.normal(0, 1, (t, 3)), "mocap_frame_rate": np.array(30)}


def _matrices(seq_stream: np.ndarray) -> np.ndarray:
    return rot6d_to_matrix(torch.as_tensor(seq_stream, dtype=torch.float64)).numpy()


def test_joints_are_taken_by_name_and_expressions_kept_whole():
    arrays = _random_arrays()
    seq = smplx2020_flame_to_sequence(arrays)
    aa = arrays["poses"].reshape(7, 55, 3).astype(np.float64)
    # scipy's rotation vectors are an independent axis-angle implementation
    for i, name in enumerate(BODY_JOINT_NAMES):
        expect = Rotation.from_rotvec(aa[:, SMPLX_JOINT_NAMES.index(name)]).as_matrix()
        np.testing.assert_allclose(_matrices(seq.body[:, i]), expect, atol=1e-6)
    for side, stream in (("left", seq.lhand), ("right", seq.rhand)):
        for i, name in enumerate(HAND_JOINT_NAMES[side]):
            expect = Rotation.from_rotvec(aa[:, SMPLX_JOINT_NAMES.index(name)]).as_matrix()
            np.testing.assert_allclose(_matrices(stream[:, i]), expect, atol=1e-6)
    jaw = Rotation.from_rotvec(aa[:, SMPLX_JOINT_NAMES.index("jaw")]).as_matrix()
    np.testing.assert_allclose(_matrices(seq.face[:, 102:]), jaw, atol=1e-6)
    np.testing.assert_allclose(seq.face[:, :100], arrays["expressions"], atol=1e-6)
    assert not seq.face[:, 100:102].any()                      # eyelids absent -> 0
    np.testing.assert_array_equal(seq.shape, arrays["betas"][:10])
    assert seq.meta["fps"] == 30.0 and seq.meta["root_axis_angle"].shape == (7, 3)
    assert seq.problems() == []


@pytest.mark.parametrize("change, field", [
    (lambda a: a.pop("poses"), "poses"),
    (lambda a: a.update(poses=np.zeros((7, 156), np.float32)), "poses"),
    (lambda a: a.update(expressions=np.zeros((7, 50))), "expressions"),
    (lambda a: a.update(betas=np.zeros(4, np.float32)), "betas"),
    (lambda a: a["poses"].__setitem__((0, 0), np.nan), "poses"),
])
def test_bad_arrays_name_the_file_and_field(change, field):
    arrays = _random_arrays()
    change(arrays)
    with pytest.raises(UserError, match=f"x.npz: {field}"):
        smplx2020_flame_to_sequence(arrays, file="x.npz")


def test_cli_converts_a_folder_into_a_verified_split(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_npz(tmp_path / "in" / "clip_a.npz", _random_arrays(5, seed=1))
    write_npz(tmp_path / "in" / "clip_b.npz", _random_arrays(9, seed=2))
    rc = main(["datasets", "convert", str(tmp_path / "in"), "--from", "smplx2020-flame", "--out", str(tmp_path / "data"),
               "--name", "talk", "--split", "test", "--language", "en", "--fps", "30"])
    assert rc == 0
    split, problems = verify_split(tmp_path / "data" / "talk", "test")
    assert problems == [] and split.ids == ["clip_a", "clip_b"]
    assert split.card["source_format"] == "smplx2020-flame" and "eyelids (0)" in split.card["absent"]
    write_npz(tmp_path / "in" / "clip_c.npz", {"poses": np.zeros((3, 10), np.float32)})
    assert main(["datasets", "convert", str(tmp_path / "in"), "--from", "smplx2020-flame", "--out",
                 str(tmp_path / "data2"), "--name", "talk", "--split", "test", "--language", "en", "--fps", "30"]) == 2
    assert "clip_c.npz: poses: shape (3, 10)" in capsys.readouterr().err


@pytest.mark.realdata
def test_real_beat2_sequence_converts(shared_data, tmp_path):
    source = shared_data / "flame-motion" / "beat2_scott_0_1_1.npz"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / source.name).symlink_to(source)
    assert main(["datasets", "convert", str(tmp_path / "in"), "--from", "smplx2020-flame", "--out", str(tmp_path / "out"),
                 "--name", "beat2", "--split", "test", "--language", "en", "--fps", "30"]) == 0
    split = open_split(tmp_path / "out" / "beat2", "test")
    seq = split.load("beat2_scott_0_1_1")
    raw = np.load(source, allow_pickle=False)
    assert seq.n_frames == 1906 == split.entries[0]["n_frames"]
    np.testing.assert_allclose(seq.face[:, :100], raw["expressions"], atol=1e-6)
    assert np.abs(np.diff(seq.face[:, :100], axis=0)).mean() > 0     # real, moving FLAME expressions
    aa = raw["poses"].reshape(-1, 55, 3).astype(np.float64)
    expect = Rotation.from_rotvec(aa[:, SMPLX_JOINT_NAMES.index("right_wrist")]).as_matrix()
    np.testing.assert_allclose(_matrices(seq.body[:, BODY_JOINT_NAMES.index("right_wrist")]), expect, atol=1e-5)
    np.testing.assert_allclose(seq.shape, raw["betas"][:10], atol=1e-7)
