"""The fast CPU path of an evaluation plan whose points are joints and mesh vertices (the face set above all:
the head joint and the 5,023 FLAME vertices).

Same arithmetic as the plan's reference path (:meth:`m3t_bench.body.model.SMPLFX._mesh_vertices`: equal
within float32 rounding, the tests hold it to 1e-6 m), arranged for speed:

- blends in one float32 matrix product per chunk of frames and run of equal shape rows: ``shaped
  template + [expression + eyelids | pose features] @ directions`` (``torch.addmm``), where a run's shaped
  template (template + SMPL-X body shape + FLAME head shape) is computed once per batch (a batch holds a few
  samples, each with one shape vector over all its frames);
- skinning limited to the joints that move the rows, in one compiled pass that writes each posed row
  straight to its place in the output: a row skinned by one joint with weight 1 (most of the face: head,
  jaw, eyes) gets that joint's rigid transform; the others blend their joints' 3x4 transforms.

Plans of fewer than :data:`MIN_ROWS` rows (the joint sets: their numbers stay bit for bit as before, and
there is little to gain), plans with regressed points or with mesh rows that are not themselves points
(regressor supports) keep the reference path, as do tensors on other devices (the compiled pass is CPU
code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit
from torch import Tensor

from m3t_bench.motion.layout import N_BODY_SHAPE

#: Plans with at least this many mesh rows take the fast path (the face: 5,023; the hands' fingertips: 5).
MIN_ROWS = 1000


@dataclass(frozen=True)
class FastMesh:
    """``dirs (D, R·3)``: expression/eyelid directions and pose correctives; ``template (R·3,)``,
    ``body_dirs (R·3, 10)``, ``flame_shape_dirs (R·3, 300)``; ``rigid_joint (R,)``: the skinning column that
    moves a row rigidly (-1: blended with ``weights (R, K)`` and ``static (R,)``); ``row_point (R,)``: each
    row's (first) column in the plan's points; ``joint_point`` / ``joint_chain``: the points that are chain
    joints and their chain columns; ``copy_point`` / ``copy_from``: points repeating a row (several sets in one
    plan) and the point they copy."""

    dirs: Tensor
    template: Tensor
    body_dirs: Tensor
    flame_shape_dirs: Tensor
    rigid_joint: np.ndarray
    weights: np.ndarray
    static: np.ndarray
    row_point: np.ndarray
    joint_point: Tensor
    joint_chain: Tensor
    copy_point: Tensor
    copy_from: Tensor


def build_fast_mesh(mesh, gather: np.ndarray, n_chain: int) -> FastMesh | None:
    """The :class:`FastMesh` of a plan's :class:`~m3t_bench.body.model.MeshRows` and ``gather`` (each point's
    column in [chain joints | rows | regressed]), or None when the plan needs the reference path."""
    n_rows = mesh.rows.numel()
    from_rows = (gather >= n_chain) & (gather < n_chain + n_rows)
    if n_rows < MIN_ROWS or mesh.regressor.shape[0] or mesh.weights.device.type != "cpu" \
            or mesh.weights.dtype != torch.float32 or len(np.unique(gather[from_rows])) != n_rows:
        return None
    weights, static = mesh.weights, mesh.static
    single = ((weights != 0).sum(1) == 1) & (weights.amax(1) == 1.0) & (static == 0)
    rigid_joint = torch.where(single, weights.argmax(1), torch.full_like(single, -1, dtype=torch.long))
    points = np.nonzero(from_rows)[0]
    rows = gather[points] - n_chain
    first = np.unique(rows, return_index=True)[1]                 # a row's first point gets the skinned row
    row_point = np.empty(n_rows, dtype=np.int64)
    row_point[rows[first]] = points[first]
    repeated = np.setdiff1d(np.arange(len(points)), first)        # further points of the same row: copies
    linear = mesh.linear
    return FastMesh(dirs=linear[:-1].contiguous(), template=linear[-1].contiguous(),
                    body_dirs=mesh.body_dirs.reshape(n_rows * 3, -1).contiguous(),
                    flame_shape_dirs=mesh.flame_shape_dirs.reshape(n_rows * 3, -1).contiguous(),
                    rigid_joint=rigid_joint.numpy(), weights=weights.contiguous().numpy(),
                    static=static.contiguous().numpy(), row_point=row_point,
                    joint_point=torch.as_tensor(np.nonzero(~from_rows)[0]),
                    joint_chain=torch.as_tensor(gather[~from_rows]), copy_point=torch.as_tensor(points[repeated]),
                    copy_from=torch.as_tensor(row_point[rows[repeated]]))


def shape_runs(fast: FastMesh, betas: Tensor | None, n: int) -> tuple[np.ndarray, Tensor]:
    """For ``n`` frames with shape rows ``betas (n|1, 310)`` or None: the first frame of each run of equal
    shape rows (runs + 1,) ending with n, and each run's shaped template ``(runs, R·3)`` (template + SMPL-X
    body shape + FLAME head shape, computed once per run)."""
    if betas is None or betas.shape[0] == 1:
        starts, shapes = np.array([0, n]), betas
    else:
        first = torch.ones(n, dtype=torch.bool)
        first[1:] = (betas[1:] != betas[:-1]).any(dim=1)
        starts, shapes = np.append(torch.nonzero(first).flatten().numpy(), n), betas[first]
    shaped = fast.template[None]
    if shapes is not None:
        shaped = (shaped + shapes[:, :N_BODY_SHAPE] @ fast.body_dirs.T
                  + shapes[:, N_BODY_SHAPE:] @ fast.flame_shape_dirs.T)
    return starts, shaped


def blended_rows(fast: FastMesh, coeffs: Tensor, starts: np.ndarray, shaped: Tensor, first: int) -> Tensor:
    """Unposed rows ``(n, R·3)`` (shaped template + expression/eyelid blends + pose correctives) of the frames
    ``first .. first + n - 1``: ``coeffs (n, D)`` their expression, eyelid and pose-feature coefficients; one
    ``addmm`` per run of equal shape rows (``starts``, ``shaped`` from :func:`shape_runs`)."""
    n = coeffs.shape[0]
    v = coeffs.new_empty(n, fast.dirs.shape[1])
    for k in range(np.searchsorted(starts, first, side="right") - 1, len(starts) - 1):
        start, end = max(starts[k], first) - first, min(starts[k + 1], first + n) - first
        if start >= n:
            break
        torch.addmm(shaped[k], coeffs[start:end], fast.dirs, out=v[start:end])
    return v


@njit(cache=True, nogil=True)
def skin_rows(v, transforms, rigid_joint, weights, static, row_point, out):
    """Posed rows written to their points: ``v (n, R·3)`` unposed rows, ``transforms (n, K, 3, 4)`` of the
    skinning joints, ``out (n, P, 3)`` float32 (row r goes to point ``row_point[r]``)."""
    n_joints = transforms.shape[1]
    blend = np.empty((3, 4), dtype=np.float32)
    for f in range(v.shape[0]):
        for r in range(rigid_joint.shape[0]):
            x, y, z = v[f, 3 * r], v[f, 3 * r + 1], v[f, 3 * r + 2]
            p, j = row_point[r], rigid_joint[r]
            if j >= 0:
                for o in range(3):
                    out[f, p, o] = (transforms[f, j, o, 0] * x + transforms[f, j, o, 1] * y
                                    + transforms[f, j, o, 2] * z + transforms[f, j, o, 3])
                continue
            blend[:] = 0.0
            for k in range(n_joints):
                w = weights[r, k]
                if w != 0.0:
                    for o in range(3):
                        for c in range(4):
                            blend[o, c] += w * transforms[f, k, o, c]
            s = static[r]
            out[f, p, 0] = blend[0, 0] * x + blend[0, 1] * y + blend[0, 2] * z + blend[0, 3] + s * x
            out[f, p, 1] = blend[1, 0] * x + blend[1, 1] * y + blend[1, 2] * z + blend[1, 3] + s * y
            out[f, p, 2] = blend[2, 0] * x + blend[2, 1] * y + blend[2, 2] * z + blend[2, 3] + s * z
