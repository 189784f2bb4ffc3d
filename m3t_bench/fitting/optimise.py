"""Fitting SMPL-FX to one clip's keypoints: per-clip optimisation, batched over the clip's frames.

Parameters: per frame the body and hand 6D rotations, the 108-d face (100 FLAME expressions, 2 eyelids,
jaw 6D); per clip the signer's static shape (10 SMPL-X body coefficients and, optionally, the first FLAME
head coefficients), the root rotation (6D) and translation of the camera-facing signer, optionally the focal
length, and, with 3D keypoints, a similarity (rotation, scale, translation) placing them in model space.

Loss (weights in :class:`FitConfig`)::

    sum_part w_part * GM reprojection (2D, per part, robust)      + w_3d * GM 3D keypoints
  + w_accel * keypoint acceleration (body + hands, and face)       + w_init_* * ||theta - smoothed theta_tracker||^2
  + w_expression * ||psi||^2 + w_eyelids * ||eyelids||^2 + w_shape * ||beta||^2 (+ focal prior)

Stages: (1) camera: root, translation, body shape (and focal) against the torso keypoints; (2) reach, only
without a tracker initialisation: body and hand rotations against body and hand keypoints with a wide
robust scale (arms far from the rest pose still get pulled); (3) all parameters with Adam, cosine-decayed learning rate, the final robust scale;
(4) optional L-BFGS polish. A clip *converges* when
every loss stays finite and the final mean reprojection error, in percent of each part's image size, is at
most ``max_error`` (and, with 3D keypoints, their mean distance at most ``max_error_3d_mm``); otherwise
the result says why and the pipeline skips the clip.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import Tensor

from m3t_bench.config_bounds import check_bounds
from m3t_bench.fitting.camera import FACING_CAMERA, Intrinsics, default_intrinsics, initial_translation, project, to_camera
from m3t_bench.fitting.init_params import InitParams, rest_sequence, smooth_sequence
from m3t_bench.fitting.keypoints import KeypointClip
from m3t_bench.fitting.layouts import PARTS, ResolvedLayout
from m3t_bench.fitting.quality import acceleration_mm, reprojection_summary
from m3t_bench.fitting.losses import (acceleration_term, keypoints3d_term, l2_to, mean_pixel_error,
                                      reprojection_terms)
from m3t_bench.motion import MotionSequence, matrix_to_rot6d, rot6d_to_matrix
from m3t_bench.motion.limits import MAX_FRAMES
from m3t_bench.motion.layout import FACE_EXPRESSION, FACE_EYELIDS, FACE_JAW_6D, N_BODY_SHAPE, SHAPE_DIM

#: Fallback part sizes (fraction of the image diagonal) when a clip shows too few keypoints of a part.
FALLBACK_PART_SIZE = {"body": 0.5, "lhand": 0.12, "rhand": 0.12, "face": 0.15}


@dataclass(frozen=True)
class FitConfig:
    """Every setting of a fit (recorded in the dataset card). Units: learning rates per Adam step; ``sigma``
    and ``max_error`` in percent of the part's image size; ``sigma_3d_mm`` mm; acceleration in mm/frame^2;
    the loss terms are in those units squared (see :mod:`m3t_bench.fitting.losses`). The camera and reach
    stages use the wide robust scale ``sigma_reach`` (nearly least squares, so keypoints far from the start
    pose still pull), the final stage ``sigma``."""

    camera_iterations: int = 60
    iterations: int = 300
    lbfgs_iterations: int = 0
    lr: float = 0.01
    lr_root: float = 0.002
    lr_translation: float = 0.005
    lr_shape: float = 0.05
    lr_face: float = 0.05
    min_lr_fraction: float = 0.1
    sigma: float = 10.0
    sigma_reach: float = 200.0
    reach_iterations: int = 60
    w_body: float = 1.0
    w_lhand: float = 1.0
    w_rhand: float = 1.0
    w_face: float = 1.0
    w_3d: float = 1.0
    sigma_3d_mm: float = 50.0
    w_accel: float = 0.01
    w_accel_face: float = 0.01
    w_init_pose: float = 0.1
    init_smoothing_frames: float = 2.0
    w_root: float = 10.0
    w_init_face: float = 0.01
    w_expression: float = 0.01
    w_eyelids: float = 0.01
    w_shape: float = 0.01
    n_head_shape: int = 50
    fit_focal: bool = False
    w_focal: float = 100.0
    min_confidence: float = 0.3
    max_error: float = 15.0
    max_error_3d_mm: float = 50.0
    max_frames: int = 2000

    def __post_init__(self):
        if not isinstance(self.fit_focal, bool):
            raise ValueError(f"fit_focal {self.fit_focal!r:.40}: expected true or false")
        floats = {f.name: (1e-6 if f.name in _POSITIVE else 0.0, 1.0 if f.name in _FRACTIONS else 1e6)
                  for f in fields(self) if f.name not in _ITERATION_BOUNDS and f.name != "fit_focal"}
        check_bounds(self, _ITERATION_BOUNDS, floats)

    def to_json(self) -> dict:
        return asdict(self)


#: Bounds of the integer settings (a ``--config`` file cannot ask for a billion steps); every other number
#: must be finite and within [0, 1e6] ([0, 1] for the fractions; the robust scales, which divide, positive).
_ITERATION_BOUNDS = {"camera_iterations": (0, 100_000), "iterations": (0, 1_000_000), "lbfgs_iterations": (0, 100_000),
                     "reach_iterations": (0, 100_000), "n_head_shape": (0, 300), "max_frames": (1, MAX_FRAMES)}
_FRACTIONS = ("min_lr_fraction", "min_confidence")
_POSITIVE = ("sigma", "sigma_reach", "sigma_3d_mm")


@dataclass
class FitResult:
    """One clip's outcome: ``converged`` (else ``reason``), the fitted ``sequence`` (data contract, with
    ``shape (310,)``), ``camera`` (focal, cx, cy, width, height, root rotation 3x3, translation m),
    final ``losses``, ``metrics`` (pixel errors before/after overall and per part, acceleration, timings) and
    the loss ``history``."""

    clip_id: str
    converged: bool
    reason: str = ""
    sequence: MotionSequence | None = None
    camera: dict = field(default_factory=dict)
    losses: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)


class _State(torch.nn.Module):
    """The optimised parameters of one clip."""

    def __init__(self, init: MotionSequence, root: np.ndarray, translation: np.ndarray, focal: float,
                 n_head_shape: int, device):
        super().__init__()
        t = lambda a: torch.nn.Parameter(torch.as_tensor(np.asarray(a, np.float32), device=device).clone())  # noqa: E731
        self.body, self.lhand, self.rhand = t(init.body), t(init.lhand), t(init.rhand)
        self.expression, self.eyelids = t(init.face[:, FACE_EXPRESSION]), t(init.face[:, FACE_EYELIDS])
        self.jaw = t(init.face[:, FACE_JAW_6D])
        shape = np.zeros(SHAPE_DIM, np.float32) if init.shape is None else init.full_shape()
        self.register_buffer("shape_init", torch.as_tensor(shape, device=device))
        self.shape_body = t(shape[:N_BODY_SHAPE])
        self.shape_head = t(shape[N_BODY_SHAPE:N_BODY_SHAPE + n_head_shape])
        self.root = t(matrix_to_rot6d(torch.as_tensor(root)).numpy())
        self.translation = t(translation)
        self.log_focal = t(np.float32(math.log(focal)))
        self.sim_rot = t(np.array([1, 0, 0, 0, 1, 0], np.float32))
        self.sim_log_scale = t(np.float32(0.0))
        self.sim_translation = t(np.zeros(3, np.float32))

    def face(self) -> Tensor:
        return torch.cat([self.expression, self.eyelids, self.jaw], 1)

    def shape(self) -> Tensor:
        rest = self.shape_init[N_BODY_SHAPE + self.shape_head.shape[0]:]
        return torch.cat([self.shape_body, self.shape_head, rest])

    def groups(self, stage: str, config: "FitConfig") -> list[dict]:
        """Adam parameter groups of ``stage`` (``camera``, ``reach`` or ``all``) with their learning rates:
        the root and the translation move everything, so they step more finely than the joints."""
        groups = [{"params": [self.root, self.sim_rot], "lr": config.lr_root},
                  {"params": [self.translation, self.sim_translation, self.sim_log_scale], "lr": config.lr_translation},
                  {"params": [self.shape_body] + ([self.log_focal] if config.fit_focal else []), "lr": config.lr_shape}]
        if stage == "camera":
            return groups
        if stage == "reach":
            return [{"params": [self.body, self.lhand, self.rhand], "lr": config.lr}]
        return groups + [{"params": [self.body, self.lhand, self.rhand, self.jaw], "lr": config.lr},
                         {"params": [self.expression, self.eyelids, self.shape_head], "lr": config.lr_face}]


@dataclass
class _Problem:
    """Tensors of one clip on the device."""

    obs: Tensor            # (T, K, 2) px
    conf: Tensor           # (T, K) 2D confidence, 0 where unmapped
    obs3d: Tensor | None   # (T, K, 3)
    conf3d: Tensor | None  # (T, K)
    part: Tensor           # (K,) long
    part_scale: Tensor     # (K,) px
    part_weight: Tensor    # (n_parts,)
    weights: Tensor        # (K, P) keypoint combination of model points
    has_init: bool
    intr: Intrinsics


def _part_sizes(clip: KeypointClip, resolved: ResolvedLayout, min_conf: float, diagonal: float) -> dict[str, float]:
    """Median over frames of the bounding-box diagonal (px) of each part's confident mapped keypoints."""
    sizes = {}
    for part in PARTS:
        cols = np.nonzero(resolved.part_mask(part))[0]
        diag = []
        for t in range(clip.n_frames):
            ok = cols[clip.confidence[t, cols] >= min_conf]
            if len(ok) >= 3:
                pts = clip.xy[t, ok]
                diag.append(float(np.linalg.norm(pts.max(0) - pts.min(0))))
        good = [d for d in diag if d > 1e-3]
        sizes[part] = float(np.median(good)) if good else FALLBACK_PART_SIZE[part] * diagonal
    return sizes


