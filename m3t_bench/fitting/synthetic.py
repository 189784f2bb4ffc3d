"""Synthetic keypoints from known SMPL-FX motion: the round-trip test and benchmark of the fitting.

``render_keypoints`` projects a sequence's layout keypoints through a camera (signer facing it, 2.6 m
away); ``corrupt`` adds Gaussian pixel noise and marks a share of keypoints as missed (confidence 0,
coordinates replaced by garbage); ``perturb_init`` makes a tracker-like start (rotations off by random
angles, expressions and shape off by Gaussian noise). Randomness comes from explicit seeded generators.
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.fitting.camera import FACING_CAMERA, Intrinsics, default_intrinsics, project, to_camera
from m3t_bench.fitting.init_params import InitParams
from m3t_bench.fitting.keypoints import KeypointClip
from m3t_bench.fitting.layouts import ResolvedLayout
from m3t_bench.motion import MotionSequence, axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from m3t_bench.motion.layout import FACE_JAW_6D, N_EXPRESSION

#: A camera framing a seated signer from the hips up: 1280x720, focal = diagonal, 2.6 m away, slightly below
#: the shoulders (model space y = 0.35 m at the image centre).
DEFAULT_SIZE = (1280, 720)
DEFAULT_TRANSLATION = np.array([0.0, 0.35, 2.6], np.float32)


def model_keypoints(model, resolved: ResolvedLayout, seq: MotionSequence) -> torch.Tensor:
    """Layout keypoints ``(T, K, 3)`` (metres, model space) of a sequence (unmapped keypoints at 0)."""
    dev = model.template.device
    as_t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev)  # noqa: E731
    with torch.no_grad():
        points = model.named_points(resolved.point_names, body=as_t(seq.body), lhand=as_t(seq.lhand),
                                    rhand=as_t(seq.rhand), face=as_t(seq.face),
                                    shape=None if seq.shape is None else as_t(seq.full_shape()))
        return torch.einsum("kp,tpc->tkc", as_t(resolved.weights), points)


def render_keypoints(model, resolved: ResolvedLayout, seq: MotionSequence, *, clip_id: str = "synthetic",
                     image_size: tuple[int, int] = DEFAULT_SIZE, translation=DEFAULT_TRANSLATION,
                     fps: float = 25.0, with_3d: bool = False) -> tuple[KeypointClip, Intrinsics]:
    """Exact 2D keypoints of ``seq`` in ``resolved``'s layout (confidence 1 on mapped keypoints, 0 elsewhere)
    seen by the default camera; ``with_3d`` also returns the model-space keypoints as 3D observations."""
    intr = default_intrinsics(*image_size)
    kp = model_keypoints(model, resolved, seq)
    cam = to_camera(kp, torch.as_tensor(FACING_CAMERA, device=kp.device),
                    torch.as_tensor(np.asarray(translation, np.float32), device=kp.device))
    px = project(cam, intr.focal, intr.cx, intr.cy).cpu().numpy()
    conf = np.repeat(resolved.mapped[None].astype(np.float32), seq.n_frames, 0)
    xyz = kp.cpu().numpy() if with_3d else None
    clip = KeypointClip(clip_id, resolved.layout, px.astype(np.float32), conf, image_size, fps,
                        xyz, conf.copy() if with_3d else None, source=f"<synthetic {clip_id}>")
    return clip.checked(), intr


def corrupt(clip: KeypointClip, rng: np.random.Generator, *, noise_px: float = 1.0, drop: float = 0.2,
            noise_3d: float = 0.0) -> KeypointClip:
    """A copy with N(0, ``noise_px``) pixel noise, a random ``drop`` share of the mapped keypoint
    observations set to confidence 0 with uniformly random coordinates, and N(0, ``noise_3d``) noise on 3D
    keypoints (their unit)."""
    xy = clip.xy + rng.normal(0.0, noise_px, clip.xy.shape).astype(np.float32)
    conf = clip.confidence.copy()
    dropped = (rng.random(conf.shape) < drop) & (conf > 0)
    conf[dropped] = 0.0
    w, h = clip.image_size
    xy[dropped] = rng.uniform(0, 1, (int(dropped.sum()), 2)) * [w, h]
    xyz, conf3 = clip.xyz, clip.confidence_3d
    if xyz is not None:
        xyz = xyz + rng.normal(0.0, noise_3d, xyz.shape).astype(np.float32)
        conf3 = conf3 * ~dropped
    return KeypointClip(clip.clip_id, clip.layout, xy, conf, clip.image_size, clip.fps, xyz, conf3, clip.source)


def _rotate(x6: np.ndarray, rng: np.random.Generator, degrees: float) -> np.ndarray:
    """Each 6D rotation of ``x6 (..., 6)`` composed with a random rotation of ``degrees`` (random axis)."""
    axis = rng.normal(size=(*x6.shape[:-1], 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    delta = axis_angle_to_matrix(torch.as_tensor(axis * np.deg2rad(degrees)))
    m = rot6d_to_matrix(torch.as_tensor(x6, dtype=torch.float64))
    return matrix_to_rot6d(delta @ m).numpy().astype(np.float32)


def perturb_init(seq: MotionSequence, rng: np.random.Generator, *, body_deg: float = 10.0, hand_deg: float = 15.0,
                 jaw_deg: float = 5.0, expression_std: float = 0.5, shape_std: float = 0.3) -> InitParams:
    """A tracker-like initialisation of ``seq``: per-frame rotations off by the given angles (random axes),
    expressions and eyelids off by N(0, ``expression_std``), shape off by N(0, ``shape_std``)."""
    face = seq.face.copy()
    face[:, :N_EXPRESSION + 2] += rng.normal(0.0, expression_std, face[:, :N_EXPRESSION + 2].shape)
    face[:, FACE_JAW_6D] = _rotate(seq.face[:, FACE_JAW_6D], rng, jaw_deg)
    shape = seq.full_shape() + rng.normal(0.0, shape_std, seq.full_shape().shape).astype(np.float32)
    out = MotionSequence(body=_rotate(seq.body, rng, body_deg), lhand=_rotate(seq.lhand, rng, hand_deg),
                         rhand=_rotate(seq.rhand, rng, hand_deg), face=face.astype(np.float32), shape=shape)
    return InitParams(out, None, "<perturbed ground truth>")


def recovery_errors(model, truth: MotionSequence, estimate: MotionSequence) -> dict[str, float]:
    """How far ``estimate`` is from ``truth`` (same frames), in mm unless stated: ``joints_mm`` mean distance
    of the 42 SMPL-FX joints (model space, no alignment: root and camera are part of the fit), ``body_mm`` /
    ``hands_mm`` the same over the 12 body / 30 finger joints, ``joints_pa_mm`` per-frame Procrustes-aligned
    (:func:`m3t_bench.metrics.pa_jpe`), ``hands_wrist_aligned_mm`` finger joints with each hand's wrist
    translated onto the truth's (:func:`m3t_bench.metrics.mpjpe`), ``face_mm`` the 5,023 FLAME-region
    vertices with the head joint translated onto the truth's (expression, jaw, eyelids and head rotation),
    and ``expression_abs`` the mean absolute error of the 100 expression coefficients (unitless)."""
    from m3t_bench.body.joint_sets import get_joint_set
    from m3t_bench.metrics import mpjpe, pa_jpe
    dev = model.template.device
    as_t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev)  # noqa: E731

    def points(seq: MotionSequence):
        kw = dict(body=as_t(seq.body), lhand=as_t(seq.lhand), rhand=as_t(seq.rhand), face=as_t(seq.face),
                  shape=as_t(seq.full_shape()))
        with torch.no_grad():
            return model.joints(**kw).cpu().numpy(), model.evaluation_points("face", **kw).cpu().numpy()

    (jt, ft), (je, fe) = points(truth), points(estimate)
    dist = lambda a, b: float(np.linalg.norm(a - b, axis=-1).mean() * 1000)  # noqa: E731
    names = model.joint_names
    hands = [mpjpe(je[:, cols], jt[:, cols], root=0, scored=range(1, 16))
             for side in ("left", "right")
             for cols in ([names.index(f"{side}_wrist"), *[i for i, n in enumerate(names)
                                                           if n.startswith(f"{side}_") and n[-1].isdigit()]],)]
    face = get_joint_set("face")
    return {"joints_mm": dist(je, jt), "body_mm": dist(je[:, :12], jt[:, :12]), "hands_mm": dist(je[:, 12:], jt[:, 12:]),
            "joints_pa_mm": pa_jpe(je, jt), "hands_wrist_aligned_mm": float(np.mean(hands)),
            "face_mm": mpjpe(fe, ft, root=face.root, scored=face.scored),
            "expression_abs": float(np.abs(estimate.face[:, :N_EXPRESSION] - truth.face[:, :N_EXPRESSION]).mean())}
