"""The pinhole camera of a clip and the signer's camera-facing root.

Model coordinates (SMPL-FX): metres, x to the signer's left, y up, z forward (towards the viewer).
Camera coordinates (OpenCV): x right, y down, z into the scene. A signer facing the camera has the root
rotation ``FACING_CAMERA = diag(1, -1, -1)`` (180° about x); ``X_cam = R_root X_model + t``. Pixels:
``u = f x / z + cx``, ``v = f y / z + cy``, origin at the image's top-left corner.

Intrinsics are given (``--focal``) or estimated from the frame size: focal length = the image diagonal in
pixels (about a 53° horizontal field of view at 4:3, the convention CLIFF (Li et al., ECCV 2022) uses for
unknown cameras), principal point at the image centre. The focal length can be refined per clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

FACING_CAMERA = np.diag([1.0, -1.0, -1.0]).astype(np.float32)
MIN_DEPTH_M = 0.05


@dataclass(frozen=True)
class Intrinsics:
    """``focal`` (pixels), principal point ``(cx, cy)`` (pixels), image ``width``, ``height`` (pixels)."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def diagonal(self) -> float:
        return math.hypot(self.width, self.height)


def default_intrinsics(width: int, height: int, focal: float | None = None) -> Intrinsics:
    """Intrinsics of a ``width`` x ``height`` image: ``focal`` or the diagonal, centred principal point."""
    return Intrinsics(float(focal) if focal else math.hypot(width, height), width / 2.0, height / 2.0,
                      int(width), int(height))


def to_camera(points: Tensor, rotation: Tensor, translation: Tensor) -> Tensor:
    """Model-space ``points (..., 3)`` -> camera space with ``rotation (3, 3)``, ``translation (3,)``."""
    return points @ rotation.transpose(-1, -2) + translation


def project(points_cam: Tensor, focal: Tensor | float, cx: float, cy: float) -> Tensor:
    """Camera-space ``points (..., 3)`` -> pixels ``(..., 2)``; depth clamped at 5 cm (behind-camera points
    stay finite)."""
    z = points_cam[..., 2:3].clamp_min(MIN_DEPTH_M)
    centre = points_cam.new_tensor([cx, cy])
    return focal * points_cam[..., :2] / z + centre


def initial_translation(points_model: np.ndarray, pixels: np.ndarray, weights: np.ndarray, rotation: np.ndarray,
                        intr: Intrinsics) -> np.ndarray:
    """The translation ``(3,)`` that best projects ``points_model (N, 3)`` onto ``pixels (N, 2)`` under
    ``rotation``, by weighted linear least squares on the cross-multiplied projection equations
    ``f (X + tx) = (u - cx)(Z + tz)``, ``f (Y + ty) = (v - cy)(Z + tz)``; ``weights (N,)`` >= 0."""
    p = points_model @ rotation.T
    du, dv = pixels[:, 0] - intr.cx, pixels[:, 1] - intr.cy
    f = intr.focal
    rows_u = np.stack([np.full_like(du, f), np.zeros_like(du), -du], 1)
    rows_v = np.stack([np.zeros_like(dv), np.full_like(dv, f), -dv], 1)
    a = np.concatenate([rows_u, rows_v])
    b = np.concatenate([du * p[:, 2] - f * p[:, 0], dv * p[:, 2] - f * p[:, 1]])
    w = np.sqrt(np.concatenate([weights, weights]))[:, None]
    t, *_ = np.linalg.lstsq(a * w, b * w[:, 0], rcond=None)
    if not np.isfinite(t).all() or t[2] + p[:, 2].mean() <= MIN_DEPTH_M:
        t = np.array([0.0, 0.0, 3.0])  # degenerate input: a signer 3 m in front of the camera
    return t.astype(np.float32)


def rotation_to_tensor(rotation: np.ndarray, device) -> Tensor:
    return torch.as_tensor(rotation, dtype=torch.float32, device=device)
