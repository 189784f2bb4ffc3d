"""SMPL-FX body model: SMPL-X with the FLAME head (paper appendix C), model-file loading and stand-in assets.

Public API: :class:`SMPLFX` (``SMPLFX.from_dir(path)``), :func:`resolve_body_models`,
:func:`add_body_models_argument`, :data:`JOINT_SETS`; stand-in files: :mod:`m3t_bench.body.standin`.
"""

from m3t_bench.body.files import add_body_models_argument, locate_body_model_files, resolve_body_models
from m3t_bench.body.joint_sets import JOINT_SETS, JointSet, get_joint_set
from m3t_bench.body.model import OUTPUT_JOINT_NAMES, SMPLFX, SMPLFXOutput

__all__ = ["JOINT_SETS", "OUTPUT_JOINT_NAMES", "SMPLFX", "JointSet", "SMPLFXOutput", "add_body_models_argument",
           "get_joint_set", "locate_body_model_files", "resolve_body_models"]
