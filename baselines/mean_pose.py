"""Mean pose: one static pose, the training split's mean, held for a length predicted from the text.

The pose: per joint, the chordal L2 mean of the training frames' rotations (sum of rotation matrices,
projected back to SO(3) by SVD with a proper-rotation fix), for the body and both hands and for the jaw;
the arithmetic mean of the 100 expression and 2 eyelid coefficients. The length: a least-squares line
``n_frames = a + b * n_tokens`` fitted on the training split's manifest (text tokens -> frames), evaluated
on the test sentence and rounded (at least 1 frame). The system never reads the test references.
"""

from __future__ import annotations

import numpy as np
import torch

from baselines.common import text_tokens
from m3t_bench.motion import FACE_JAW_6D, ROTATION_STREAMS, MotionSequence, matrix_to_rot6d, rot6d_to_matrix

DESCRIPTION = "training-set mean pose (rotation-space mean), held for a text-predicted length"


def project_to_rotation(m: np.ndarray) -> np.ndarray:
    """Nearest rotation matrices (Frobenius) to ``m`` ``(..., 3, 3)``: ``U diag(1, 1, det(U V^T)) V^T``."""
    u, _, vt = np.linalg.svd(m)
    fix = np.ones(m.shape[:-1])
    fix[..., -1] = np.sign(np.linalg.det(u @ vt))
    return (u * fix[..., None, :]) @ vt


def _matrices(rot6d: np.ndarray) -> np.ndarray:
    return rot6d_to_matrix(torch.from_numpy(np.asarray(rot6d, dtype=np.float64))).numpy()


def mean_training_pose(train) -> MotionSequence:
    """The one-frame mean pose of a training split (see the module docstring)."""
    sums: dict[str, np.ndarray] = {}
    face_sum, n_frames = None, 0
    for entry in train.entries:
        seq = train.load(entry["id"])
        for stream in ROTATION_STREAMS:
            sums[stream] = sums.get(stream, 0) + _matrices(getattr(seq, stream)).sum(axis=0)
        jaw = _matrices(seq.face[:, FACE_JAW_6D]).sum(axis=0)
        sums["jaw"] = sums.get("jaw", 0) + jaw
        face_sum = seq.face.astype(np.float64).sum(axis=0) + (0 if face_sum is None else face_sum)
        n_frames += seq.n_frames
    pose = {s: matrix_to_rot6d(torch.from_numpy(project_to_rotation(sums[s]))).numpy()[None].astype(np.float32)
            for s in ROTATION_STREAMS}
    face = (face_sum / n_frames).astype(np.float32)
    face[FACE_JAW_6D] = matrix_to_rot6d(torch.from_numpy(project_to_rotation(sums["jaw"]))).numpy()
    return MotionSequence(**pose, face=face[None])


def fit_length_model(train) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``n_frames = a + b * n_tokens`` over the training manifest."""
    tok = train.spec.text_tokenization
    x = np.array([len(text_tokens(e["text"], tok)) for e in train.entries], dtype=np.float64)
    y = np.array([e["n_frames"] for e in train.entries], dtype=np.float64)
    if np.ptp(x) == 0:
        return float(y.mean()), 0.0
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def predicted_length(text: str, tokenization: str, model: tuple[float, float]) -> int:
    a, b = model
    return max(1, int(round(a + b * len(text_tokens(text, tokenization)))))


def predict(train, test, **_) -> dict[str, MotionSequence]:
    """``{id: mean pose repeated for the predicted length}`` for every sample of ``test``."""
    pose = mean_training_pose(train)
    length_model = fit_length_model(train)
    out = {}
    for entry in test.entries:
        n = predicted_length(entry["text"], test.spec.text_tokenization, length_model)
        out[entry["id"]] = MotionSequence(**{s: np.repeat(a, n, axis=0) for s, a in pose.streams().items()})
    return out
