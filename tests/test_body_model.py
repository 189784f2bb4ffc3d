"""SMPL-FX forward pass: rest pose, kinematic invariants, agreement between paths and with smplx itself."""

from __future__ import annotations

import numpy as np
import pytest
import smplx
import torch
from smplx.lbs import lbs

from m3t_bench.body import JOINT_SETS, OUTPUT_JOINT_NAMES, SMPLFX
from m3t_bench.body.assembly import N_NECK_RINGS, N_TEETH
from m3t_bench.body.skeleton import smplx_parents
from m3t_bench.motion import axis_angle_to_matrix, identity_rot6d, matrix_to_rot6d, rot6d_to_axis_angle
from m3t_bench.motion.layout import SMPLX_JOINT_NAMES


def random_params(n: int, seed: int, *, noise: float = 0.4, expression: float = 1.0, jaw: bool = True):
    g = torch.Generator().manual_seed(seed)
    face = torch.cat([expression * torch.randn(n, 102, generator=g), identity_rot6d(n)], 1)
    if jaw:
        face[:, 102:] += 0.2 * torch.randn(n, 6, generator=g)
    return {"body": identity_rot6d(n, 12) + noise * torch.randn(n, 12, 6, generator=g),
            "lhand": identity_rot6d(n, 15) + noise * torch.randn(n, 15, 6, generator=g),
            "rhand": identity_rot6d(n, 15) + noise * torch.randn(n, 15, 6, generator=g),
            "face": face}


def rest_params(n: int = 1):
    face = torch.zeros(n, 108)
    face[:, 102:] = identity_rot6d(n)
    return {"body": identity_rot6d(n, 12), "lhand": identity_rot6d(n, 15), "rhand": identity_rot6d(n, 15), "face": face}


def test_sizes_and_names(smplfx):
    out = smplfx(**rest_params(2))
    assert out.vertices.shape == (2, 10475 + N_TEETH, 3) == (2, 10995, 3)
    assert out.joints.shape == (2, 42, 3) and len(smplfx.joint_names) == 42
    assert smplfx.joint_names == OUTPUT_JOINT_NAMES and smplfx.model_id == "smplfx-standin@1"
    assert int(smplfx.faces.max()) < 10995 and out.vertices.dtype == torch.float32


def test_zero_pose_returns_template_joints(smplfx, standin_dir):
    """Rest pose: J_regressor (from the file) applied to SMPL-FX's template, computed here in numpy."""
    data = np.load(standin_dir / "smplx" / "SMPLX_NEUTRAL.npz")
    expected = data["J_regressor"].astype(np.float64) @ smplfx.template[:10475].double().numpy()
    idx = [SMPLX_JOINT_NAMES.index(n) for n in OUTPUT_JOINT_NAMES]
    got = smplfx(**rest_params()).joints[0].double().numpy()
    np.testing.assert_allclose(got, expected[idx], atol=1e-6)


def test_matches_smplx_away_from_the_head(smplfx, standin_dir):
    """Independent check: smplx's own SMPLX class, loading our stand-in npz, posed with the same rotations,
    gives the same body/finger joints and the same vertices outside the FLAME region (where SMPL-FX
    changes nothing), with no expression and no shape."""
    p = random_params(3, seed=1, expression=0.0)
    ours = smplfx(**p)
    layer = smplx.create(str(standin_dir), model_type="smplx", use_pca=False, flat_hand_mean=True,
                         num_betas=10, num_expression_coeffs=10, batch_size=3)
    aa = lambda x: rot6d_to_axis_angle(x).reshape(3, -1)  # noqa: E731
    body_pose = torch.zeros(3, 21, 3)
    names = SMPLX_JOINT_NAMES[1:22]
    for k, name in enumerate(OUTPUT_JOINT_NAMES[:12]):
        body_pose[:, names.index(name)] = rot6d_to_axis_angle(p["body"][:, k])
    ref = layer(body_pose=body_pose.reshape(3, -1), left_hand_pose=aa(p["lhand"]), right_hand_pose=aa(p["rhand"]),
                jaw_pose=rot6d_to_axis_angle(p["face"][:, 102:]))
    idx = [SMPLX_JOINT_NAMES.index(n) for n in OUTPUT_JOINT_NAMES if n != "head"]
    keep = [k for k, n in enumerate(OUTPUT_JOINT_NAMES) if n != "head"]
    np.testing.assert_allclose(ours.joints[:, keep].detach(), ref.joints[:, idx].detach(), atol=2e-5)
    body = np.setdiff1d(np.arange(10475), smplfx.flame_ids.numpy())
    np.testing.assert_allclose(ours.vertices[:, body].detach(), ref.vertices[:, body].detach(), atol=2e-5)


