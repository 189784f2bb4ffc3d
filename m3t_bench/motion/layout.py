"""The SMPL-FX per-frame parameter layout (DESIGN §2): stream names, joint names, shapes.

Joint names come from ``smplx``'s joint list; index lists are derived from names, never typed in.

Per frame (360 float32 numbers):

========  ==========  =========================================================================
stream    shape       content
========  ==========  =========================================================================
body      (12, 6)     6D rotations of ``BODY_JOINT_NAMES`` (spine2 ... right_wrist)
lhand     (15, 6)     6D rotations of ``HAND_JOINT_NAMES["left"]`` (left-hand convention on disk)
rhand     (15, 6)     6D rotations of ``HAND_JOINT_NAMES["right"]``
face      (108,)      100 FLAME expression coefficients, 2 eyelid scalars, jaw rotation in 6D
========  ==========  =========================================================================

A 6D rotation is the first two columns of the rotation matrix, column 0 then column 1:
``[R00, R10, R20, R01, R11, R21]``. Root orientation and translation are held fixed.
"""

from __future__ import annotations

from smplx.joint_names import JOINT_NAMES as _SMPLX_NAMES

#: The 55 kinematic joints of SMPL-X, in the order of its model files (pelvis first).
SMPLX_JOINT_NAMES: tuple[str, ...] = tuple(_SMPLX_NAMES[:55])

#: Upper-body joints whose rotations make the ``body`` stream, in stream order.
BODY_JOINT_NAMES: tuple[str, ...] = (
    "spine2", "spine3", "neck", "head",
    "left_collar", "right_collar",
    "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)

#: Finger joints per hand, in SMPL-X order (index, middle, pinky, ring, thumb; 3 joints each).
HAND_JOINT_NAMES: dict[str, tuple[str, ...]] = {
    side: tuple(n for n in SMPLX_JOINT_NAMES if n.startswith(f"{side}_") and n[-1].isdigit())
    for side in ("left", "right")
}

N_EXPRESSION = 100
N_EYELID = 2
FACE_EXPRESSION = slice(0, N_EXPRESSION)
FACE_EYELIDS = slice(N_EXPRESSION, N_EXPRESSION + N_EYELID)
FACE_JAW_6D = slice(N_EXPRESSION + N_EYELID, N_EXPRESSION + N_EYELID + 6)
FACE_DIM = N_EXPRESSION + N_EYELID + 6

#: Stream name -> per-frame shape.
STREAM_SHAPES: dict[str, tuple[int, ...]] = {
    "body": (len(BODY_JOINT_NAMES), 6),
    "lhand": (len(HAND_JOINT_NAMES["left"]), 6),
    "rhand": (len(HAND_JOINT_NAMES["right"]), 6),
    "face": (FACE_DIM,),
}
STREAMS: tuple[str, ...] = tuple(STREAM_SHAPES)

#: Streams that hold 6D rotations over their last axis.
ROTATION_STREAMS: tuple[str, ...] = ("body", "lhand", "rhand")


def stream_size(name: str) -> int:
    """Number of float values one frame of stream ``name`` holds."""
    size = 1
    for d in STREAM_SHAPES[name]:
        size *= d
    return size


#: Number of float values per frame over all streams (360).
FRAME_DIM: int = sum(stream_size(s) for s in STREAMS)

#: Offsets of each stream in the flat (T, 360) feature layout, in ``STREAMS`` order.
FEATURE_SLICES: dict[str, slice] = {}
_start = 0
for _name in STREAMS:
    FEATURE_SLICES[_name] = slice(_start, _start + stream_size(_name))
    _start += stream_size(_name)
del _start, _name

#: Optional per-signer shape vector: 10 SMPL-X body coefficients then 300 FLAME head coefficients.
N_BODY_SHAPE = 10
N_HEAD_SHAPE = 300
SHAPE_DIM = N_BODY_SHAPE + N_HEAD_SHAPE

assert len(BODY_JOINT_NAMES) == 12 and all(n in SMPLX_JOINT_NAMES for n in BODY_JOINT_NAMES)
assert all(len(v) == 15 for v in HAND_JOINT_NAMES.values())
assert FRAME_DIM == 360
