"""Generated vs ground-truth signing side by side: per sample a few frames as PNG and an animated GIF.

Each frame has two rows (ground truth, generated) of three panels: the 42-joint skeleton, the SMPL-FX mesh
(upper body, the signing space) and a close-up of the face (so that expression changes are visible). Both
sequences are sampled at the same fractions of their own duration (generated and reference lengths differ).
Headless: the project's software rasteriser (:func:`m3t_bench.report.render.render_mesh`) and Pillow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch

from m3t_bench.body.skeleton import parent_name
from m3t_bench.fileio import atomic_write_text
from m3t_bench.report.clip import UPPER_VIEW_HEIGHT, write_gif
from m3t_bench.report.render import render_mesh, write_png
from reference_models.reproduce.context import StageContext

#: Side of the face close-up square (metres) and its centre's height above the head joint.
FACE_VIEW = 0.24
FACE_LIFT = 0.06
LABEL_HEIGHT = 16
PANELS = ("skeleton", "mesh", "face")


@dataclass
class Posed:
    """A sequence sampled at some frames through SMPL-FX: ``vertices (F, V, 3)``, ``joints (F, 42, 3)``."""

    vertices: np.ndarray
    joints: np.ndarray


def sample_frames(n_frames: int, count: int) -> np.ndarray:
    """``count`` frame indices spread evenly from the first to the last frame (fewer if the clip is shorter)."""
    return np.unique(np.round(np.linspace(0, n_frames - 1, max(1, min(count, n_frames)))).astype(np.int64))


def pose(model, seq, fractions: np.ndarray) -> Posed:
    """SMPL-FX forward pass of ``seq`` at ``fractions`` (0..1) of its duration."""
    index = np.round(fractions * (seq.n_frames - 1)).astype(np.int64)
    streams = {s: torch.as_tensor(np.asarray(getattr(seq, s))[index]) for s in ("body", "lhand", "rhand", "face")}
    shape = None if seq.shape is None else torch.as_tensor(seq.full_shape())
    with torch.no_grad():
        out = model(**streams, shape=shape)
    return Posed(out.vertices.cpu().numpy(), out.joints.cpu().numpy())


def views(model, posed: Posed) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fixed framing per sequence (no jitter): the upper body and the face, as ``(lo, hi)`` x/y corners."""
    head = posed.joints[:, model.joint_names.index("head")]
    head_x, head_y = float(np.median(head[:, 0])), float(np.median(head[:, 1]))
    top = float(np.median(posed.vertices[..., 1].max(axis=1)))
    half = UPPER_VIEW_HEIGHT / 2
    upper = (np.array([head_x - half, top - UPPER_VIEW_HEIGHT]), np.array([head_x + half, top]))
    centre = np.array([head_x, head_y + FACE_LIFT])
    return {"mesh": upper, "skeleton": upper, "face": (centre - FACE_VIEW / 2, centre + FACE_VIEW / 2)}


