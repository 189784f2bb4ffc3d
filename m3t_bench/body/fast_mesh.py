"""The fast CPU path of an evaluation plan whose points are joints and many mesh vertices (the face set
above all: the head joint and the 5,023 FLAME vertices), **bit for bit equal** to the reference path.

A face DTW-VPE is sensitive to the last float32 bits of its points: points moved by 1.8e-7 m (another
order of the same float32 operations) moved demo face numbers by up to 1.4e-5 relative, through warping
paths that tie to rounding. So this path changes no arithmetic, only the work around it:

- the blends are the reference path's (:meth:`m3t_bench.body.model.SMPLFX._unposed_rows`, same chunks);
- skinning runs only where it does something: a row skinned by one joint with weight 1 (most of the face:
  head, jaw, eyes) takes that joint's 3x4 transform as it is (the reference path's weighted sum of the
  transforms gives exactly those numbers), the other rows get their weighted transforms from the same
  matrix product on their weights alone;
- one compiled pass applies them with the reference path's operations in its order
  (``((t3 + t0 x) + t1 y) + t2 z + static v``) and writes each row straight to its output column, so the
  ``(n, R, 12)`` transform tensor, its elementwise passes, the concatenation and the gather disappear.

Plans of fewer than :data:`MIN_ROWS` rows, plans with regressed points or with mesh rows that are not
themselves points (regressor supports) keep the reference path, as do tensors on other devices or dtypes.
The tests hold the two paths to equality, not to a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit
from torch import Tensor

#: Plans with at least this many mesh rows take the fast path (the face: 5,023; the hands' fingertips: 5).
MIN_ROWS = 1000


@dataclass(frozen=True)
class FastMesh:
    """``rigid_joint (R,)``: the skinning column that moves a row rigidly, or ``-1 - b`` for the b-th row of
    ``blended_weights (Rb, K)`` (rows blending several joints); ``static (R,)``; ``row_point (R,)``: each
    row's (first) column in the plan's points; ``joint_point`` / ``joint_chain``: the points that are chain
    joints and their chain columns; ``copy_point`` / ``copy_from``: points repeating a row (several sets in
    one plan) and the point they copy."""

    rigid_joint: np.ndarray
    blended_weights: Tensor
    static: np.ndarray
    row_point: np.ndarray
    joint_point: Tensor
    joint_chain: Tensor
    copy_point: Tensor
    copy_from: Tensor


def build_fast_mesh(mesh, gather: np.ndarray, n_chain: int) -> FastMesh | None:
    """The :class:`FastMesh` of a plan's :class:`~m3t_bench.body.model.MeshRows` and ``gather`` (each point's
    column in [chain joints | rows | regressed]), or None when the plan keeps the reference path."""
    n_rows = mesh.rows.numel()
    from_rows = (gather >= n_chain) & (gather < n_chain + n_rows)
    if n_rows < MIN_ROWS or mesh.regressor.shape[0] or mesh.weights.device.type != "cpu" \
            or mesh.weights.dtype != torch.float32 or len(np.unique(gather[from_rows])) != n_rows:
        return None
    weights, static = mesh.weights, mesh.static
    single = (((weights != 0).sum(1) == 1) & (weights.amax(1) == 1.0)).numpy()
    rigid_joint = weights.argmax(1).numpy().astype(np.int64)
    blended = np.nonzero(~single)[0]
    rigid_joint[blended] = -1 - np.arange(len(blended))
    points = np.nonzero(from_rows)[0]
    rows = gather[points] - n_chain
    first = np.unique(rows, return_index=True)[1]                 # a row's first point gets the skinned row
    row_point = np.empty(n_rows, dtype=np.int64)
    row_point[rows[first]] = points[first]
    repeated = np.setdiff1d(np.arange(len(points)), first)        # further points of the same row: copies
    return FastMesh(rigid_joint=rigid_joint, blended_weights=weights[torch.as_tensor(blended)].contiguous(),
                    static=static.contiguous().numpy(), row_point=row_point,
                    joint_point=torch.as_tensor(np.nonzero(~from_rows)[0]),
                    joint_chain=torch.as_tensor(gather[~from_rows]), copy_point=torch.as_tensor(points[repeated]),
                    copy_from=torch.as_tensor(row_point[rows[repeated]]))


@njit(cache=True, nogil=True)
def skin_rows(v, transforms, blended, rigid_joint, static, row_point, out):
    """Posed rows written to their points: ``v (n, R, 3)`` unposed rows, ``transforms (n, K, 3, 4)`` of the
    skinning joints, ``blended (n, Rb, 12)`` the weighted transforms of the blending rows, ``out (n, P, 3)``
    float32 (row r goes to point ``row_point[r]``). The reference path's operations, in its order."""
    for f in range(v.shape[0]):
        for r in range(rigid_joint.shape[0]):
            x, y, z = v[f, r, 0], v[f, r, 1], v[f, r, 2]
            p, j, s = row_point[r], rigid_joint[r], static[r]
            if j >= 0:
                t = transforms[f, j]
                for o in range(3):
                    out[f, p, o] = t[o, 3] + t[o, 0] * x + t[o, 1] * y + t[o, 2] * z + s * v[f, r, o]
            else:
                t = blended[f, -1 - j]
                for o in range(3):
                    out[f, p, o] = t[4 * o + 3] + t[4 * o] * x + t[4 * o + 1] * y + t[4 * o + 2] * z + s * v[f, r, o]
