"""SMPL-FX: SMPL-X with its head replaced by FLAME (paper appendix C), on ``smplx``'s kinematics.

Buffers come from :func:`m3t_bench.body.assembly.assemble_smplfx`; the forward pass follows the paper's
order: FLAME shape + expression (retargeted to full-body buffers, non-zero only on the 5,023 FLAME
vertices), eyelid offsets, SMPL-X body shape (zeroed on the head, blended over 5 neck rings), SMPL-X
pose correctives, then linear blend skinning with SMPL-X's joint regressor and weights
(``smplx.lbs.blend_shapes``, ``vertices2joints``; the chain of rigid transforms is ours, checked against
``smplx.lbs.batch_rigid_transform`` in the tests). 520 rigid teeth vertices
follow the head (upper) and jaw (lower) joints: 10,475 + 520 = 10,995 vertices.

Inputs (6D rotations, :func:`m3t_bench.motion.rot6d_to_matrix`): ``body (N,12,6)`` for
``BODY_JOINT_NAMES``, ``lhand (N,15,6)`` / ``rhand (N,15,6)`` in each hand's own SMPL-X convention (the
left hand as stored on disk, not mirrored), ``face (N,108)`` = 100 expression, 2 eyelids (left, right),
jaw 6D; optional ``shape`` ``(310,)``/``(N,310)`` (10 SMPL-X body + 300 FLAME head coefficients; a
``(10,)`` body-only vector is zero-padded). Root orientation, translation, pelvis, spine1 and the eyes
are held at identity; the 8 lower-body joints (hips, knees, ankles, feet) are dropped from the chain.

Output joints ``(N,42,3)``: the 12 body-stream joints then the 15 left and 15 right finger joints
(``model.joint_names``). This is the project's reading of the paper's "42 pose joints": the paper says
FLAME's eye joints are kept and 11 lower-body joints dropped, which does not add up to 42 from SMPL-X's
55 (12 joints are below spine2); we count the rotations SMPL-FX's parameters drive (12 + 30) and keep
jaw and eye joints internal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import blend_shapes, vertices2joints
from torch import Tensor, nn

from m3t_bench.body.assembly import assemble_smplfx
from m3t_bench.body.files import load_correspondence, load_flame_arrays, load_smplx_arrays, locate_body_model_files
from m3t_bench.body.joint_sets import VERTEX_PREFIX, JointSet, get_joint_set, point_kind
from m3t_bench.body.skeleton import LOWER_BODY_JOINT_NAMES
from m3t_bench.errors import UserError
from m3t_bench.motion.layout import (BODY_JOINT_NAMES, FACE_DIM, FACE_EXPRESSION, FACE_EYELIDS, FACE_JAW_6D,
                                     HAND_JOINT_NAMES, N_BODY_SHAPE, SHAPE_DIM, SMPLX_JOINT_NAMES)
from m3t_bench.motion.rotations import rot6d_to_matrix

#: Output joint order (42): body stream, left fingers, right fingers.
OUTPUT_JOINT_NAMES: tuple[str, ...] = (*BODY_JOINT_NAMES, *HAND_JOINT_NAMES["left"], *HAND_JOINT_NAMES["right"])
#: Joints whose rotations the parameters drive (body, fingers, jaw), in input order.
POSED_JOINT_NAMES: tuple[str, ...] = (*OUTPUT_JOINT_NAMES, "jaw")
#: The kinematic chain SMPL-FX runs: SMPL-X's joints without the lower body, in model-file order.
CHAIN_JOINT_NAMES: tuple[str, ...] = tuple(n for n in SMPLX_JOINT_NAMES if n not in LOWER_BODY_JOINT_NAMES)
#: The joints each parameter stream rotates (the face stream also drives the expression and eyelid blends).
STREAM_JOINT_NAMES: dict[str, tuple[str, ...]] = {"body": BODY_JOINT_NAMES, "lhand": HAND_JOINT_NAMES["left"],
                                                  "rhand": HAND_JOINT_NAMES["right"], "face": ("jaw",)}


def chain_transforms(rot: Tensor, rest: Tensor, parents: list[int]) -> tuple[Tensor, Tensor]:
    """Forward kinematics along a tree in topological order.

    ``rot (N, J, 3, 3)`` local rotations, ``rest (N|1, J, 3)`` rest-pose joint positions, ``parents[j]`` the
    parent index (-1 for the root). Returns the posed joints ``(N, J, 3)`` and the skinning transforms
    ``(N, J, 3, 4)`` ``[R_j | p_j - R_j rest_j]`` (global rotation, translation that maps rest to posed), the
    quantities ``smplx.lbs.batch_rigid_transform`` returns, computed with 3x3 products only.
    """
    n = rot.shape[0]
    rest = rest.expand(n, -1, -1)
    bone = rest - rest[:, [max(p, 0) for p in parents]]
    bone[:, [j for j, p in enumerate(parents) if p < 0]] = rest[:, [j for j, p in enumerate(parents) if p < 0]]
    glob_rot: list[Tensor] = []
    glob_pos: list[Tensor] = []
    for j, p in enumerate(parents):
        if p < 0:
            glob_rot.append(rot[:, j])
            glob_pos.append(bone[:, j])
        else:
            glob_rot.append(glob_rot[p] @ rot[:, j])
            glob_pos.append(glob_pos[p] + (glob_rot[p] @ bone[:, j, :, None])[..., 0])
    rotations = torch.stack(glob_rot, 1)
    posed = torch.stack(glob_pos, 1)
    offsets = posed - (rotations @ rest[..., None])[..., 0]
    return posed, torch.cat([rotations, offsets[..., None]], -1)


#: Frames per chunk on the evaluation-point path: the kinematic chain's intermediate tensors stay in cache
#: (measured ~1.8x faster than one pass over a whole split on a 2-core CPU).
FRAME_CHUNK = 2048

#: Mesh-row values (frames x rows x 3) computed per chunk on the evaluation-point path: small enough for the
#: intermediate tensors to stay in cache (about 4 MB), large enough for efficient matrix products.
VERTEX_CHUNK_VALUES = 1 << 20


def blend_distinct_rows(coeffs: Tensor, dirs: Tensor) -> Tensor:
    """``blend_shapes`` for per-frame coefficients ``coeffs (N, K)`` and directions ``dirs (P, 3, K)`` ->
    ``(N, P, 3)``, computed once per run of equal consecutive rows: a batch of frames holds a few samples,
    each with one shape vector repeated over its frames."""
    if coeffs.shape[0] <= 1:
        return blend_shapes(coeffs, dirs)
    starts = torch.ones(coeffs.shape[0], dtype=torch.bool, device=coeffs.device)
    starts[1:] = (coeffs[1:] != coeffs[:-1]).any(dim=1)
    if bool(starts.all()):
        return blend_shapes(coeffs, dirs)
    run_of_row = torch.cumsum(starts, 0) - 1
    return blend_shapes(coeffs[starts], dirs)[run_of_row]


def _take_rows(values: Tensor, rows: np.ndarray, dim: int = 0) -> Tensor:
    """``values`` indexed by the vertex ids ``rows`` along ``dim``; ids beyond its size (the teeth, which
    SMPL-X's buffers do not hold) give zeros."""
    valid = rows < values.shape[dim]
    shape = list(values.shape)
    shape[dim] = len(rows)
    taken = values.index_select(dim, torch.as_tensor(rows[valid], device=values.device))
    if bool(valid.all()):
        return taken
    return values.new_zeros(shape).index_copy(dim, torch.as_tensor(np.nonzero(valid)[0], device=values.device), taken)


@dataclass(frozen=True)
class MeshRows:
    """The mesh rows an evaluation plan poses and the buffers sliced to them (R rows, vertex ids ``rows``):
    ``linear`` ``(102 + n_pose + 1, R·3)`` = expression/eyelid directions, the pose correctives that move these
    rows (pose features ``pose_rows``) and the template, applied in one product; ``body_dirs (R, 3, 10)`` and
    ``flame_shape_dirs (R, 3, 300)``; skinning ``weights (R, K)`` over the plan's chain columns
    ``weight_cols (K,)`` and ``static (R,)``, the share of the identity-held joints; ``regressor (n_reg, R)``
    for ``regressed:`` points."""

    rows: Tensor
    linear: Tensor
    pose_rows: Tensor
    body_dirs: Tensor
    flame_shape_dirs: Tensor
    weights: Tensor
    weight_cols: Tensor
    static: Tensor
    regressor: Tensor


@dataclass(frozen=True)
class EvaluationPlan:
    """How to compute a list of points: the kinematic ``chain`` subset (chain positions closed under
    ancestors, ascending) with its re-indexed ``parents``, the mesh rows to pose (``None``: joints only) and
    ``gather (P,)``: each point's column in [posed chain joints | posed rows | regressed joints]."""

    chain: tuple[int, ...]
    parents: tuple[int, ...]
    gather: Tensor
    mesh: MeshRows | None


@dataclass
class SMPLFXOutput:
    """``vertices (N, 10995, 3)`` and ``joints (N, 42, 3)`` in metres."""

    vertices: Tensor
    joints: Tensor


class SMPLFX(nn.Module):
    """The SMPL-FX body model (see the module docstring). Build with :meth:`from_dir`."""

    def __init__(self, smplx: dict, flame: dict, correspondence: np.ndarray, *, model_id: str,
                 dtype: torch.dtype = torch.float32, source: str | Path | None = None):
        super().__init__()
        b = assemble_smplfx(smplx, flame, correspondence, file=source)
        self.model_id = model_id
        self.joint_names = OUTPUT_JOINT_NAMES
        self.n_smplx_vertices = len(smplx["v_template"])
        chain = [SMPLX_JOINT_NAMES.index(n) for n in CHAIN_JOINT_NAMES]
        position = {j: k for k, j in enumerate(chain)}
        parents = [position.get(int(b["parents"][j]), -1) for j in chain]
        posed = [SMPLX_JOINT_NAMES.index(n) for n in POSED_JOINT_NAMES]
        posedirs = b["posedirs"].reshape(self.n_smplx_vertices * 3, -1).T  # (9·54, V·3), smplx's layout
        posed_rows = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in posed])
        dropped = [j for j in range(len(SMPLX_JOINT_NAMES)) if j not in position]
        reg = b["J_regressor"]
        t = lambda a, kind=dtype: torch.as_tensor(np.ascontiguousarray(a), dtype=kind)  # noqa: E731
        self.register_buffer("template", t(b["template"]))                          # (10995, 3)
        self.register_buffer("faces", t(b["faces"], torch.long))                    # (20908 + 1000, 3)
        self.register_buffer("body_dirs", t(b["body_dirs"]))                        # (10475, 3, 10)
        self.register_buffer("flame_dirs", t(b["flame_dirs"]))                      # (5023, 3, 402)
        self.register_buffer("flame_ids", t(correspondence, torch.long))            # (5023,)
        self.register_buffer("neck_ratio", t(b["neck_ratio"]))                      # (5023,)
        self.register_buffer("posedirs", t(posedirs[posed_rows]))                   # (9·43, 10475·3)
        self.register_buffer("J_regressor", t(reg))                                 # (55, 10475)
        self.register_buffer("joint_template", t(reg @ b["template"][:self.n_smplx_vertices]))        # (55, 3)
        self.register_buffer("joint_body_dirs", t(np.einsum("jv,vck->jck", reg, b["body_dirs"])))     # (55,3,10)
        self.register_buffer("joint_flame_dirs", t(np.einsum("jv,vck->jck", reg[:, correspondence], b["flame_dirs"])))
        self.register_buffer("lbs_weights", t(b["weights"][:, chain]))              # (10995, 47)
        self.register_buffer("static_weight", t(b["weights"][:, dropped].sum(1)))   # (10995,) identity share
        self.register_buffer("chain", t(chain, torch.long))
        self._parent_list = parents
        if any(p >= j for j, p in enumerate(parents)):
            raise UserError("kinematic tree is not in topological order (a parent after its child)", field="kintree_table")
        self.register_buffer("posed_in_chain", t([position[j] for j in posed], torch.long))
        self.register_buffer("output_in_chain", t([position[SMPLX_JOINT_NAMES.index(n)] for n in OUTPUT_JOINT_NAMES],
                                                  torch.long))
        inverse = np.full(len(b["template"]), -1)
        inverse[correspondence] = np.arange(len(correspondence))
        self._flame_index_of = inverse
        self._plans: dict = {}
        self._regions: dict[str, JointSet] = {}
        self.to(dtype)

    @classmethod
    def from_dir(cls, path: str | Path, device=None, dtype: torch.dtype = torch.float32) -> "SMPLFX":
        """Build from a body-model folder (real files or ``m3t-bench assets standin`` output)."""
        files = locate_body_model_files(path)
        model = cls(load_smplx_arrays(files.smplx), load_flame_arrays(files.flame),
                    load_correspondence(files.correspondence), model_id=files.model_id, dtype=dtype,
                    source=files.root)
        return model.to(device) if device is not None else model

    # ---- inputs -------------------------------------------------------------------------------------
    def _tensor(self, x, name: str, per_frame: tuple[int, ...]) -> Tensor:
        x = torch.as_tensor(x, dtype=self.template.dtype, device=self.template.device)
        if x.ndim != 1 + len(per_frame) or tuple(x.shape[1:]) != per_frame:
            raise UserError(f"shape {tuple(x.shape)}, expected (N, {', '.join(map(str, per_frame))})", field=name)
        return x

    def _inputs(self, body, lhand, rhand, face, shape) -> tuple[Tensor, Tensor | None, Tensor]:
        """Chain rotations ``(N, 47, 3, 3)``, shape ``(N|1, 310)`` or None, expression + eyelids ``(N, 102)``."""
        body, face = self._tensor(body, "body", (12, 6)), self._tensor(face, "face", (FACE_DIM,))
        lhand, rhand = self._tensor(lhand, "lhand", (15, 6)), self._tensor(rhand, "rhand", (15, 6))
        n = body.shape[0]
        if not lhand.shape[0] == rhand.shape[0] == face.shape[0] == n:
            raise UserError("body, lhand, rhand and face must have the same number of frames N", field="N")
        driven = rot6d_to_matrix(torch.cat([body, lhand, rhand, face[:, FACE_JAW_6D].unsqueeze(1)], 1))
        rot = torch.eye(3, dtype=body.dtype, device=body.device).repeat(n, len(CHAIN_JOINT_NAMES), 1, 1)
        rot = rot.index_copy(1, self.posed_in_chain, driven)
        return rot, self._shape(shape, n), torch.cat([face[:, FACE_EXPRESSION], face[:, FACE_EYELIDS]], 1)

    def _shape(self, shape, n: int) -> Tensor:
        if shape is None:
            return None
        s = torch.as_tensor(shape, dtype=self.template.dtype, device=self.template.device)
        s = s.unsqueeze(0) if s.ndim == 1 else s
        if s.ndim != 2 or s.shape[1] not in (N_BODY_SHAPE, SHAPE_DIM) or s.shape[0] not in (1, n):
            raise UserError(f"shape {tuple(s.shape)}, expected ({SHAPE_DIM},), (N, {SHAPE_DIM}) or "
                            f"({N_BODY_SHAPE},)", field="shape")
        return torch.nn.functional.pad(s, (0, SHAPE_DIM - s.shape[1]))

    # ---- kinematics ---------------------------------------------------------------------------------
    @staticmethod
    def _with_shape(points: Tensor, betas: Tensor | None, body_dirs: Tensor, flame_shape_dirs: Tensor) -> Tensor:
        """``points (N, P, 3)`` plus the SMPL-X body-shape and FLAME head-shape blends of ``betas (N|1, 310)``
        over directions ``(P, 3, 10)`` and ``(P, 3, 300)`` (each computed once per run of equal shape rows);
        ``points`` unchanged without a shape. The one place where shape is blended."""
        if betas is None:
            return points
        return points + blend_distinct_rows(betas[:, :N_BODY_SHAPE], body_dirs) \
            + blend_distinct_rows(betas[:, N_BODY_SHAPE:], flame_shape_dirs)

    def _rest_joints(self, betas: Tensor | None, expression: Tensor) -> Tensor:
        """Rest-pose joints of the chain ``(N, 47, 3)`` from precomputed joint-space directions: template, then
        expression/eyelid blend, then shape blend."""
        n_shape = self.joint_flame_dirs.shape[-1] - expression.shape[1]
        joints = self.joint_template + blend_shapes(expression, self.joint_flame_dirs[..., n_shape:])
        joints = self._with_shape(joints, betas, self.joint_body_dirs, self.joint_flame_dirs[..., :n_shape])
        return joints[:, self.chain]

    def _pose(self, rot: Tensor, betas: Tensor | None, flame: Tensor, subset: tuple[int, ...] | None = None,
              parents: tuple[int, ...] | None = None) -> tuple[Tensor, Tensor]:
        """Posed joints ``(N, J, 3)`` and skinning transforms ``(N, J, 3, 4)`` of the whole chain (J = 47), or of
        ``subset`` (chain positions closed under ancestors, ascending) with its re-indexed ``parents``."""
        rest = self._rest_joints(betas, flame)
        if subset is None:
            return chain_transforms(rot, rest, self._parent_list)
        return chain_transforms(rot[:, list(subset)], rest[:, list(subset)], list(parents))

    def _skin(self, v_posed: Tensor, transforms: Tensor, weights: Tensor, static: Tensor) -> Tensor:
        """Linear blend skinning of ``v_posed (N, P, 3)`` with ``weights (P, K)`` over ``transforms (N, K, 3, 4)``;
        ``static (P,)`` is the weight of the dropped (identity) joints. The per-vertex 3x4 transforms come from
        one matrix product; applying them is three broadcast multiply-adds (no batched 3x3 products)."""
        n = transforms.shape[0]
        t = torch.matmul(weights, transforms.reshape(n, -1, 12)).view(n, -1, 3, 4)
        v0, v1, v2 = v_posed[..., 0:1], v_posed[..., 1:2], v_posed[..., 2:3]
        return t[..., 3] + t[..., 0] * v0 + t[..., 1] * v1 + t[..., 2] * v2 + static[:, None] * v_posed

    def _pose_features(self, rot: Tensor) -> Tensor:
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        return (rot[:, self.posed_in_chain] - eye).reshape(rot.shape[0], -1)

    # ---- public paths -------------------------------------------------------------------------------
    def forward(self, body, lhand, rhand, face, shape=None) -> SMPLFXOutput:
        """Full mesh: ``vertices (N, 10995, 3)`` and ``joints (N, 42, 3)`` in metres (the evaluation path over
        every vertex, see :meth:`evaluation_points_many`)."""
        points = self._evaluate_plan(self._mesh_plan(), body=body, lhand=lhand, rhand=rhand, face=face, shape=shape)
        return SMPLFXOutput(vertices=points[:, len(self.joint_names):], joints=points[:, :len(self.joint_names)])

    def joints(self, body, lhand, rhand, face, shape=None) -> Tensor:
        """Joints only ``(N, 42, 3)``: no mesh, no pose correctives (joints do not depend on them)."""
        rot, betas, flame = self._inputs(body, lhand, rhand, face, shape)
        return self._pose(rot, betas, flame)[0][:, self.output_in_chain]

    def face_vertices(self, body, lhand, rhand, face, shape=None) -> Tensor:
        """The 5,023 FLAME-region vertices ``(N, 5023, 3)`` (FLAME order), skinning only those rows."""
        return self.evaluation_points("face", body=body, lhand=lhand, rhand=rhand, face=face, shape=shape)[:, 1:]

    def joint_set(self, name: str) -> JointSet:
        """The joint set ``name`` with its points: a registered set as declared, a region set resolved on this
        model (``vertex:<id>`` points of :meth:`region_vertex_ids`, root 0, all scored)."""
        declared = get_joint_set(name)
        if not declared.is_region:
            return declared
        if name not in self._regions:
            points = tuple(f"{VERTEX_PREFIX}{v}" for v in self.region_vertex_ids(declared.streams))
            self._regions[name] = replace(declared, points=points, scored=tuple(range(len(points))))
        return self._regions[name]

    def region_vertex_ids(self, streams: tuple[str, ...]) -> np.ndarray:
        """Ids (ascending, int64) of the mesh vertices whose position depends on the parameter ``streams``
        (names of :data:`STREAM_JOINT_NAMES`): skinned (non-zero weight) by a joint the streams rotate or by a
        descendant of one, moved by a pose corrective of such a joint or, for ``face``, by an expression or
        eyelid direction."""
        names = [n for s in streams for n in STREAM_JOINT_NAMES[s]]
        chain = self.chain.tolist()
        driven = {chain.index(SMPLX_JOINT_NAMES.index(n)) for n in names}
        moved = [c for c in range(len(chain)) if self._ancestry(c) & driven]
        mask = (self.lbs_weights[:, moved] != 0).any(dim=1).cpu().numpy()
        pose_rows = [9 * POSED_JOINT_NAMES.index(n) + k for n in names for k in range(9)]
        corrected = self.posedirs[pose_rows].reshape(len(pose_rows), self.n_smplx_vertices, 3)
        mask[:self.n_smplx_vertices] |= (corrected != 0).any(dim=2).any(dim=0).cpu().numpy()
        if "face" in streams:
            n_face = FACE_DIM - 6
            mask[self.flame_ids.cpu().numpy()] |= (self.flame_dirs[..., -n_face:] != 0).flatten(1).any(1).cpu().numpy()
        return np.nonzero(mask)[0].astype(np.int64)

    def _ancestry(self, c: int) -> set[int]:
        """Chain position ``c`` and all its ancestors."""
        out = set()
        while c >= 0:
            out.add(c)
            c = self._parent_list[c]
        return out

    def evaluation_points(self, joint_set_name: str, *, body, lhand, rhand, face, shape=None) -> Tensor:
        """Points of a named set (:mod:`m3t_bench.body.joint_sets`) ``(N, P, 3)`` in metres, computing only
        the mesh rows the set needs (landmarks, fingertips, regressor supports, the face or a region)."""
        return self.evaluation_points_many((joint_set_name,), body=body, lhand=lhand, rhand=rhand, face=face,
                                           shape=shape)[joint_set_name]

    def evaluation_points_many(self, joint_set_names: tuple[str, ...], *, body, lhand, rhand, face,
                               shape=None) -> dict[str, Tensor]:
        """:meth:`evaluation_points` of several sets from one pass (the kinematic chain and shared mesh rows are
        computed once): set name -> ``(N, P_set, 3)`` in metres."""
        names = tuple(joint_set_names)
        sizes = [len(self.joint_set(name).points) for name in names]
        points = self._evaluate_plan(self._plan(names), body=body, lhand=lhand, rhand=rhand, face=face, shape=shape)
        return dict(zip(names, torch.split(points, sizes, dim=1)))

    # ---- evaluation plans ---------------------------------------------------------------------------
    def _evaluate_plan(self, plan: EvaluationPlan, *, body, lhand, rhand, face, shape=None) -> Tensor:
        """The plan's points ``(N, P, 3)``, computed over chunks of ``FRAME_CHUNK`` frames (cache-sized)."""
        n = len(body)
        if n <= FRAME_CHUNK:
            return self._evaluate_chunk(plan, body, lhand, rhand, face, shape)
        per_frame_shape = shape is not None and np.ndim(shape) == 2 and len(shape) == n
        return torch.cat([self._evaluate_chunk(plan, body[s:s + FRAME_CHUNK], lhand[s:s + FRAME_CHUNK],
                                               rhand[s:s + FRAME_CHUNK], face[s:s + FRAME_CHUNK],
                                               shape[s:s + FRAME_CHUNK] if per_frame_shape else shape)
                          for s in range(0, n, FRAME_CHUNK)])

    def _evaluate_chunk(self, plan: EvaluationPlan, body, lhand, rhand, face, shape) -> Tensor:
        rot, betas, flame = self._inputs(body, lhand, rhand, face, shape)
        n = rot.shape[0]
        posed, transforms = self._pose(rot, betas, flame, plan.chain, plan.parents)
        parts = [posed]
        if plan.mesh is not None:
            mesh = plan.mesh
            step = max(1, VERTEX_CHUNK_VALUES // (3 * mesh.rows.numel()))  # frames per cache-sized chunk
            per_frame = betas is not None and betas.shape[0] == n  # else one shape row (or none) for all frames
            verts = torch.cat([self._mesh_vertices(mesh, rot[s:s + step], betas[s:s + step] if per_frame else betas,
                                                   flame[s:s + step], transforms[s:s + step])
                               for s in range(0, n, step)])
            parts += [verts, vertices2joints(mesh.regressor, verts)]
        return torch.cat(parts, 1)[:, plan.gather]

    def _mesh_vertices(self, mesh: MeshRows, rot: Tensor, betas: Tensor | None, flame: Tensor,
                       transforms: Tensor) -> Tensor:
        """The plan's mesh rows ``(n, R, 3)`` posed, for one chunk of frames."""
        n = rot.shape[0]
        coeffs = torch.cat([flame, self._pose_features(rot)[:, mesh.pose_rows], flame.new_ones(n, 1)], 1)
        v = (coeffs @ mesh.linear).view(n, -1, 3)  # template + expression/eyelids + pose correctives
        v = self._with_shape(v, betas, mesh.body_dirs, mesh.flame_shape_dirs)
        return self._skin(v, transforms[:, mesh.weight_cols], mesh.weights, mesh.static)

    def _plan(self, names: tuple[str, ...]) -> EvaluationPlan:
        return self._cached_plan(names, lambda: tuple(p for name in names for p in self.joint_set(name).points))

    def _mesh_plan(self) -> EvaluationPlan:
        """The plan of :meth:`forward`: the 42 output joints, then every mesh vertex."""
        return self._cached_plan(("<mesh>",), lambda: (*self.joint_names, *(f"{VERTEX_PREFIX}{v}" for v in
                                                                           range(len(self.template)))))

    def _cached_plan(self, key: tuple[str, ...], points) -> EvaluationPlan:
        key = (key, self.template.device, self.template.dtype)
        if key not in self._plans:
            self._plans[key] = self._build_plan(points())
        return self._plans[key]

    def _build_plan(self, points: tuple[str, ...]) -> EvaluationPlan:
        """Index bookkeeping and sliced buffers for a point list (built once per set, device and dtype)."""
        device = self.template.device
        kinds = [point_kind(p) for p in points]
        rows = self._mesh_rows(kinds)
        r = np.fromiter(rows, dtype=np.int64, count=len(rows))
        weights = self.lbs_weights[torch.as_tensor(r, device=device)]
        skinning = torch.nonzero(weights.abs().amax(0) > 0).flatten().tolist() if len(r) else []
        chain_pos = {int(j): k for k, j in enumerate(self.chain.tolist())}
        # Only the chain joints these points hang from: requested joints, joints skinning the rows, ancestors.
        subset = sorted(set().union(*[self._ancestry(c) for c in [chain_pos[idx] for kind, idx in kinds
                                                                  if kind == "joint"] + skinning]))
        remap = {c: k for k, c in enumerate(subset)}
        parents = tuple(remap[self._parent_list[c]] if self._parent_list[c] >= 0 else -1 for c in subset)
        gather, k_reg = [], 0
        for kind, idx in kinds:
            if kind == "joint":
                gather.append(remap[chain_pos[idx]])
            elif kind == "regressed":
                gather.append(len(subset) + len(r) + k_reg)
                k_reg += 1
            else:
                gather.append(len(subset) + rows[int(idx if kind == "vertex" else self.flame_ids[idx])])
        regressed = [idx for kind, idx in kinds if kind == "regressed"]
        mesh = self._mesh_buffers(r, weights, skinning, remap, regressed) if len(r) else None
        return EvaluationPlan(chain=tuple(subset), parents=parents, gather=torch.as_tensor(gather, device=device),
                              mesh=mesh)

    def _mesh_rows(self, kinds: list[tuple[str, int]]) -> dict[int, int]:
        """Vertex id -> row, in first-use order, of the mesh rows the points need (vertices, FLAME vertices,
        regressor supports)."""
        rows: dict[int, int] = {}
        flame_ids = self.flame_ids.cpu().numpy()
        reg = self.J_regressor.cpu().numpy()
        for kind, idx in kinds:
            if kind == "regressed":
                for v in np.nonzero(reg[idx])[0]:
                    rows.setdefault(int(v), len(rows))
            elif kind in ("vertex", "flame"):
                rows.setdefault(int(idx if kind == "vertex" else flame_ids[idx]), len(rows))
        return rows

    def _mesh_buffers(self, r: np.ndarray, weights: Tensor, skinning: list[int], remap: dict[int, int],
                      regressed: list[int]) -> MeshRows:
        """The buffers of :class:`MeshRows` sliced to the vertex ids ``r`` (teeth rows: zero SMPL-X buffers)."""
        device = self.template.device
        rows_t = torch.as_tensor(r, device=device)
        fi = self._flame_index_of[r]
        flame_dirs = self.flame_dirs.new_zeros(len(r), 3, self.flame_dirs.shape[-1])
        flame_dirs[torch.as_tensor(np.nonzero(fi >= 0)[0])] = self.flame_dirs[torch.as_tensor(fi[fi >= 0])]
        posedirs = _take_rows(self.posedirs.view(len(self.posedirs), self.n_smplx_vertices, 3), r, dim=1)
        posedirs = posedirs.reshape(len(self.posedirs), -1)
        pose_rows = torch.nonzero(posedirs.abs().amax(1) > 0).flatten()    # pose features that move these rows
        n_face = FACE_DIM - 6  # expression + eyelid coefficients
        linear = torch.cat([flame_dirs[..., -n_face:].permute(2, 0, 1).reshape(n_face, -1), posedirs[pose_rows],
                            self.template[rows_t].reshape(1, -1)], 0)  # (102 + n_pose + 1, R·3)
        return MeshRows(
            rows=rows_t, linear=linear.contiguous(), pose_rows=pose_rows, body_dirs=_take_rows(self.body_dirs, r),
            flame_shape_dirs=flame_dirs[..., :-n_face].contiguous(), weights=weights[:, skinning],
            weight_cols=torch.as_tensor([remap[c] for c in skinning], device=device),
            static=self.static_weight[rows_t], regressor=_take_rows(self.J_regressor[regressed], r, dim=1))

    def _apply(self, fn, *args, **kwargs):
        self._plans = {}  # sliced buffers follow the module's device/dtype: rebuild after .to()
        return super()._apply(fn, *args, **kwargs)
