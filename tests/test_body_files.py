"""Model-file loading, the restricted unpickler, the stand-in generator and its CLI."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import types

import numpy as np
import pytest
import scipy.sparse
from smplx.vertex_ids import vertex_ids

from m3t_bench.body import SMPLFX, resolve_body_models
from m3t_bench.body.files import (CORRESPONDENCE_NAME, load_correspondence, load_flame_arrays, load_smplx_arrays,
                                  locate_body_model_files)
from m3t_bench.body.joint_sets import JOINT_SETS, LANDMARK_VERTEX_IDS
from m3t_bench.body.safe_pickle import load_model_pickle
from m3t_bench.body.skeleton import smplx_parents
from m3t_bench.cli import main
from m3t_bench.errors import UserError

#: The parent list stored in the official SMPL-X model files' kintree_table (published with the model).
OFFICIAL_SMPLX_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15, 20,
                          25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38, 21, 40, 41, 21, 43, 44, 21, 46, 47,
                          21, 49, 50, 21, 52, 53]


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_derived_tree_is_the_official_smplx_tree():
    assert list(smplx_parents()) == OFFICIAL_SMPLX_PARENTS


def test_standin_files_have_the_official_sizes(standin_dir):
    s = load_smplx_arrays(standin_dir / "smplx" / "SMPLX_NEUTRAL.npz")
    assert s["v_template"].shape == (10475, 3) and s["f"].shape == (20908, 3)
    assert s["shapedirs"].shape == (10475, 3, 400) and s["posedirs"].shape == (10475, 3, 486)
    assert s["J_regressor"].shape == (55, 10475) and s["weights"].shape == (10475, 55)
    np.testing.assert_allclose(s["weights"].sum(1, dtype=np.float64), 1, atol=1e-6)  # float64 sums: float32 ones depend on alignment
    np.testing.assert_allclose(s["J_regressor"].sum(1, dtype=np.float64), 1, atol=1e-6)
    assert (s["weights"] >= 0).all() and (s["J_regressor"] >= 0).all()
    assert s["f"].min() >= 0 and s["f"].max() < 10475
    assert list(s["kintree_table"][0, 1:]) == OFFICIAL_SMPLX_PARENTS[1:]
    f = load_flame_arrays(standin_dir / "flame" / "generic_model.pkl")
    assert f["v_template"].shape == (5023, 3) and f["f"].shape == (9976, 3) and f["shapedirs"].shape == (5023, 3, 400)
    assert f["J_regressor"].shape == (5, 5023) and f["f"].max() < 5023
    raw = load_model_pickle(standin_dir / "flame" / "generic_model.pkl")
    assert scipy.sparse.issparse(raw["J_regressor"]) and raw["posedirs"].shape == (5023, 3, 36)


def test_standin_proportions_and_landmarks(standin_dir):
    s = load_smplx_arrays(standin_dir / "smplx" / "SMPLX_NEUTRAL.npz")
    joints = s["J_regressor"] @ s["v_template"]
    from m3t_bench.motion.layout import SMPLX_JOINT_NAMES as N
    j = lambda n: joints[N.index(n)]  # noqa: E731
    assert 0.45 < np.linalg.norm(j("head") - j("pelvis")) < 0.65
    assert 0.5 < np.linalg.norm(j("left_wrist") - j("left_shoulder")) < 0.7
    v = s["v_template"]
    assert 0.15 < np.linalg.norm(v[vertex_ids["smplx"]["lmiddle"]] - j("left_wrist")) < 0.21
    assert 0.2 < v[:, 1].max() - v[vertex_ids["smplx"]["nose"]][1] + 0.1 < 0.35  # crown above nose
    corr = load_correspondence(standin_dir / CORRESPONDENCE_NAME)
    for name in ("nose", "reye", "leye", "rear", "lear"):
        assert vertex_ids["smplx"][name] in corr
    for name in ("thumb", "index", "middle", "ring", "pinky"):
        for side in "lr":
            tip = vertex_ids["smplx"][side + name]
            assert tip not in corr
            finger3 = j(f"{'left' if side == 'l' else 'right'}_{name}3")
            # the tip vertex is the mesh vertex farthest out along its finger
            assert 0.015 < np.linalg.norm(v[tip] - finger3) < 0.03
    assert set(LANDMARK_VERTEX_IDS.values()) <= set(range(10475))


def test_expression_directions_are_local_and_millimetric(standin_dir):
    f = load_flame_arrays(standin_dir / "flame" / "generic_model.pkl")
    expr = np.linalg.norm(f["shapedirs"][:, :, 300:], axis=1)  # (5023, 100)
    assert 0.002 < expr.max() < 0.006
    assert (expr > 0).mean(0).max() < 0.25  # each direction touches under a quarter of the head
    ident = np.linalg.norm(f["shapedirs"][:, :, :300], axis=1)
    assert 0.003 < ident.max() < 0.006 * 3 ** 0.5  # 6 mm peak per axis


def test_smplx_loads_the_standin_npz(standin_dir):
    """smplx's own loader accepts the file (an independent check of the format)."""
    import smplx
    layer = smplx.create(str(standin_dir), model_type="smplx", use_pca=True, num_pca_comps=12)
    out = layer()
    assert out.vertices.shape == (1, 10475, 3)