def test_full_path_equals_smplx_lbs_on_assembled_buffers(smplfx):
    """Our skinning (dropped lower body, split blend shapes) equals smplx.lbs.lbs on dense buffers."""
    p = random_params(2, seed=2)
    shape = torch.randn(310, generator=torch.Generator().manual_seed(3))
    ours = smplfx(**p, shape=shape).vertices[:, :10475].double()
    m = smplfx
    nv = 10475
    dirs = torch.zeros(nv, 3, 412, dtype=torch.float64)
    dirs[:, :, :10] = m.body_dirs.double()
    dirs[m.flame_ids, :, 10:] = m.flame_dirs.double()
    coeffs = torch.cat([shape.double().expand(2, -1), p["face"][:, :102].double()], 1)
    rot = torch.eye(3, dtype=torch.float64).repeat(2, 55, 1, 1)
    from m3t_bench.motion import rot6d_to_matrix
    from m3t_bench.body.model import POSED_JOINT_NAMES
    driven = rot6d_to_matrix(torch.cat([p["body"], p["lhand"], p["rhand"], p["face"][:, None, 102:]], 1)).double()
    for k, name in enumerate(POSED_JOINT_NAMES):
        rot[:, SMPLX_JOINT_NAMES.index(name)] = driven[:, k]
    posedirs = torch.zeros(486, nv * 3, dtype=torch.float64)
    rows = np.concatenate([np.arange(9 * (SMPLX_JOINT_NAMES.index(n) - 1), 9 * SMPLX_JOINT_NAMES.index(n))
                           for n in POSED_JOINT_NAMES])
    posedirs[rows] = m.posedirs.double()
    weights = torch.zeros(nv, 55, dtype=torch.float64)
    weights[:, m.chain] = m.lbs_weights[:nv].double()
    lower = [j for j in range(55) if j not in m.chain.tolist()]
    weights[:, lower[0]] = m.static_weight[:nv].double()  # identity-transformed joints are interchangeable
    ref, _ = lbs(coeffs, rot, m.template[:nv].double(), dirs, posedirs, m.J_regressor.double(),
                 torch.tensor(smplx_parents()), weights, pose2rot=False)
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def _bone_pairs():
    parents = smplx_parents()
    out = []
    for k, name in enumerate(OUTPUT_JOINT_NAMES):
        parent = SMPLX_JOINT_NAMES[parents[SMPLX_JOINT_NAMES.index(name)]]
        if parent in OUTPUT_JOINT_NAMES:
            out.append((k, OUTPUT_JOINT_NAMES.index(parent)))
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_bone_lengths_preserved_under_random_poses(smplfx, seed):
    pairs = _bone_pairs()
    assert len(pairs) >= 38
    rest = smplfx(**rest_params()).joints[0]
    posed = smplfx.joints(**random_params(8, seed, noise=1.0))
    length = lambda j: (j[..., pairs[:, 0], :] - j[..., pairs[:, 1], :]).norm(dim=-1)  # noqa: E731
    np.testing.assert_allclose(length(posed), length(rest).expand(8, -1), atol=2e-6)


