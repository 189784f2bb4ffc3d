"""The SMPL-FX parameter contract: layout, rotations, hand mirroring, validation and ``.npz`` io."""

from m3t_bench.motion.layout import (
    BODY_JOINT_NAMES, FACE_DIM, FACE_EXPRESSION, FACE_EYELIDS, FACE_JAW_6D, FEATURE_SLICES, FRAME_DIM,
    HAND_JOINT_NAMES, ROTATION_STREAMS, SHAPE_DIM, SMPLX_JOINT_NAMES, STREAM_SHAPES, STREAMS,
)
from m3t_bench.motion.mirror import mirror_axis_angle, mirror_hand
from m3t_bench.motion.npz import read_npz, write_npz
from m3t_bench.motion.rotations import (
    axis_angle_to_matrix, axis_angle_to_rot6d, identity_rot6d, matrix_to_axis_angle, matrix_to_quaternion,
    matrix_to_rot6d, quaternion_to_axis_angle, rot6d_to_axis_angle, rot6d_to_matrix,
)
from m3t_bench.motion.sequence import MotionSequence, array_problems, load_sample, save_sample

__all__ = [
    "BODY_JOINT_NAMES", "FACE_DIM", "FACE_EXPRESSION", "FACE_EYELIDS", "FACE_JAW_6D", "FEATURE_SLICES",
    "FRAME_DIM", "HAND_JOINT_NAMES", "ROTATION_STREAMS", "SHAPE_DIM", "SMPLX_JOINT_NAMES", "STREAM_SHAPES",
    "STREAMS", "MotionSequence", "array_problems", "axis_angle_to_matrix", "axis_angle_to_rot6d",
    "identity_rot6d", "load_sample", "matrix_to_axis_angle", "matrix_to_quaternion", "matrix_to_rot6d",
    "mirror_axis_angle", "mirror_hand", "quaternion_to_axis_angle", "read_npz", "rot6d_to_axis_angle",
    "rot6d_to_matrix", "save_sample", "write_npz",
]