def bones(joint_names: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """(parent, child) index pairs of the skeleton: each joint to its nearest ancestor in ``joint_names``."""
    index = {n: i for i, n in enumerate(joint_names)}
    pairs = []
    for child, name in enumerate(joint_names):
        parent = parent_name(name)
        while parent is not None and parent not in index:
            parent = parent_name(parent)
        if parent is not None:
            pairs.append((index[parent], child))
    return pairs


def draw_skeleton(joints: np.ndarray, pairs: list[tuple[int, int]], bounds, size: int) -> np.ndarray:
    """``joints (J, 3)`` front view as lines on white, framed like :func:`render_mesh` with ``bounds``."""
    from PIL import Image, ImageDraw
    lo, hi = (np.asarray(b, np.float64) for b in bounds)
    margin = 0.02
    scale = (1 - 2 * margin) * size / max(hi - lo)
    centre = (lo + hi) / 2
    px = (joints[:, 0] - centre[0]) * scale + size / 2
    py = size / 2 - (joints[:, 1] - centre[1]) * scale
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width = max(1, size // 80)
    for a, b in pairs:
        draw.line([(px[a], py[a]), (px[b], py[b])], fill=(40, 70, 140), width=width)
    r = max(1, size // 100)
    for x, y in zip(px, py):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(200, 60, 40))
    return np.asarray(image)


def compose(rows: list[tuple[str, list[np.ndarray]]], caption: str, size: int) -> np.ndarray:
    """Panels in a grid with a label above each row and a caption line: ``(H, W, 3)`` uint8."""
    from PIL import Image, ImageDraw
    width = size * len(PANELS)
    height = (size + LABEL_HEIGHT) * len(rows) + LABEL_HEIGHT
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (label, panels) in enumerate(rows):
        y = r * (size + LABEL_HEIGHT)
        draw.text((4, y + 2), label, fill=(0, 0, 0))
        for c, panel in enumerate(panels):
            canvas.paste(Image.fromarray(panel), (c * size, y + LABEL_HEIGHT))
    draw.text((4, height - LABEL_HEIGHT + 2), caption, fill=(90, 90, 90))
    return np.asarray(canvas)


def side_by_side(model, reference, generated, *, fps: float, frames: int, size: int,
                 labels=("ground truth", "generated")) -> tuple[list[np.ndarray], float]:
    """The composed frames of one sample and the seconds each shows (the reference's real-time pace)."""
    fractions = sample_frames(reference.n_frames, frames) / max(reference.n_frames - 1, 1)
    pairs = bones(model.joint_names)
    faces = model.faces.cpu().numpy()
    posed = [pose(model, s, fractions) for s in (reference, generated)]
    framing = [views(model, p) for p in posed]
    out = []
    for k, fraction in enumerate(fractions):
        rows = []
        for label, p, view in zip(labels, posed, framing):
            rows.append((label, [draw_skeleton(p.joints[k], pairs, view["skeleton"], size),
                                 render_mesh(p.vertices[k], faces, size=size, bounds=view["mesh"], margin=0.02),
                                 render_mesh(p.vertices[k], faces, size=size, bounds=view["face"], margin=0.02)]))
        out.append(compose(rows, f"skeleton | mesh | face close-up   t = {fraction:.2f} of each clip", size))
    seconds = reference.n_frames / fps / len(fractions)
    return out, seconds


def run_renders(ctx: StageContext) -> None:
    """For the first ``render_samples`` test samples of each continuous dataset: ``<dataset>/<id>/frame_NNN.png``
    and ``<dataset>/<id>.gif`` (ground truth vs the SMLM with the translation objective); ``renders.json``."""
    from m3t_bench.motion import load_sample
    model = ctx.body_model()
    listing = []
    for name in ctx.continuous:
        sp = ctx.split(name, "test")
        for sample_id in sp.ids[:ctx.cfg.render_samples]:
            ctx.step(f"rendering {name} {sample_id}")
            generated = load_sample(ctx.inputs["generate-slt"] / name / f"{sample_id}.npz")
            frames, seconds = side_by_side(model, sp.load(sample_id), generated, fps=sp.spec.fps,
                                           frames=ctx.cfg.render_frames, size=ctx.cfg.render_size,
                                           labels=("ground truth", "generated: m3t"))
            folder = ctx.out / name / sample_id
            pngs = [write_png(folder / f"frame_{k:03d}.png", f) for k, f in enumerate(frames)]
            gif = write_gif(ctx.out / name / f"{sample_id}.gif", frames, seconds)
            listing.append({"dataset": name, "id": sample_id, "text": sp.entry(sample_id)["text"], "gif": gif.relative_to(ctx.out).as_posix(),
                            "frames": [p.relative_to(ctx.out).as_posix() for p in pngs]})
    atomic_write_text(ctx.out / "renders.json", json.dumps(listing, indent=1, ensure_ascii=False) + "\n")