#: Point-name fragments of the arms: keypoints on them do not place the camera (stage 1 keeps the start pose).
ARM_POINT_FRAGMENTS = ("elbow", "wrist", "thumb", "index", "middle", "ring", "pinky")


def _torso_mask(resolved: ResolvedLayout) -> np.ndarray:
    """Mapped body-part keypoints whose targets are off the arms (shoulders, hips, neck, head, face points):
    what the camera stage fits; all mapped body keypoints when no such keypoint exists."""
    off_arm = np.array([not any(frag in name for name, _ in k.target for frag in ARM_POINT_FRAGMENTS)
                        for k in resolved.layout.keypoints])
    mask = resolved.part_mask("body") & off_arm
    return (mask if mask.any() else resolved.part_mask("body")).astype(np.float32)


def _keypoints(model, resolved_points: tuple[str, ...], state: _State, weights: Tensor) -> Tensor:
    """Model keypoints ``(T, K, 3)`` in model space (metres)."""
    points = model.named_points(resolved_points, body=state.body, lhand=state.lhand, rhand=state.rhand,
                                face=state.face(), shape=state.shape())
    return torch.einsum("kp,tpc->tkc", weights, points)


def _similarity_init(model_pts: np.ndarray, obs: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Weighted Umeyama fit ``model ≈ s R obs + t`` over rows; returns ``(R, s, t, mirrored)`` where
    ``mirrored`` says the observations needed x -> -x (a left-handed coordinate frame)."""
    def fit(o):
        wn = w / w.sum()
        mo, mm = (wn[:, None] * o).sum(0), (wn[:, None] * model_pts).sum(0)
        oc, mc = o - mo, model_pts - mm
        cov = (wn[:, None] * mc).T @ oc
        u, s, vt = np.linalg.svd(cov)
        d = np.sign(np.linalg.det(u @ vt))
        r = u @ np.diag([1, 1, d]) @ vt
        var = (wn * (oc ** 2).sum(1)).sum()
        scale = (s * [1, 1, d]).sum() / max(var, 1e-12)
        err = (wn * ((scale * oc @ r.T + mm - model_pts) ** 2).sum(1)).sum()
        return r, scale, mm - scale * mo @ r.T, err
    direct, mirrored = fit(obs), fit(obs * [-1, 1, 1])
    if mirrored[3] < direct[3]:
        return mirrored[0], mirrored[1], mirrored[2], True
    return direct[0], direct[1], direct[2], False


def fit_clip(model, resolved: ResolvedLayout, clip: KeypointClip, config: FitConfig = FitConfig(), *,
             init: InitParams | None = None, intrinsics: Intrinsics | None = None, focal: float | None = None,
             use_3d: bool = True) -> FitResult:
    """Fit SMPL-FX to ``clip`` (keypoints in ``resolved``'s layout) with ``model`` (its device is used)."""
    start = time.perf_counter()
    device = model.template.device
    if clip.n_frames > config.max_frames:
        return FitResult(clip.clip_id, False, f"{clip.n_frames} frames, more than max_frames={config.max_frames}")
    mapped = resolved.mapped.astype(np.float32)
    conf2d = clip.confidence * mapped[None]
    use_3d = use_3d and clip.xyz is not None and bool((clip.confidence_3d * mapped[None]).sum() > 0)
    if conf2d.max(initial=0) < config.min_confidence and not use_3d:
        return FitResult(clip.clip_id, False, "no confident mapped keypoints")
    width, height = clip.image_size
    intr = intrinsics or default_intrinsics(width, height, focal)
    start_seq = smooth_sequence(init.sequence, config.init_smoothing_frames) if init is not None \
        else rest_sequence(clip.n_frames)
    root = init.root_rotation if init is not None and init.root_rotation is not None else FACING_CAMERA
    sizes = _part_sizes(clip, resolved, config.min_confidence, intr.diagonal)
    t = lambda a, kind=torch.float32: torch.as_tensor(np.asarray(a), dtype=kind, device=device)  # noqa: E731
    part_weight = [config.w_body, config.w_lhand, config.w_rhand, config.w_face]
    prob = _Problem(obs=t(clip.xy), conf=t(conf2d), obs3d=t(clip.xyz) if use_3d else None,
                    conf3d=t(clip.confidence_3d * mapped[None]) if use_3d else None, part=t(resolved.part, torch.long),
                    part_scale=t([sizes[PARTS[p]] for p in resolved.part]), part_weight=t(part_weight),
                    weights=t(resolved.weights), has_init=init is not None, intr=intr)
    state = _State(start_seq, root, np.zeros(3, np.float32), intr.focal, config.n_head_shape, device)
    with torch.no_grad():
        kp0 = _keypoints(model, resolved.point_names, state, prob.weights).cpu().numpy()
    body_cols = resolved.part_mask("body")
    w_body = (conf2d[:, body_cols] >= config.min_confidence) * conf2d[:, body_cols]
    if w_body.sum() == 0:  # no body keypoints: place the camera on whatever is seen
        body_cols, w_body = resolved.mapped, (conf2d >= config.min_confidence) * conf2d
    translation = initial_translation(kp0[:, body_cols].reshape(-1, 3), clip.xy[:, body_cols].reshape(-1, 2),
                                      w_body.reshape(-1), root, intr)
    with torch.no_grad():
        state.translation.copy_(t(translation))
    mirrored_3d = False
    if use_3d:
        w3 = (clip.confidence_3d * mapped[None]).reshape(-1)
        r, s, tr, mirrored_3d = _similarity_init(kp0.reshape(-1, 3)[w3 > 0], clip.xyz.reshape(-1, 3)[w3 > 0], w3[w3 > 0])
        if mirrored_3d:
            prob.obs3d = prob.obs3d * prob.obs3d.new_tensor([-1.0, 1.0, 1.0])
        with torch.no_grad():
            state.sim_rot.copy_(matrix_to_rot6d(t(r)))
            state.sim_log_scale.fill_(math.log(max(s, 1e-8)))
            state.sim_translation.copy_(t(tr))
    targets = {"body": state.body.detach().clone(), "lhand": state.lhand.detach().clone(),
               "rhand": state.rhand.detach().clone(), "jaw": state.jaw.detach().clone(),
               "expression": state.expression.detach().clone(), "eyelids": state.eyelids.detach().clone()}
    root_start = state.root.detach().clone()
    torso = t(_torso_mask(resolved))
    limbs = t(resolved.mapped & ~resolved.part_mask("face"))
    face_cols = t(resolved.part_mask("face"), torch.bool)
    limb_cols = t(resolved.mapped & ~resolved.part_mask("face"), torch.bool)

    def objective(stage: str, sigma: float = config.sigma) -> tuple[Tensor, dict, Tensor]:
        kp = _keypoints(model, resolved.point_names, state, prob.weights)
        terms: dict[str, Tensor] = {}
        px = None
        if prob.conf.sum() > 0:
            rotation = rot6d_to_matrix(state.root)
            px = project(to_camera(kp, rotation, state.translation), state.log_focal.exp(), intr.cx, intr.cy)
            conf = {"camera": prob.conf * torso[None], "reach": prob.conf * limbs[None]}.get(stage, prob.conf)
            per_part, mass = reprojection_terms(px, prob.obs, conf, prob.part_scale, prob.part, len(PARTS), sigma)
            terms["reprojection"] = (per_part * prob.part_weight * (mass > 0)).sum()
        if prob.obs3d is not None and stage != "camera":
            placed = state.sim_log_scale.exp() * prob.obs3d @ rot6d_to_matrix(state.sim_rot).T + state.sim_translation
            terms["keypoints_3d"] = config.w_3d * keypoints3d_term(kp, placed, prob.conf3d, config.sigma_3d_mm)
        if stage != "camera":
            terms["acceleration"] = config.w_accel * acceleration_term(kp[:, limb_cols]) \
                + config.w_accel_face * acceleration_term(kp[:, face_cols])
            if prob.has_init:
                terms["init_prior"] = config.w_init_pose * sum(l2_to(getattr(state, k), targets[k])
                                                               for k in ("body", "lhand", "rhand", "jaw")) \
                    + config.w_init_face * (l2_to(state.expression, targets["expression"])
                                            + l2_to(state.eyelids, targets["eyelids"]))
            terms["regulariser"] = config.w_expression * state.expression.square().sum(1).mean() \
                + config.w_eyelids * state.eyelids.square().sum(1).mean()
        terms["shape_prior"] = config.w_shape * (state.shape() - state.shape_init).square().sum()
        terms["root_prior"] = config.w_root * (state.root - root_start).square().sum()
        if config.fit_focal:
            terms["focal_prior"] = config.w_focal * (state.log_focal - math.log(intr.focal)).square()
        return sum(terms.values()), terms, px if px is not None else kp

    def pixel_error(px: Tensor) -> float:
        return float(mean_pixel_error(px, prob.obs, prob.conf, config.min_confidence))

    history: list[dict] = []
    with torch.no_grad():
        _, _, px0 = objective("all")
        before = {"reprojection_px_init": pixel_error(px0)} if prob.conf.sum() > 0 else {}
        if prob.obs3d is not None:
            before["keypoints_3d_mm_init"] = _distance_3d_mm(model, resolved, state, prob)
    diverged = False
    has_2d = bool(prob.conf.sum() > 0)
    reach = config.reach_iterations if has_2d and init is None else 0  # a tracker start needs no reaching
    stages = (("camera", config.camera_iterations if has_2d else 0), ("reach", reach),
              ("all", config.iterations))
    for stage, steps in stages:
        optim = torch.optim.Adam(state.groups(stage, config))
        base = [g["lr"] for g in optim.param_groups]
        sigma = config.sigma if stage == "all" else config.sigma_reach
        for step in range(steps):
            decay = config.min_lr_fraction + (1 - config.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
            for g, lr in zip(optim.param_groups, base):
                g["lr"] = lr * (decay if stage == "all" else 1.0)
            optim.zero_grad(set_to_none=True)
            loss, terms, _ = objective(stage, sigma)
            if not torch.isfinite(loss):
                diverged = True
                break
            loss.backward()
            optim.step()
            if step % 25 == 0 or step == steps - 1:
                history.append({"stage": stage, "step": step, "loss": float(loss.detach())})
        if diverged:
            break
    if config.lbfgs_iterations and not diverged:
        params = [p for group in state.groups("all", config) for p in group["params"]]
        lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=config.lbfgs_iterations, line_search_fn="strong_wolfe")

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            value = objective("all")[0]
            value.backward()
            return value
        lbfgs.step(closure)
    with torch.no_grad():
        loss, terms, px = objective("all")
    diverged = diverged or not torch.isfinite(loss) or not all(torch.isfinite(p).all() for p in state.parameters())
    losses = {k: float(v) for k, v in terms.items()} | {"total": float(loss)}
    metrics = {**before, **_metrics(model, resolved, state, prob, px, config)} if not diverged else {}
    metrics["seconds"] = round(time.perf_counter() - start, 3)
    metrics["mirrored_3d"] = mirrored_3d
    camera = {"focal": float(state.log_focal.detach().exp()), "cx": intr.cx, "cy": intr.cy, "width": intr.width,
              "height": intr.height, "root_rotation": rot6d_to_matrix(state.root).detach().cpu().tolist(),
              "translation": state.translation.detach().cpu().tolist()}
    if diverged:
        return FitResult(clip.clip_id, False, "diverged (non-finite loss or parameters)", camera=camera, losses=losses,
                         metrics=metrics, history=history)
    error, error_3d = metrics.get("reprojection_rel", 0.0), metrics.get("keypoints_3d_mm", 0.0)
    reason = (f"mean reprojection error {error:.1f}% of the part size is above max_error={config.max_error}%"
              if error > config.max_error else
              f"mean 3D keypoint distance {error_3d:.1f} mm is above max_error_3d_mm={config.max_error_3d_mm}"
              if error_3d > config.max_error_3d_mm else "")
    converged = not reason
    return FitResult(clip.clip_id, converged, reason, _sequence(state), camera, losses, metrics, history)


def _clean6d(x: Tensor) -> np.ndarray:
    return matrix_to_rot6d(rot6d_to_matrix(x.detach())).cpu().numpy().astype(np.float32)


def _sequence(state: _State) -> MotionSequence:
    """The fitted parameters in the data contract (6D re-orthonormalised)."""
    face = torch.cat([state.expression.detach(), state.eyelids.detach(), torch.as_tensor(_clean6d(state.jaw),
                                                                                        device=state.jaw.device)], 1)
    return MotionSequence(body=_clean6d(state.body), lhand=_clean6d(state.lhand), rhand=_clean6d(state.rhand),
                          face=face.cpu().numpy().astype(np.float32), shape=state.shape().detach().cpu().numpy().astype(np.float32))


def _distance_3d_mm(model, resolved, state: _State, prob: _Problem) -> float:
    """Confidence-weighted mean distance (mm) between the model keypoints and the 3D keypoints placed by the
    per-clip similarity."""
    kp = _keypoints(model, resolved.point_names, state, prob.weights)
    placed = state.sim_log_scale.exp() * prob.obs3d @ rot6d_to_matrix(state.sim_rot).T + state.sim_translation
    return float(((kp - placed).norm(dim=-1) * prob.conf3d).sum() / prob.conf3d.sum() * 1000)


def _metrics(model, resolved, state, prob: _Problem, px: Tensor, config: FitConfig) -> dict:
    """Quality figures of the final state (see :mod:`m3t_bench.fitting.quality` for their meaning)."""
    out: dict = {}
    if prob.conf.sum() > 0:
        out.update(reprojection_summary(px, prob.obs, prob.conf, prob.part_scale, resolved, config.min_confidence))
    with torch.no_grad():
        joints = model.joints(body=state.body, lhand=state.lhand, rhand=state.rhand, face=state.face(),
                              shape=state.shape())
        out["joint_acceleration_mm"] = acceleration_mm(joints)
        if prob.obs3d is not None:
            out["keypoints_3d_mm"] = _distance_3d_mm(model, resolved, state, prob)
    return out
