"""Overlay renders of a fit: detected keypoints against the projected fitted model, first frames of a clip.

Each panel shows one frame, cropped to the signer: the fitted SMPL-FX mesh's vertices projected through the
fitted camera (grey), the detected keypoints (green, confidence >= the fit's threshold), the projected fitted
keypoints (red) and a line from each detection to its fitted keypoint (the residual). No video frames are
needed (keypoint files carry none); PNG via :func:`m3t_bench.report.render.write_png`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from m3t_bench.fitting.camera import project, to_camera
from m3t_bench.fitting.keypoints import KeypointClip
from m3t_bench.fitting.layouts import ResolvedLayout
from m3t_bench.fitting.synthetic import model_keypoints
from m3t_bench.motion import MotionSequence
from m3t_bench.report.render import write_png

GREY, GREEN, RED, LINE = (200, 200, 200), (20, 160, 40), (220, 30, 30), (255, 150, 60)


def _disc(img: np.ndarray, xy: np.ndarray, colour, radius: int) -> None:
    h, w, _ = img.shape
    for x, y in np.round(xy).astype(int):
        x0, x1, y0, y1 = max(x - radius, 0), min(x + radius + 1, w), max(y - radius, 0), min(y + radius + 1, h)
        if x0 < x1 and y0 < y1:
            img[y0:y1, x0:x1] = colour


def _lines(img: np.ndarray, a: np.ndarray, b: np.ndarray, colour) -> None:
    h, w, _ = img.shape
    for p, q in zip(a, b):
        n = int(np.ceil(np.abs(q - p).max())) + 1
        pts = np.round(p + (q - p) * np.linspace(0, 1, n)[:, None]).astype(int)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        img[pts[ok, 1], pts[ok, 0]] = colour


def render_overlay(path: str | Path, model, resolved: ResolvedLayout, clip: KeypointClip, seq: MotionSequence,
                   camera: dict, *, frames: int = 4, panel: int = 320, min_confidence: float = 0.3,
                   mesh_stride: int = 7) -> Path:
    """Write a PNG of ``frames`` panels (``panel`` pixels square) for the first frames of ``clip`` fitted as
    ``seq`` with ``camera`` (a :class:`~m3t_bench.fitting.optimise.FitResult` camera dict)."""
    n = min(frames, clip.n_frames)
    dev = model.template.device
    part = MotionSequence(body=seq.body[:n], lhand=seq.lhand[:n], rhand=seq.rhand[:n], face=seq.face[:n],
                          shape=seq.shape)
    as_t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev)  # noqa: E731
    rotation, translation = as_t(camera["root_rotation"]), as_t(camera["translation"])
    with torch.no_grad():
        verts = model(body=as_t(part.body), lhand=as_t(part.lhand), rhand=as_t(part.rhand), face=as_t(part.face),
                      shape=None if part.shape is None else as_t(part.full_shape())).vertices[:, ::mesh_stride]
        mesh_px = project(to_camera(verts, rotation, translation), camera["focal"], camera["cx"], camera["cy"]).cpu().numpy()
        fit_px = project(to_camera(model_keypoints(model, resolved, part), rotation, translation), camera["focal"],
                         camera["cx"], camera["cy"]).cpu().numpy()
    image = np.full((panel, panel * n, 3), 255, np.uint8)
    for t in range(n):
        seen = (clip.confidence[t] >= min_confidence) & resolved.mapped
        box_pts = np.concatenate([clip.xy[t, seen], fit_px[t, resolved.mapped]]) if seen.any() else mesh_px[t]
        lo, hi = box_pts.min(0), box_pts.max(0)
        centre, size = (lo + hi) / 2, max(float((hi - lo).max()) * 1.15, 1.0)
        scale = panel / size
        to_panel = lambda p: (p - centre) * scale + panel / 2  # noqa: E731
        tile = image[:, t * panel:(t + 1) * panel]
        _disc(tile, to_panel(mesh_px[t]), GREY, 0)
        _lines(tile, to_panel(clip.xy[t, seen]), to_panel(fit_px[t, seen]), LINE)
        _disc(tile, to_panel(clip.xy[t, seen]), GREEN, 1)
        _disc(tile, to_panel(fit_px[t, resolved.mapped]), RED, 0)
        tile[:, -1] = (120, 120, 120)
    return write_png(path, image)
