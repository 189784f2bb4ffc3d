"""The mesh renderer against a plain per-triangle z-buffer loop (pixel-exact), and the GIF clips."""

from __future__ import annotations

import numpy as np
import pytest

from m3t_bench.report.clip import clip_frames, render_clip
from m3t_bench.report.render import render_mesh


def _loop_reference(vertices, faces, size, margin=0.05, colour=(205, 170, 140), background=(255, 255, 255)):
    """One triangle at a time: bounding box, barycentric inside test at pixel centres, strict depth test."""
    v, f = np.asarray(vertices, np.float64), np.asarray(faces, np.int64)
    lo, hi = v[:, :2].min(0), v[:, :2].max(0)
    scale = (1 - 2 * margin) * size / max(hi - lo)
    centre = (lo + hi) / 2
    px = (v[:, 0] - centre[0]) * scale + size / 2
    py = size / 2 - (v[:, 1] - centre[1]) * scale
    tri = v[f]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True).clip(1e-12)
    light = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    shade = 0.25 + 0.75 * np.abs(normal @ light)
    depth = np.full((size, size), -np.inf)
    image = np.empty((size, size, 3))
    image[:] = background
    for k, (a, b, c) in enumerate(f):
        xs, ys = px[[a, b, c]], py[[a, b, c]]
        det = (ys[1] - ys[2]) * (xs[0] - xs[2]) + (xs[2] - xs[1]) * (ys[0] - ys[2])
        if abs(det) < 1e-12:
            continue
        for y in range(max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), size - 1) + 1):
            for x in range(max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), size - 1) + 1):
                cx, cy = x + 0.5, y + 0.5
                l0 = ((ys[1] - ys[2]) * (cx - xs[2]) + (xs[2] - xs[1]) * (cy - ys[2])) / det
                l1 = ((ys[2] - ys[0]) * (cx - xs[2]) + (xs[0] - xs[2]) * (cy - ys[2])) / det
                l2 = 1 - l0 - l1
                if l0 >= 0 and l1 >= 0 and l2 >= 0:
                    z = l0 * v[a, 2] + l1 * v[b, 2] + l2 * v[c, 2]
                    if z > depth[y, x]:
                        depth[y, x] = z
                        image[y, x] = np.asarray(colour, np.float64) * shade[k]
    return image.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_renderer_matches_the_triangle_loop_exactly(seed):
    rng = np.random.default_rng(seed)
    vertices = rng.normal(size=(60, 3))
    faces = rng.integers(0, 60, size=(90, 3))
    faces[:3] = [[0, 1, 2], [0, 1, 2], [3, 3, 4]]  # a duplicate triangle and a degenerate one
    assert np.array_equal(render_mesh(vertices, faces, size=48), _loop_reference(vertices, faces, 48))


def test_renderer_on_the_body_mesh_matches_the_loop(smplfx):
    import torch
    with torch.no_grad():
        out = smplfx(body=torch.eye(3)[:, :2].T.reshape(1, 1, 6).repeat(1, 12, 1),
                     lhand=torch.eye(3)[:, :2].T.reshape(1, 1, 6).repeat(1, 15, 1),
                     rhand=torch.eye(3)[:, :2].T.reshape(1, 1, 6).repeat(1, 15, 1),
                     face=torch.cat([torch.zeros(1, 102), torch.eye(3)[:, :2].T.reshape(1, 6)], 1))
    vertices, faces = out.vertices[0].numpy(), smplfx.faces.numpy()
    image = render_mesh(vertices, faces, size=40)
    assert np.array_equal(image, _loop_reference(vertices, faces, 40))
    assert (image != 255).any(axis=-1).mean() > 0.1  # the figure covers a good part of the frame


def test_clip_frames_follow_the_motion_and_write_a_looping_gif(smplfx, synth_tiny, tmp_path):
    from PIL import Image

    from m3t_bench.datasets import open_split
    split = open_split(synth_tiny / "synthsign-asl", "test")
    seq = split.load(split.ids[0])
    frames, seconds = clip_frames(smplfx, seq, fps=split.spec.fps, size=48, max_frames=4)
    assert len(frames) == 4 and all(f.shape == (48, 48, 3) and f.dtype == np.uint8 for f in frames)
    assert seconds == pytest.approx(seq.n_frames / split.spec.fps / 4)
    assert any(not np.array_equal(frames[0], f) for f in frames[1:])  # the signer moves
    gif = render_clip(smplfx, seq, tmp_path / "clip.gif", fps=split.spec.fps, size=48, max_frames=4)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames >= 2 and im.info.get("loop") == 0
