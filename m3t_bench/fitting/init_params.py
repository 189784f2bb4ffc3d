"""Tracker initialisations: per-frame SMPL-X / FLAME / SMPL-FX parameters (``--init DIR``, ``<clip id>.npz``).

Accepted ``.npz`` contents (read with ``allow_pickle=False``; one of):

* our data contract: ``body (T,12,6)``, ``lhand``, ``rhand (T,15,6)``, ``face (T,108)``, optional
  ``shape (310,)|(10,)`` (e.g. the output of an earlier fit);
* SMPL-X 2020 + FLAME (BEAT2/EMAGE style, as ``datasets convert --from smplx2020-flame``): ``poses (T,165)``,
  ``expressions (T,100)``, ``betas``;
* SMPL-X per-part arrays as trackers and ``smplx`` name them: ``body_pose (T,63)`` (joints 1-21),
  ``left_hand_pose``/``right_hand_pose (T,45)`` (full axis-angle, not PCA), optional ``global_orient (T,3)``,
  ``jaw_pose (T,3)``, ``expression (T,≤100)`` (FLAME coefficients, e.g. from a face tracker; missing ones are
  0), ``eyelids (T,2)``, ``betas (≤10 + 300)``.

``global_orient`` / the root of ``poses`` (camera-frame SMPL-X convention: a person facing the camera is
≈ 180° about x) initialises the per-clip root rotation (their mean). Everything else not given starts at
the rest pose (hands in front of the stomach, neutral face).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from m3t_bench.datasets.convert import smplx2020_flame_to_sequence
from m3t_bench.errors import UserError
from m3t_bench.motion import (BODY_JOINT_NAMES, SMPLX_JOINT_NAMES, MotionSequence, axis_angle_to_matrix,
                              axis_angle_to_rot6d, read_npz)
from m3t_bench.motion.layout import FACE_DIM, N_EXPRESSION, SHAPE_DIM, STREAMS


@dataclass
class InitParams:
    """Initial SMPL-FX streams of a clip (``MotionSequence``, float32) and, when the tracker gave one, the
    root rotation ``(3, 3)`` in the camera frame."""

    sequence: MotionSequence
    root_rotation: np.ndarray | None = None
    source: str = ""


def rest_sequence(n_frames: int) -> MotionSequence:
    """The fitting's default start: SynthSign's citation-form home pose (hands in front of the stomach,
    relaxed fingers, neutral face), ``n_frames`` copies."""
    from m3t_bench.synth.render import ARM_SLOTS, LHAND, RHAND, rest_track
    track = rest_track(1, home=True)
    to6 = lambda m: np.concatenate([m[..., :, 0], m[..., :, 1]], -1).astype(np.float32)  # noqa: E731
    body = np.tile(np.array([1, 0, 0, 0, 1, 0], np.float32), (len(BODY_JOINT_NAMES), 1))
    for slot, name in enumerate(ARM_SLOTS):
        body[BODY_JOINT_NAMES.index(name)] = to6(track.rot[0, slot])
    face = np.zeros(FACE_DIM, np.float32)
    face[-6:] = (1, 0, 0, 0, 1, 0)
    tile = lambda a: np.repeat(a[None], n_frames, 0)  # noqa: E731
    return MotionSequence(body=tile(body), lhand=tile(to6(track.rot[0, LHAND])), rhand=tile(to6(track.rot[0, RHAND])),
                          face=tile(face))


def _aa(x: np.ndarray) -> np.ndarray:
    return axis_angle_to_rot6d(torch.from_numpy(np.asarray(x, np.float64))).numpy().astype(np.float32)


def _mean_rotation(axis_angles: np.ndarray) -> np.ndarray:
    """The rotation nearest to the mean of the per-frame rotation matrices (SVD projection)."""
    mats = axis_angle_to_matrix(torch.from_numpy(np.asarray(axis_angles, np.float64))).numpy().mean(0)
    u, _, vt = np.linalg.svd(mats)
    r = u @ vt
    return (u @ np.diag([1, 1, np.sign(np.linalg.det(r))]) @ vt).astype(np.float32)


def _need(arrays: dict, key: str, shape: tuple, file: Path) -> np.ndarray:
    a = np.asarray(arrays[key])
    if a.shape != shape or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
        raise UserError(f"{a.dtype} {a.shape}, expected finite numbers {shape}", file=file, field=key)
    return a.astype(np.float64)


def _from_parts(arrays: dict, n_frames: int, file: Path) -> tuple[MotionSequence, np.ndarray | None]:
    seq = rest_sequence(n_frames)
    t = n_frames
    body_aa = _need(arrays, "body_pose", (t, 63), file).reshape(t, 21, 3)
    for i, name in enumerate(BODY_JOINT_NAMES):
        seq.body[:, i] = _aa(body_aa[:, SMPLX_JOINT_NAMES.index(name) - 1])
    for key, stream in (("left_hand_pose", "lhand"), ("right_hand_pose", "rhand")):
        if key in arrays:
            setattr(seq, stream, _aa(_need(arrays, key, (t, 45), file).reshape(t, 15, 3)))
    if "jaw_pose" in arrays:
        seq.face[:, -6:] = _aa(_need(arrays, "jaw_pose", (t, 3), file))
    if "expression" in arrays:
        expr = np.asarray(arrays["expression"])
        if expr.ndim != 2 or expr.shape[0] != t or expr.shape[1] > N_EXPRESSION:
            raise UserError(f"shape {expr.shape}, expected ({t}, K<={N_EXPRESSION})", file=file, field="expression")
        seq.face[:, :expr.shape[1]] = _need(arrays, "expression", expr.shape, file)
    if "eyelids" in arrays:
        seq.face[:, N_EXPRESSION:N_EXPRESSION + 2] = _need(arrays, "eyelids", (t, 2), file)
    if "betas" in arrays:
        betas = np.asarray(arrays["betas"]).reshape(-1)
        if betas.size not in range(1, SHAPE_DIM + 1):
            raise UserError(f"{betas.size} coefficients, expected 1..{SHAPE_DIM}", file=file, field="betas")
        shape = np.zeros(SHAPE_DIM, np.float32)
        shape[:betas.size] = betas
        seq.shape = shape
    root = _need(arrays, "global_orient", (t, 3), file) if "global_orient" in arrays else None
    return seq, None if root is None else _mean_rotation(root)


def read_init(path: str | Path, n_frames: int) -> InitParams:
    """Read one tracker initialisation (see the module docstring) for a clip of ``n_frames`` frames."""
    path = Path(path)
    arrays = read_npz(path)
    root = None
    if all(s in arrays for s in STREAMS):
        seq = MotionSequence(**{k: np.asarray(arrays[k], np.float32) for k in (*STREAMS, "shape") if k in arrays})
        seq.validate(file=path)
    elif "poses" in arrays:
        seq = smplx2020_flame_to_sequence(arrays, file=path)
        root = _mean_rotation(seq.meta.pop("root_axis_angle"))
        seq.meta = {}
    elif "body_pose" in arrays:
        seq, root = _from_parts(arrays, int(np.shape(arrays["body_pose"])[0]), path)
    else:
        raise UserError(f"holds {sorted(arrays)}; expected SMPL-FX streams (body, lhand, rhand, face), SMPL-X "
                        f"2020 + FLAME (poses, expressions, betas) or SMPL-X parts (body_pose, ...)", file=path)
    if seq.n_frames != n_frames:
        raise UserError(f"{seq.n_frames} frames, the keypoints have {n_frames}", file=path)
    if seq.shape is not None and seq.shape.shape != (SHAPE_DIM,):
        seq.shape = np.pad(seq.shape, (0, SHAPE_DIM - seq.shape.shape[0])).astype(np.float32)
    return InitParams(seq, root, str(path))


def smooth_sequence(seq: MotionSequence, sigma_frames: float) -> MotionSequence:
    """``seq`` low-passed over time by a Gaussian of ``sigma_frames`` (edges reflected): rotations are
    averaged in 6D and re-orthonormalised, expressions and eyelids averaged. Trackers estimate every frame
    on its own; this is the trajectory the fit starts from and its prior pulls towards. ``0``: unchanged."""
    if sigma_frames <= 0 or seq.n_frames < 2:
        return seq
    from scipy.ndimage import gaussian_filter1d

    from m3t_bench.motion import matrix_to_rot6d, rot6d_to_matrix
    from m3t_bench.motion.layout import FACE_JAW_6D

    def low(a: np.ndarray) -> np.ndarray:
        return gaussian_filter1d(np.asarray(a, np.float64), sigma_frames, axis=0, mode="reflect")

    def rot(a: np.ndarray) -> np.ndarray:
        return matrix_to_rot6d(rot6d_to_matrix(torch.from_numpy(low(a)))).numpy().astype(np.float32)

    face = low(seq.face).astype(np.float32)
    face[:, FACE_JAW_6D] = rot(seq.face[:, FACE_JAW_6D])
    return MotionSequence(body=rot(seq.body), lhand=rot(seq.lhand), rhand=rot(seq.rhand), face=face, shape=seq.shape)
