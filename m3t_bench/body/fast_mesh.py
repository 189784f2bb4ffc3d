"""The fast CPU path of an evaluation plan whose points are joints and many mesh vertices (the face set
above all: the head joint and the 5,023 FLAME vertices), **bit for bit equal** to the reference path.

A face DTW-VPE is sensitive to the last float32 bits of its points: points moved by 1.8e-7 m (another
order of the same float32 operations) moved demo face numbers by up to 1.4e-5 relative, through warping
paths that tie to rounding. So this path changes no arithmetic, only the work around it: the blends and the
per-row weighted transforms are the reference path's own calls on the same chunks
(:meth:`m3t_bench.body.model.SMPLFX._unposed_rows`, the ``weights @ transforms`` product), and one compiled
pass applies each row's transform with the reference path's operations in its order (``t3 + t0 x + t1 y +
t2 z + static v``, left to right, no fused multiply-add) and writes the row straight to its output column:
the reference path's four elementwise passes over ``(n, R, 3)`` with their temporaries, the concatenation
and the gather disappear.

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
    """``static (R,)``: each row's weight of the identity-held joints; ``row_point (R,)``: each
    row's (first) column in the plan's points; ``joint_point`` / ``joint_chain``: the points that are chain
    joints and their chain columns; ``copy_point`` / ``copy_from``: points repeating a row (several sets in
    one plan) and the point they copy."""

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
    points = np.nonzero(from_rows)[0]
    rows = gather[points] - n_chain
    first = np.unique(rows, return_index=True)[1]                 # a row's first point gets the skinned row
    row_point = np.empty(n_rows, dtype=np.int64)
    row_point[rows[first]] = points[first]
    repeated = np.setdiff1d(np.arange(len(points)), first)        # further points of the same row: copies
    return FastMesh(static=mesh.static.contiguous().numpy(), row_point=row_point,
                    joint_point=torch.as_tensor(np.nonzero(~from_rows)[0]),
                    joint_chain=torch.as_tensor(gather[~from_rows]), copy_point=torch.as_tensor(points[repeated]),
                    copy_from=torch.as_tensor(row_point[rows[repeated]]))


@njit(cache=True, nogil=True)
def skin_rows(v, per_row, static, row_point, out):
    """Posed rows written to their points: ``v (n, R, 3)`` unposed rows, ``per_row (n, R, 12)`` each row's
    weighted 3x4 transform (the reference path's product), ``out (n, P, 3)`` float32 (row r goes to point
    ``row_point[r]``). The reference path's operations, in its order."""
    for f in range(v.shape[0]):
        for r in range(v.shape[1]):
            x, y, z = v[f, r, 0], v[f, r, 1], v[f, r, 2]
            t, p, s = per_row[f, r], row_point[r], static[r]
            for o in range(3):
                out[f, p, o] = t[4 * o + 3] + t[4 * o] * x + t[4 * o + 1] * y + t[4 * o + 2] * z + s * v[f, r, o]
