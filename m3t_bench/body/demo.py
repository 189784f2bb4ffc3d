"""One rendered SMPL-FX frame for ``make demo``."""

from __future__ import annotations

from pathlib import Path

import torch

from m3t_bench.motion import MotionSequence, identity_rot6d
from m3t_bench.motion.layout import FACE_DIM, FACE_JAW_6D
from m3t_bench.report.render import render_mesh, write_png


def render_frame(model, seq: MotionSequence | None, out_png: str | Path, *, frame: int | None = None,
                 size: int = 512) -> Path:
    """Run ``model`` (an :class:`~m3t_bench.body.SMPLFX`) on one frame of ``seq`` (the middle frame by
    default; the rest pose when ``seq`` is None) and write a front-view PNG to ``out_png``."""
    if seq is None:
        body, lhand, rhand = identity_rot6d(1, 12), identity_rot6d(1, 15), identity_rot6d(1, 15)
        face = torch.zeros(1, FACE_DIM)
        face[:, FACE_JAW_6D] = identity_rot6d(1)
        shape = None
    else:
        t = seq.n_frames // 2 if frame is None else frame
        body, lhand, rhand, face = (torch.as_tensor(getattr(seq, s)[t:t + 1]) for s in ("body", "lhand", "rhand", "face"))
        shape = None if seq.shape is None else torch.as_tensor(seq.shape)
    with torch.no_grad():
        out = model(body=body, lhand=lhand, rhand=rhand, face=face, shape=shape)
    image = render_mesh(out.vertices[0].cpu().numpy(), model.faces.cpu().numpy(), size=size)
    return write_png(out_png, image)
