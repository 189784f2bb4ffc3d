"""Arm kinematics for SynthSign: from wrist positions in the signing space to SMPL-X arm rotations.

Body frame (SMPL-X convention, metres): x towards the signer's left, y up, z forward (towards the
camera); origin between the shoulders. SMPL-X's rest pose is a T-pose, every joint's local frame aligned
with this frame, so the left arm rests along +x and the right arm along -x. The elbow is a hinge about its
local y axis (left arm flexes by a negative angle, right by a positive one), which places the forearm in
front of the body. Spine and collars are held at identity while the arms are solved, so the solved
rotations put the wrists at the requested points up to the real body's proportions.
"""

from __future__ import annotations

import numpy as np

#: Approximate SMPL-X neutral proportions (metres).
SHOULDER_X = 0.17
UPPER_ARM = 0.27
FOREARM = 0.25
REST_DIRECTION = {"left": np.array([1.0, 0.0, 0.0]), "right": np.array([-1.0, 0.0, 0.0])}

#: Named wrist locations for the *right* (dominant) hand; the left hand uses the mirror image (x -> -x).
LOCATIONS: dict[str, tuple[float, float, float]] = {
    "forehead": (-0.06, 0.20, 0.23),
    "temple": (-0.12, 0.15, 0.20),
    "mouth": (-0.04, 0.06, 0.26),
    "cheek": (-0.12, 0.08, 0.21),
    "chest": (-0.06, -0.14, 0.27),
    "opposite-shoulder": (0.06, -0.05, 0.24),
    "neutral": (-0.12, -0.14, 0.38),
    "neutral-high": (-0.14, 0.00, 0.40),
    "side": (-0.28, -0.14, 0.30),
    "stomach": (-0.06, -0.30, 0.28),
}
#: Wrist position of a hand resting in the lap / lowered in front of the body.
REST_LOCATION = (-0.13, -0.42, 0.18)
#: Wrist position of the non-dominant hand while the dominant hand signs alone.
IDLE_LOCATION = (-0.15, -0.36, 0.22)

_ELBOW_PREFERENCE = np.array([-0.35, -1.0, -0.25])  # right arm: elbow out, down and slightly back


def mirror_point(p: np.ndarray) -> np.ndarray:
    """Mirror positions ``(..., 3)`` across the sagittal plane (x -> -x)."""
    return np.asarray(p, dtype=np.float64) * np.array([-1.0, 1.0, 1.0])


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def solve_arm(side: str, wrist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shoulder and elbow rotations placing the wrist at ``wrist (T, 3)`` (body frame, metres).

    Returns ``(shoulder (T,3,3), elbow (T,3,3))`` local rotations. Targets out of reach are pulled in to
    97% of the arm's length; the elbow hangs outwards-down (a natural swivel).
    """
    sign = 1.0 if side == "left" else -1.0
    shoulder = np.array([sign * SHOULDER_X, 0.0, 0.0])
    d = np.asarray(wrist, dtype=np.float64) - shoulder
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    reach = np.clip(dist, abs(UPPER_ARM - FOREARM) + 0.02, 0.97 * (UPPER_ARM + FOREARM))
    axis = d / np.maximum(dist, 1e-12)
    # Elbow on the circle around the shoulder->wrist axis, at the point closest to the preferred direction.
    along = (UPPER_ARM ** 2 - FOREARM ** 2 + reach ** 2) / (2.0 * reach)
    radius = np.sqrt(np.maximum(UPPER_ARM ** 2 - along ** 2, 1e-9))
    pref = _ELBOW_PREFERENCE * np.array([sign * -1.0, 1.0, 1.0])
    perp = _normalize(pref - (axis @ pref)[..., None] * axis)
    elbow = shoulder + along * axis + radius * perp
    hand = shoulder + reach * axis
    upper = _normalize(elbow - shoulder)
    fore = _normalize(hand - elbow)
    hinge = _normalize(np.cross(upper, fore)) * (-sign)          # world image of the local y axis
    third = np.cross(upper, hinge)
    world = np.stack((upper, hinge, third), axis=-1)              # columns: images of rest, y, rest x y
    rest = REST_DIRECTION[side]
    local = np.stack((rest, np.array([0.0, 1.0, 0.0]), np.cross(rest, [0.0, 1.0, 0.0])), axis=-1)
    shoulder_rot = world @ local.T
    theta = np.arccos(np.clip(np.sum(upper * fore, axis=-1), -1.0, 1.0)) * (-sign)
    c, s = np.cos(theta), np.sin(theta)
    elbow_rot = np.zeros((*theta.shape, 3, 3))
    elbow_rot[..., 0, 0], elbow_rot[..., 0, 2] = c, s
    elbow_rot[..., 1, 1] = 1.0
    elbow_rot[..., 2, 0], elbow_rot[..., 2, 2] = -s, c
    return shoulder_rot, elbow_rot


def forward_arm(side: str, shoulder_rot: np.ndarray, elbow_rot: np.ndarray) -> np.ndarray:
    """Wrist positions ``(T, 3)`` reached by the solved rotations (the inverse check of :func:`solve_arm`)."""
    sign = 1.0 if side == "left" else -1.0
    rest = REST_DIRECTION[side]
    elbow = np.array([sign * SHOULDER_X, 0.0, 0.0]) + UPPER_ARM * (shoulder_rot @ rest)
    return elbow + FOREARM * (shoulder_rot @ elbow_rot @ rest)
