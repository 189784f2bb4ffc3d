"""Active-window cropping for isolated signs (paper §3.4, after SignRep): trim the rest-pose frames before
and after the sign from hand height and wrist displacement relative to the rest pose.

Neither the paper nor SignRep's public code gives thresholds; the defaults of :class:`WindowConfig` were
tuned on SynthSign ``small`` ``synthsign-nmfs`` (400 isolated signs, 30 fps, rest-pose lead-in/out and the
generator's per-sign ``segments``): with them the window holds every frame of the sign's segment and ends
about half-way through the approach from / return to the rest pose (see ``tests/test_slr_window.py``).

Per hand, from the SMPL-FX wrist joints ``(T, 3)`` in metres (root fixed, so one body frame for the clip):

* the *rest position* is the median wrist position over the ``rest_frames`` frames where that wrist is
  lowest (the clip's own rest pose, wherever in the clip it occurs);
* ``rise(t)`` = wrist height above the rest height, ``disp(t)`` = distance from the rest position;
* the hand is *active* at ``t`` when ``rise(t) >= min_rise_m`` and ``disp(t) >= max(min_displacement_m,
  peak_fraction * max_t disp)`` — a hand that never moves ``min_displacement_m`` away from its rest takes
  no part;
* a hand whose rest position is higher than ``rest_max_height_m`` relative to the shoulders (the midpoint
  of the two shoulder joints) never rests in this clip (e.g. a clip already trimmed to the sign): it is
  active throughout, so the clip is kept whole. SynthSign's rest pose lies 0.43-0.51 m below the shoulders
  (stand-in body model), its signing space above about -0.41 m.

The window runs from the first to the last frame where either hand is active, widened by ``margin_s`` on
both sides and clipped to the clip. A clip where no hand is ever active is kept whole (never empty).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from m3t_bench.body import OUTPUT_JOINT_NAMES
from m3t_bench.errors import UserError
from m3t_bench.config_bounds import check_bounds
from m3t_bench.motion import MotionSequence

WRIST_JOINTS = ("left_wrist", "right_wrist")
SHOULDER_JOINTS = ("left_shoulder", "right_shoulder")
_FRAME_CHUNK = 512


@dataclass(frozen=True)
class WindowConfig:
    """Thresholds of the active-window search (metres, seconds); ``enabled=False`` keeps whole clips."""

    enabled: bool = True
    min_rise_m: float = 0.02
    min_displacement_m: float = 0.05
    peak_fraction: float = 0.5
    margin_s: float = 0.04
    rest_frames: int = 5
    rest_max_height_m: float = -0.35

    def __post_init__(self):
        if not isinstance(self.enabled, bool):
            raise ValueError(f"window enabled {self.enabled!r:.40}: expected true or false")
        check_bounds(self, {"rest_frames": (1, 100_000)},
                     {"min_rise_m": (0.0, 10.0), "min_displacement_m": (0.0, 10.0), "peak_fraction": (0.0, 1.0),
                      "margin_s": (0.0, 3600.0), "rest_max_height_m": (-10.0, 10.0)})
        if self.min_rise_m < 0 or self.min_displacement_m < 0 or self.margin_s < 0 or self.rest_frames < 1 \
                or not 0.0 <= self.peak_fraction <= 1.0:
            raise ValueError(f"window config {self}: thresholds and margin must be >= 0, rest_frames >= 1 and "
                             f"peak_fraction in [0, 1]")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def active_window(wrists: np.ndarray, shoulder_height: np.ndarray, fps: float,
                  cfg: WindowConfig = WindowConfig()) -> tuple[int, int]:
    """The signing window ``[start, end)`` of one clip from its wrist positions ``wrists (T, H, 3)`` and the
    height of the shoulders' midpoint ``shoulder_height (T,)``, in metres (``H`` hands, y up), at ``fps``
    frames per second; ``(0, T)`` when nothing is active, a hand never rests, or the search is disabled.
    Always ``0 <= start < end <= T`` for ``T >= 1``."""
    wrists = np.asarray(wrists, dtype=np.float64)
    shoulder_height = np.asarray(shoulder_height, dtype=np.float64)
    if wrists.ndim != 3 or wrists.shape[-1] != 3 or wrists.shape[0] < 1 or shoulder_height.shape != wrists.shape[:1]:
        raise ValueError(f"expected wrist positions (T>=1, H, 3) and shoulder heights (T,), got {wrists.shape} "
                         f"and {shoulder_height.shape}")
    t = wrists.shape[0]
    if not cfg.enabled:
        return 0, t
    active = np.zeros(t, dtype=bool)
    k = min(cfg.rest_frames, t)
    for hand in range(wrists.shape[1]):
        w = wrists[:, hand]
        lowest = np.argsort(w[:, 1], kind="stable")[:k]
        rest = np.median(w[lowest], axis=0)
        if rest[1] - float(np.median(shoulder_height[lowest])) > cfg.rest_max_height_m:
            return 0, t
        rise = w[:, 1] - rest[1]
        disp = np.linalg.norm(w - rest, axis=1)
        peak = float(disp.max())
        if peak < cfg.min_displacement_m:
            continue
        active |= (rise >= cfg.min_rise_m) & (disp >= max(cfg.min_displacement_m, cfg.peak_fraction * peak))
    if not active.any():
        return 0, t
    frames = np.flatnonzero(active)
    margin = int(round(cfg.margin_s * fps))
    return max(0, int(frames[0]) - margin), min(t, int(frames[-1]) + 1 + margin)


@torch.no_grad()
def window_joints(body_model, seq: MotionSequence) -> np.ndarray:
    """SMPL-FX joints ``(T, 4, 3)`` in metres of ``seq``: left wrist, right wrist, left shoulder, right
    shoulder (all four parameter streams needed)."""
    if not seq.has_streams:
        raise UserError("the sample has no parameter streams (body, lhand, rhand, face); the active window "
                        "is found through the SMPL-FX joints", field="streams")
    idx = [OUTPUT_JOINT_NAMES.index(n) for n in (*WRIST_JOINTS, *SHOULDER_JOINTS)]
    device = next(iter(body_model.buffers())).device
    shape = None if seq.shape is None else torch.as_tensor(seq.full_shape(), device=device)
    out = []
    for s in range(0, seq.n_frames, _FRAME_CHUNK):
        part = {name: torch.as_tensor(np.asarray(getattr(seq, name)[s:s + _FRAME_CHUNK], np.float32), device=device)
                for name in ("body", "lhand", "rhand", "face")}
        out.append(body_model.joints(**part, shape=shape)[:, idx].float().cpu().numpy())
    return np.concatenate(out)


def crop(seq: MotionSequence, start: int, end: int) -> MotionSequence:
    """Frames ``[start, end)`` of every stream of ``seq`` (shape and meta kept)."""
    streams = {name: None if getattr(seq, name) is None else getattr(seq, name)[start:end]
               for name in ("body", "lhand", "rhand", "face", "joints")}
    return MotionSequence(**streams, shape=seq.shape, meta=dict(seq.meta))


def signing_window(body_model, seq: MotionSequence, fps: float, cfg: WindowConfig = WindowConfig()) -> tuple[int, int]:
    """:func:`active_window` of ``seq`` through ``body_model``'s wrist joints."""
    if not cfg.enabled:
        return 0, seq.n_frames
    joints = window_joints(body_model, seq)
    return active_window(joints[:, :2], joints[:, 2:, 1].mean(axis=1), fps, cfg)
