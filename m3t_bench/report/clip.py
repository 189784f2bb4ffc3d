"""Animated GIF clips of a motion sequence: SMPL-FX forward pass, the mesh renderer, Pillow's GIF writer.

Used by ``m3t-bench study pairs`` when a submission has no renders of its own. The clip frames the signing
space (head, shoulders, arms, hands in front of the torso) by default, so the face is large enough to judge
facial expressivity; frames are sampled evenly over the whole sequence and played back in real time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from m3t_bench.fileio import atomic_write
from m3t_bench.report.render import render_mesh

#: Height and width (metres) of the framed region below the top of the head in ``view="upper"``.
UPPER_VIEW_HEIGHT = 0.8


def clip_frames(model, seq, *, fps: float, size: int = 256, fps_out: float = 10.0, max_frames: int = 48,
                view: str = "upper") -> tuple[list[np.ndarray], float]:
    """Render ``seq`` (a :class:`~m3t_bench.motion.MotionSequence` at ``fps`` frames/s) through ``model``
    -> (list of ``(size, size, 3)`` uint8 frames, seconds per frame). At most ``max_frames`` frames, at most
    ``fps_out`` frames per second of motion, evenly spread. ``view``: ``"upper"`` (a square of
    :data:`UPPER_VIEW_HEIGHT` metres from the top of the head, centred on the head) or ``"full"``."""
    if view not in ("upper", "full"):
        raise ValueError(f"view {view!r}; expected 'upper' or 'full'")
    n_frames = seq.n_frames
    count = int(max(1, min(max_frames, np.ceil(n_frames / fps * fps_out))))
    index = np.unique(np.round(np.linspace(0, n_frames - 1, count)).astype(np.int64))
    streams = {s: torch.as_tensor(np.asarray(getattr(seq, s))[index]) for s in ("body", "lhand", "rhand", "face")}
    shape = None if seq.shape is None else torch.as_tensor(seq.full_shape())
    with torch.no_grad():
        out = model(**streams, shape=shape)
    vertices = out.vertices.cpu().numpy()
    faces = model.faces.cpu().numpy()
    bounds = None
    if view == "upper":
        top = float(vertices[..., 1].max())
        head_x = float(np.median(out.joints[:, model.joint_names.index("head"), 0].cpu().numpy()))
        half = UPPER_VIEW_HEIGHT / 2
        bounds = (np.array([head_x - half, top - UPPER_VIEW_HEIGHT]), np.array([head_x + half, top]))
    frames = [render_mesh(v, faces, size=size, bounds=bounds, margin=0.02) for v in vertices]
    return frames, n_frames / fps / len(index)


def write_gif(path: str | Path, frames: list[np.ndarray], seconds_per_frame: float) -> Path:
    """Write ``frames`` (uint8 ``(H, W, 3)``) as a looping GIF, atomically."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(20, int(round(seconds_per_frame * 1000)))

    def write(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return atomic_write(path, write)


def render_clip(model, seq, out_gif: str | Path, **kwargs) -> Path:
    """:func:`clip_frames` then :func:`write_gif`; returns the GIF path."""
    frames, spf = clip_frames(model, seq, **kwargs)
    return write_gif(out_gif, frames, spf)


__all__ = ["UPPER_VIEW_HEIGHT", "clip_frames", "render_clip", "write_gif"]