def test_generation_is_deterministic_and_cli_works(tmp_path, standin_dir, capsys):
    assert main(["assets", "standin", "--out", str(tmp_path / "a")]) == 0
    assert "smplfx-standin@1" in capsys.readouterr().out
    for rel in ("smplx/SMPLX_NEUTRAL.npz", "flame/generic_model.pkl", CORRESPONDENCE_NAME, "STANDIN.json"):
        assert sha(tmp_path / "a" / rel) == sha(standin_dir / rel), rel


def test_model_id_standin_marker_and_real_hash(tmp_path, standin_dir):
    assert locate_body_model_files(standin_dir).model_id == "smplfx-standin@1"
    real = tmp_path / "real"
    shutil.copytree(standin_dir, real)
    (real / "STANDIN.json").unlink()
    files = locate_body_model_files(real)
    digest = hashlib.sha256("".join(sha(p) for p in (files.smplx, files.flame, files.correspondence)).encode())
    assert files.model_id == "smplfx-" + digest.hexdigest()[:12]
    # a marker that does not match the files is refused
    tampered = tmp_path / "tampered"
    shutil.copytree(standin_dir, tampered)
    corr = np.load(tampered / CORRESPONDENCE_NAME)
    np.save(tampered / CORRESPONDENCE_NAME, corr[::-1].copy())
    with pytest.raises(UserError, match="STANDIN.json"):
        _ = locate_body_model_files(tampered).model_id


def test_flame2020_folder_name_and_pkl_smplx_are_accepted(tmp_path, standin_dir):
    alt = tmp_path / "alt"
    shutil.copytree(standin_dir, alt)
    (alt / "STANDIN.json").unlink()
    (alt / "flame").rename(alt / "FLAME2020")
    arrays = dict(np.load(alt / "smplx" / "SMPLX_NEUTRAL.npz"))
    (alt / "smplx" / "SMPLX_NEUTRAL.npz").unlink()
    (alt / "smplx" / "SMPLX_NEUTRAL.pkl").write_bytes(pickle.dumps(arrays, protocol=2))
    model = SMPLFX.from_dir(alt)
    assert model.model_id.startswith("smplfx-") and model.template.shape == (10995, 3)


def _fake_chumpy_pickle(value: np.ndarray) -> bytes:
    """A pickle referencing ``chumpy.ch.Ch`` as the official FLAME files do (chumpy is not installed)."""
    module = types.ModuleType("chumpy.ch")

    class Ch:
        pass
    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), module
    try:
        obj = Ch()
        obj.__dict__.update({"x": value, "_dirty_vars": set()})
        return pickle.dumps({"shapedirs": obj, "J_regressor": scipy.sparse.csc_matrix(np.eye(3))}, protocol=2)
    finally:
        del sys.modules["chumpy.ch"], sys.modules["chumpy"]


