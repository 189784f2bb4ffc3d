"""Rotation conversions, batched over any leading dimensions (torch; CPU or CUDA).

Conventions: a 6D rotation is the first two *columns* of the rotation matrix, ``[R[:,0], R[:,1]]``;
axis-angle is a 3-vector whose direction is the axis and whose norm is the angle in radians.
"""

from __future__ import annotations

import torch
from torch import Tensor

_EPS = 1e-8


def rot6d_to_matrix(x: Tensor) -> Tensor:
    """6D ``(..., 6)`` -> rotation matrices ``(..., 3, 3)`` by Gram–Schmidt on the two columns."""
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    a2 = a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1
    b2 = a2 / a2.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rot6d(m: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` -> 6D ``(..., 6)`` (first column, then second column)."""
    return torch.cat((m[..., :, 0], m[..., :, 1]), dim=-1)


def axis_angle_to_matrix(aa: Tensor) -> Tensor:
    """Axis-angle ``(..., 3)`` in radians -> rotation matrices ``(..., 3, 3)`` (Rodrigues).

    Uses the Taylor expansions of sin(t)/t and (1-cos t)/t^2 near t = 0, so gradients stay finite.
    """
    theta2 = (aa * aa).sum(dim=-1, keepdim=True)
    theta = theta2.clamp_min(_EPS).sqrt()
    small = theta2 < 1e-6
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(_EPS))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def matrix_to_quaternion(m: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` as (w, x, y, z) with w >= 0."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate forms; pick per element the one with the largest (best conditioned) pivot.
    q_abs = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                         1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1).clamp_min(0).sqrt()
    r = lambda i, j: m[..., i, j]  # noqa: E731
    cands = torch.stack((
        torch.stack((q_abs[..., 0] ** 2, r(2, 1) - r(1, 2), r(0, 2) - r(2, 0), r(1, 0) - r(0, 1)), -1),
        torch.stack((r(2, 1) - r(1, 2), q_abs[..., 1] ** 2, r(1, 0) + r(0, 1), r(0, 2) + r(2, 0)), -1),
        torch.stack((r(0, 2) - r(2, 0), r(1, 0) + r(0, 1), q_abs[..., 2] ** 2, r(2, 1) + r(1, 2)), -1),
        torch.stack((r(1, 0) - r(0, 1), r(2, 0) + r(0, 2), r(2, 1) + r(1, 2), q_abs[..., 3] ** 2), -1),
    ), dim=-2)
    cands = cands / (2.0 * q_abs[..., :, None].clamp_min(0.1))
    best = q_abs.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: Tensor) -> Tensor:
    """Unit quaternions ``(..., 4)`` (w, x, y, z) -> axis-angle ``(..., 3)`` with angle in [0, pi]."""
    q = torch.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    n = v.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(n, q[..., :1])
    small = n < 1e-6
    scale = torch.where(small, 2.0 / q[..., :1].clamp_min(_EPS), angle / n.clamp_min(_EPS))
    return v * scale


def matrix_to_axis_angle(m: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)``, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def rot6d_to_axis_angle(x: Tensor) -> Tensor:
    """6D ``(..., 6)`` -> axis-angle ``(..., 3)``."""
    return matrix_to_axis_angle(rot6d_to_matrix(x))


def axis_angle_to_rot6d(aa: Tensor) -> Tensor:
    """Axis-angle ``(..., 3)`` -> 6D ``(..., 6)``."""
    return matrix_to_rot6d(axis_angle_to_matrix(aa))


def identity_rot6d(*shape: int, dtype=torch.float32, device=None) -> Tensor:
    """6D identity rotations of shape ``(*shape, 6)``."""
    eye = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=dtype, device=device)
    return eye.expand(*shape, 6).clone()