def test_rotating_spine2_rotates_every_output_joint_rigidly(smplfx):
    """spine2 is the root of every output joint and its parents are at identity, so composing a rotation
    R onto spine2 maps every joint x to s + R (x − s), s = spine2's position."""
    p = random_params(4, seed=7)
    before = smplfx.joints(**p)
    g = torch.Generator().manual_seed(8)
    r = axis_angle_to_matrix(torch.randn(4, 3, generator=g))
    from m3t_bench.motion import rot6d_to_matrix
    q = dict(p, body=p["body"].clone())
    q["body"][:, 0] = matrix_to_rot6d(r @ rot6d_to_matrix(p["body"][:, 0]))
    after = smplfx.joints(**q)
    s = before[:, :1]
    np.testing.assert_allclose(after, s + (before - s) @ r.transpose(1, 2), atol=3e-6)


def test_expression_moves_only_head_vertices_and_the_seam_stays_continuous(smplfx):
    rest = rest_params()
    base = smplfx(**rest).vertices[0]
    moved = dict(rest, face=rest["face"].clone())
    moved["face"][:, :100] = 2.0 * torch.randn(1, 100, generator=torch.Generator().manual_seed(5))
    delta = (smplfx(**moved).vertices[0] - base).norm(dim=-1)
    head = torch.zeros(10995, dtype=torch.bool)
    head[smplfx.flame_ids] = True
    assert delta[~head].max() == 0 and delta[head].max() > 2e-3
    neck_y = base[smplfx.flame_ids[smplfx.neck_ratio > 0], 1].max()
    assert (base[delta > 0, 1] > neck_y).all()  # only vertices above the neck rings move


def test_head_shape_blends_over_the_neck_rings(smplfx):
    """FLAME head shape moves the whole head; across the seam and from ring to ring the displacement
    changes by at most one ring step (0.2 of the FLAME displacement), never a full jump."""
    rest = rest_params()
    base = smplfx(**rest).vertices[0, :10475]
    shape = torch.zeros(310)
    shape[10:] = torch.randn(300, generator=torch.Generator().manual_seed(6))
    disp = smplfx(**rest, shape=shape).vertices[0, :10475] - base
    faces = smplfx.faces[:20908]
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    stretch = (disp[edges[:, 0]] - disp[edges[:, 1]]).norm(dim=-1)
    ratio = torch.full((10475,), -1.0)
    ratio[smplfx.flame_ids] = smplfx.neck_ratio
    seam_edges = (ratio[edges[:, 0]] < 0) != (ratio[edges[:, 1]] < 0)
    flame_scale = smplfx.flame_dirs[:, :, :300] @ shape[10:]
    raw = (flame_scale / (1 - smplfx.neck_ratio)[:, None]).norm(dim=-1).max()
    assert seam_edges.any() and stretch[seam_edges].max() <= 0.1 * raw + 1e-6
    assert stretch.max() <= 0.25 * raw
    assert sorted(set(smplfx.neck_ratio.tolist()) - {0.0}) == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    assert N_NECK_RINGS == 5


def test_joints_only_path_equals_full_path(smplfx):
    p = random_params(3, seed=11)
    shape = 0.5 * torch.randn(3, 310, generator=torch.Generator().manual_seed(12))
    np.testing.assert_allclose(smplfx.joints(**p, shape=shape), smplfx(**p, shape=shape).joints, atol=1e-6)


