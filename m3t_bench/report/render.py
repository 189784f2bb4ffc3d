"""A dependency-free mesh renderer: orthographic, z-buffered, flat-shaded triangles written to PNG.

Good enough to look at one SMPL-FX frame (``make demo``) without OpenGL: numpy rasterises each triangle
inside its bounding box, PNG bytes are assembled with ``zlib`` and ``struct``. Also an ``.obj`` writer.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` uint8 image as an 8-bit RGB PNG (deterministic bytes)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter type 0 per scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def render_mesh(vertices: np.ndarray, faces: np.ndarray, *, size: int = 512, margin: float = 0.05,
                colour=(205, 170, 140), background=(255, 255, 255)) -> np.ndarray:
    """Render ``vertices (V, 3)`` (metres; y up, viewer on +z) with ``faces (F, 3)`` to ``(size, size, 3)``
    uint8, orthographic front view, flat Lambert shading, nearest surface wins."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
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
    image = np.empty((size, size, 3), dtype=np.float64)
    image[:] = background
    base = np.asarray(colour, dtype=np.float64)
    for k, (a, b, c) in enumerate(f):
        xs, ys = px[[a, b, c]], py[[a, b, c]]
        x0, x1 = max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), size - 1)
        y0, y1 = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), size - 1)
        if x0 > x1 or y0 > y1:
            continue
        gx, gy = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
        det = (ys[1] - ys[2]) * (xs[0] - xs[2]) + (xs[2] - xs[1]) * (ys[0] - ys[2])
        if abs(det) < 1e-12:
            continue
        l0 = ((ys[1] - ys[2]) * (gx - xs[2]) + (xs[2] - xs[1]) * (gy - ys[2])) / det
        l1 = ((ys[2] - ys[0]) * (gx - xs[2]) + (xs[0] - xs[2]) * (gy - ys[2])) / det
        l2 = 1 - l0 - l1
        inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
        if not inside.any():
            continue
        z = l0 * v[a, 2] + l1 * v[b, 2] + l2 * v[c, 2]
        region = depth[y0:y1 + 1, x0:x1 + 1]
        win = inside & (z > region)
        region[win] = z[win]
        image[y0:y1 + 1, x0:x1 + 1][win] = base * shade[k]
    return image.clip(0, 255).astype(np.uint8)


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a mesh as Wavefront ``.obj`` (vertices in metres, 1-based face indices)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, dtype=np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, dtype=np.int64)]
    path.write_text("\n".join(lines) + "\n")
    return path
