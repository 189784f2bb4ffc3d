"""Left/right mirroring of hand rotations across the body's sagittal plane (x -> -x).

A rotation R seen in a mirror is ``M R M`` with ``M = diag(-1, 1, 1)``. On the 6D layout
``[c0, c1]`` (first two columns) this is an element-wise sign flip, so mirroring is exact,
linear and its own inverse: ``mirror_hand(mirror_hand(x)) == x``. SMPL-X lists the fingers of both
hands in the same order, so no joint permutation is needed.
"""

from __future__ import annotations

import numpy as np
import torch

#: Sign pattern applied to a 6D rotation by ``M R M`` with M = diag(-1, 1, 1).
MIRROR_6D_SIGNS = (1.0, -1.0, -1.0, -1.0, 1.0, 1.0)
#: Sign pattern applied to an axis-angle vector by the same reflection.
MIRROR_AXIS_ANGLE_SIGNS = (1.0, -1.0, -1.0)


def mirror_hand(x):
    """Mirror 6D hand rotations ``(..., 15, 6)`` (or any ``(..., 6)``) between the left and right convention.

    Accepts a torch tensor or a numpy array and returns the same type. Left-hand poses are mirrored
    into the right-hand convention before the shared hand encoder and mirrored back after decoding.
    """
    if isinstance(x, torch.Tensor):
        return x * torch.tensor(MIRROR_6D_SIGNS, dtype=x.dtype, device=x.device)
    return np.asarray(x) * np.asarray(MIRROR_6D_SIGNS, dtype=np.asarray(x).dtype)


def mirror_axis_angle(aa):
    """Mirror axis-angle rotations ``(..., 3)`` across the sagittal plane (numpy or torch)."""
    if isinstance(aa, torch.Tensor):
        return aa * torch.tensor(MIRROR_AXIS_ANGLE_SIGNS, dtype=aa.dtype, device=aa.device)
    return np.asarray(aa) * np.asarray(MIRROR_AXIS_ANGLE_SIGNS, dtype=np.asarray(aa).dtype)
