"""Rotation-space interpolation used by SynthSign (geodesic, never linear in 6D).

Matrices are numpy float64 ``(..., 3, 3)``; logarithm and exponential maps reuse
:mod:`m3t_bench.motion.rotations`. ``geodesic_blend`` is spherical linear interpolation written on
matrices: ``R(w) = R0 · exp(w · log(R0ᵀ R1))``.
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.motion import axis_angle_to_matrix, matrix_to_axis_angle


def aa_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Axis-angle ``(..., 3)`` radians -> rotation matrices ``(..., 3, 3)`` (float64 numpy)."""
    return axis_angle_to_matrix(torch.from_numpy(np.asarray(aa, dtype=np.float64))).numpy()


def matrix_to_aa(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)``, angle in [0, pi] (float64 numpy)."""
    return matrix_to_axis_angle(torch.from_numpy(np.asarray(m, dtype=np.float64))).numpy()


def ease(n: int, *, include_ends: bool = False) -> np.ndarray:
    """``n`` smoothstep weights ``3u²-2u³`` in (0, 1) (zero velocity at both ends); with
    ``include_ends`` the first is 0 and the last 1."""
    if n <= 0:
        return np.zeros(0)
    u = np.linspace(0.0, 1.0, n) if include_ends else (np.arange(1, n + 1) / (n + 1))
    return u * u * (3.0 - 2.0 * u)


def geodesic_blend(r0: np.ndarray, r1: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rotations along the geodesic from ``r0`` to ``r1`` (both ``(..., 3, 3)``) at ``weights (n,)``
    -> ``(n, ..., 3, 3)``; weight 0 gives ``r0``, 1 gives ``r1``."""
    rel = matrix_to_aa(np.swapaxes(r0, -1, -2) @ r1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1, *([1] * rel.ndim))
    return r0[None] @ aa_to_matrix(w * rel[None])


def rotation_angle(m: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) of rotation matrices ``(..., 3, 3)`` -> ``(...)``."""
    cos = (np.trace(m, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def angular_speed(m: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame angular speed (rad/s) of a rotation track ``(T, ..., 3, 3)`` -> ``(T-1, ...)``."""
    return rotation_angle(np.swapaxes(m[:-1], -1, -2) @ m[1:]) * fps


def angular_acceleration(m: np.ndarray, fps: float) -> np.ndarray:
    """Magnitude of the change of the local angular velocity (rad/s²) of ``(T, ..., 3, 3)`` ->
    ``(T-2, ...)``: ``‖log(R_tᵀR_{t+1}) − log(R_{t-1}ᵀR_t)‖ · fps²``."""
    omega = matrix_to_aa(np.swapaxes(m[:-1], -1, -2) @ m[1:])
    return np.linalg.norm(omega[1:] - omega[:-1], axis=-1) * fps * fps