def test_chumpy_arrays_become_numpy(tmp_path):
    value = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    path = tmp_path / "model.pkl"
    path.write_bytes(_fake_chumpy_pickle(value))
    data = load_model_pickle(path)
    assert isinstance(data["shapedirs"], np.ndarray) and np.array_equal(data["shapedirs"], value)
    assert np.array_equal(data["J_regressor"].toarray(), np.eye(3))


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload, refused", [("system", "system"), ("eval", "eval")])
def test_malicious_pickles_are_refused_without_running(tmp_path, payload, refused):
    marker = tmp_path / "pwned"
    obj = _Evil(marker) if payload == "system" else _EvalEvil()
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": obj}, protocol=2))
    with pytest.raises(UserError, match=f"refused global .*{refused}") as err:
        load_model_pickle(path)
    assert str(path) in str(err.value) and not marker.exists()


def test_missing_files_and_bad_contents_name_the_file(tmp_path, standin_dir):
    with pytest.raises(UserError, match="body-model folder not found"):
        locate_body_model_files(tmp_path / "nope")
    broken = tmp_path / "broken"
    shutil.copytree(standin_dir, broken)
    (broken / "flame" / "generic_model.pkl").unlink()
    with pytest.raises(UserError, match="generic_model.pkl") as err:
        SMPLFX.from_dir(broken)
    assert str(broken) in str(err.value)
    np.save(broken / CORRESPONDENCE_NAME, np.arange(100))
    with pytest.raises(UserError, match=CORRESPONDENCE_NAME):
        load_correspondence(broken / CORRESPONDENCE_NAME)
    arrays = dict(np.load(standin_dir / "smplx" / "SMPLX_NEUTRAL.npz"))
    del arrays["J_regressor"]
    np.savez(broken / "smplx" / "SMPLX_NEUTRAL.npz", **arrays)
    with pytest.raises(UserError, match="SMPLX_NEUTRAL.npz: J_regressor: missing"):
        load_smplx_arrays(broken / "smplx" / "SMPLX_NEUTRAL.npz")
    arrays["J_regressor"] = np.zeros((55, 10))
    np.savez(broken / "smplx" / "SMPLX_NEUTRAL.npz", **arrays)
    with pytest.raises(UserError, match=r"J_regressor: shape \(55, 10\)"):
        load_smplx_arrays(broken / "smplx" / "SMPLX_NEUTRAL.npz")


def test_resolve_body_models(tmp_path, monkeypatch, standin_dir):
    monkeypatch.delenv("M3T_BODY_MODELS", raising=False)
    with pytest.raises(UserError, match="--body-models"):
        resolve_body_models(None)
    monkeypatch.setenv("M3T_BODY_MODELS", str(standin_dir))
    assert resolve_body_models(None) == standin_dir
    assert resolve_body_models(tmp_path) == tmp_path  # explicit wins
    with pytest.raises(UserError, match="not found"):
        resolve_body_models(tmp_path / "missing")


def test_joint_sets_are_consistent():
    assert JOINT_SETS["body"].points[0] == "spine2" and len(JOINT_SETS["body"].points) == 12
    for name in ("lhand", "rhand", "soke-lhand", "soke-rhand"):
        s = JOINT_SETS[name]
        assert len(s.points) == 21 and s.root == 0 and s.scored == tuple(range(21)) and "wrist" in s.points[0]
    face = JOINT_SETS["face"]
    assert face.points[0] == "head" and len(face.points) == 5024 and 0 not in face.scored
    soke = JOINT_SETS["soke-body"]
    assert soke.points[0] == "pelvis" and len(soke.scored) == 12 and 0 not in soke.scored
    assert json.dumps(sorted(JOINT_SETS)) == json.dumps(sorted(
        ["body", "lhand", "rhand", "face", "soke-body", "soke-lhand", "soke-rhand", "region-body", "region-hand",
         "region-face"]))