@pytest.mark.parametrize("name", sorted(JOINT_SETS))
def test_evaluation_points_equal_rows_of_the_full_output(smplfx, name):
    from m3t_bench.body.joint_sets import point_kind
    p = random_params(2, seed=13)
    shape = 0.5 * torch.randn(310, generator=torch.Generator().manual_seed(14))
    got = smplfx.evaluation_points(name, **p, shape=shape)
    full = smplfx(**p, shape=shape)
    all_joints = smplfx._pose(*smplfx._inputs(p["body"], p["lhand"], p["rhand"], p["face"], shape))[0]
    chain = smplfx.chain.tolist()
    expected = []
    for point in smplfx.joint_set(name).points:
        kind, idx = point_kind(point)
        if kind == "joint":
            expected.append(all_joints[:, chain.index(idx)])
        elif kind == "vertex":
            expected.append(full.vertices[:, idx])
        elif kind == "flame":
            expected.append(full.vertices[:, smplfx.flame_ids[idx]])
        else:
            expected.append(full.vertices[:, :10475].transpose(1, 2) @ smplfx.J_regressor[idx])
    np.testing.assert_allclose(got, torch.stack(expected, 1), atol=2e-6)
    if name == "face":
        np.testing.assert_allclose(smplfx.face_vertices(**p, shape=shape), got[:, 1:])


def test_eyelids_close_only_their_own_eye(smplfx):
    rest = rest_params()
    base = smplfx(**rest).vertices[0]
    for k, eye in ((100, "left_eye"), (101, "right_eye")):
        moved = dict(rest, face=rest["face"].clone())
        moved["face"][:, k] = 1.0
        d = smplfx(**moved).vertices[0] - base
        changed = d.norm(dim=-1) > 0
        assert 0.005 < -d[:, 1].min() <= 0.0091 and (d[:, [0, 2]] == 0).all()
        side = 1 if eye == "left_eye" else -1
        assert (side * base[changed, 0] > 0).all()


def test_teeth_follow_the_jaw_rigidly(smplfx):
    rest = rest_params()
    jaw = dict(rest, face=rest["face"].clone())
    jaw["face"][:, 102:] = matrix_to_rot6d(axis_angle_to_matrix(torch.tensor([[0.3, 0.0, 0.0]])))
    a, b = smplfx(**rest).vertices[0, 10475:], smplfx(**jaw).vertices[0, 10475:]
    assert torch.equal(a[:260], b[:260])                       # upper teeth on the head
    pd = lambda x: (x[:, None].double() - x[None].double()).norm(dim=-1)  # noqa: E731
    np.testing.assert_allclose(pd(b[260:]), pd(a[260:]), atol=1e-6)  # lower teeth: rigid motion
    assert (b[260:] - a[260:]).norm(dim=-1).max() > 5e-3


def test_batched_inputs_and_bad_shapes(smplfx):
    from m3t_bench.errors import UserError
    p = random_params(2, seed=3)
    one = smplfx.joints(**{k: v[1:] for k, v in p.items()})
    np.testing.assert_allclose(smplfx.joints(**p)[1:], one, atol=1e-6)
    with pytest.raises(UserError, match="lhand"):
        smplfx.joints(**dict(p, lhand=p["lhand"][:, :14]))
    with pytest.raises(UserError, match="shape"):
        smplfx.joints(**p, shape=torch.zeros(7))
    with pytest.raises(UserError, match="unknown joint set"):
        smplfx.evaluation_points("hands", **p)


def test_float64_copy_agrees(smplfx, standin_dir):
    m64 = SMPLFX.from_dir(standin_dir, dtype=torch.float64)
    p = random_params(2, seed=4)
    np.testing.assert_allclose(m64(**{k: v.double() for k, v in p.items()}).vertices, smplfx(**p).vertices, atol=1e-5)


def test_render_frame_writes_a_png_of_the_body(smplfx, tmp_path):
    import struct
    import zlib
    from m3t_bench.body.demo import render_frame
    png = render_frame(smplfx, None, tmp_path / "frame.png", size=96).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    idat = png.index(b"IDAT")
    raw = zlib.decompress(png[idat + 4: idat + 4 + struct.unpack(">I", png[idat - 4:idat])[0]])
    pixels = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + 3 * width)[:, 1:].reshape(height, width, 3)
    assert (width, height) == (96, 96) and (pixels != 255).any(axis=2).mean() > 0.05  # the figure is drawn


