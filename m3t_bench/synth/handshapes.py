"""A small hand-shape inventory as finger-joint rotations (axis-angle, right-hand convention).

SMPL-X finger order per hand: index, middle, pinky, ring, thumb (3 joints each). In the right hand's rest
pose the fingers point along -x with the palm down; flexing a finger towards the palm is a rotation about
+z, spreading (abduction) a rotation about y. The left hand uses the mirror image
(:func:`m3t_bench.motion.mirror_axis_angle`). Angles are in radians and stay within human range
(flexion ≤ 1.6 rad per joint).
"""

from __future__ import annotations

import numpy as np

FINGERS = ("index", "middle", "pinky", "ring", "thumb")
_MAX_FLEX = (1.45, 1.6, 1.0)            # per joint 1..3
_SPREAD = {"index": -0.18, "middle": 0.0, "ring": 0.14, "pinky": 0.3}

#: name -> (curl of index, middle, ring, pinky in [0,1] (joint-1 curl, joints-2/3 curl), thumb state, spread)
_SHAPES: dict[str, tuple[tuple[tuple[float, float], ...], str, float]] = {
    "B": (((0, 0), (0, 0), (0, 0), (0, 0)), "across", 0.0),
    "5": (((0, 0), (0, 0), (0, 0), (0, 0)), "open", 1.0),
    "A": (((1, 1), (1, 1), (1, 1), (1, 1)), "side", 0.0),
    "S": (((1, 1), (1, 1), (1, 1), (1, 1)), "over", 0.0),
    "1": (((0, 0), (1, 1), (1, 1), (1, 1)), "over", 0.0),
    "V": (((0, 0), (0, 0), (1, 1), (1, 1)), "over", 1.0),
    "W": (((0, 0), (0, 0), (0, 0), (1, 1)), "over", 0.8),
    "Y": (((1, 1), (1, 1), (1, 1), (0, 0)), "open", 0.6),
    "L": (((0, 0), (1, 1), (1, 1), (1, 1)), "open", 0.0),
    "C": (((0.35, 0.5), (0.35, 0.5), (0.35, 0.5), (0.35, 0.5)), "curved", 0.0),
    "O": (((0.55, 0.75), (0.55, 0.75), (0.55, 0.75), (0.55, 0.75)), "over", 0.0),
    "bent-B": (((0.9, 0), (0.9, 0), (0.9, 0), (0.9, 0)), "across", 0.0),
    "claw": (((0.15, 0.85), (0.15, 0.85), (0.15, 0.85), (0.15, 0.85)), "curved", 0.9),
    "I": (((1, 1), (1, 1), (1, 1), (0, 0)), "over", 0.0),
    "X": (((0.2, 0.9), (1, 1), (1, 1), (1, 1)), "over", 0.0),
    "F": (((0.6, 0.6), (0, 0), (0, 0), (0, 0)), "pinch", 0.7),
    "relaxed": (((0.2, 0.25), (0.25, 0.3), (0.3, 0.35), (0.28, 0.32)), "side", 0.2),
}
#: Thumb joint rotations (axis-angle per thumb joint 1..3) per thumb state.
_THUMB = {
    "open": ((0.0, 0.3, -0.2), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "side": ((0.1, -0.15, 0.25), (0.0, 0.0, 0.3), (0.0, 0.0, 0.3)),
    "across": ((0.3, -0.4, 0.45), (0.0, 0.0, 0.35), (0.0, 0.0, 0.2)),
    "over": ((0.45, -0.55, 0.75), (0.0, 0.0, 0.7), (0.0, 0.0, 0.5)),
    "curved": ((0.25, -0.2, 0.35), (0.0, 0.0, 0.45), (0.0, 0.0, 0.4)),
    "pinch": ((0.4, -0.45, 0.6), (0.0, 0.0, 0.55), (0.0, 0.0, 0.45)),
}

#: Hand shapes a sign may use (the relaxed shape is for resting hands only).
HANDSHAPE_NAMES: tuple[str, ...] = tuple(n for n in _SHAPES if n != "relaxed")


def handshape(name: str) -> np.ndarray:
    """Finger rotations ``(15, 3)`` axis-angle (right-hand convention, SMPL-X finger order) of ``name``."""
    curls, thumb, spread = _SHAPES[name]
    by_finger = dict(zip(("index", "middle", "ring", "pinky"), curls))
    out = np.zeros((15, 3))
    for f_idx, finger in enumerate(FINGERS):
        rows = slice(3 * f_idx, 3 * f_idx + 3)
        if finger == "thumb":
            out[rows] = np.asarray(_THUMB[thumb])
            continue
        base, distal = by_finger[finger]
        flex = np.array([base * _MAX_FLEX[0], distal * _MAX_FLEX[1], distal * _MAX_FLEX[2]])
        out[rows, 2] = flex
        out[3 * f_idx, 1] = spread * _SPREAD[finger]
    return out