def test_chain_transforms_equal_smplx_batch_rigid_transform():
    """Our forward kinematics against smplx's own implementation on the SMPL-X tree with random rotations."""
    from smplx.lbs import batch_rigid_transform

    from m3t_bench.body.model import chain_transforms

    gen = torch.Generator().manual_seed(3)
    parents = [int(p) for p in smplx_parents()]
    rot = axis_angle_to_matrix(torch.randn(7, len(parents), 3, generator=gen, dtype=torch.float64))
    rest = torch.randn(7, len(parents), 3, generator=gen, dtype=torch.float64)
    posed, transforms = chain_transforms(rot, rest, parents)
    ref_posed, ref_transforms = batch_rigid_transform(rot, rest, torch.tensor(parents), dtype=torch.float64)
    torch.testing.assert_close(posed, ref_posed, rtol=0, atol=1e-12)
    torch.testing.assert_close(transforms, ref_transforms[:, :, :3, :], rtol=0, atol=1e-12)


def test_several_sets_in_one_pass_equal_one_set_at_a_time(smplfx):
    params = random_params(5, seed=11)
    params["shape"] = torch.randn(310, generator=torch.Generator().manual_seed(12))
    names = ("body", "lhand", "rhand", "soke-body")
    together = smplfx.evaluation_points_many(names, **params)
    assert list(together) == list(names)
    for name in names:
        torch.testing.assert_close(together[name], smplfx.evaluation_points(name, **params), rtol=0, atol=1e-6)


def test_chunked_evaluation_equals_one_pass(smplfx, monkeypatch):
    """Long inputs are evaluated in frame chunks; a per-frame shape array is sliced with them."""
    import m3t_bench.body.model as model_module

    params = random_params(7, seed=5)
    params["shape"] = torch.randn(7, 310, generator=torch.Generator().manual_seed(6))
    whole = smplfx.evaluation_points_many(("rhand", "face"), **params)
    monkeypatch.setattr(model_module, "FRAME_CHUNK", 3)
    chunked = smplfx.evaluation_points_many(("rhand", "face"), **params)
    for name in whole:
        torch.testing.assert_close(chunked[name], whole[name], rtol=0, atol=1e-6)


@pytest.mark.parametrize("modality,streams", [("body", ("body",)), ("hand", ("lhand", "rhand")), ("face", ("face",))])
def test_region_sets_hold_exactly_the_vertices_a_modality_moves(smplfx, modality, streams):
    """Independent of how regions are resolved (skinning weights, pose correctives, blend shapes): under a
    random change of the modality's streams no vertex outside the region moves, and the region's do."""
    region = torch.zeros(10995, dtype=torch.bool)
    region[[int(p.split(":")[1]) for p in smplfx.joint_set(f"region-{modality}").points]] = True
    rest = random_params(4, seed=21)
    moved = dict(rest)
    other = random_params(4, seed=22, noise=0.5, expression=2.0)
    for stream in streams:
        moved[stream] = other[stream]
    delta = (smplfx(**moved).vertices - smplfx(**rest).vertices).norm(dim=-1).amax(dim=0)
    assert region.any() and not (delta[~region] > 0).any()
    assert (delta[region] > 0).float().mean() > 0.99


def test_one_shape_vector_for_many_frames_on_every_path(smplfx):
    """A single (310,) shape serves every frame, also when the mesh rows are posed in several frame chunks."""
    params = random_params(70, seed=31)
    shape = torch.randn(310, generator=torch.Generator().manual_seed(32))
    shared = smplfx(**params, shape=shape)
    repeated = smplfx(**params, shape=shape.expand(70, -1))
    torch.testing.assert_close(shared.vertices, repeated.vertices, rtol=0, atol=1e-6)
    face = smplfx.evaluation_points("face", **params, shape=shape)
    torch.testing.assert_close(face, smplfx.evaluation_points("face", **params, shape=shape.expand(70, -1)),
                               rtol=0, atol=1e-6)
