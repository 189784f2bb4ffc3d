"""A dependency-free mesh renderer: orthographic, z-buffered, flat-shaded triangles written to PNG.

Good enough to look at SMPL-FX frames (``make demo``, the preference study's clips) without OpenGL: numpy
rasterises all triangles at once (batched by bounding-box size), PNG bytes are assembled with ``zlib`` and
``struct``. Also an ``.obj`` writer.
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


#: Candidate pixels per rasterisation batch (bounds memory: ~40 bytes each).
_BATCH_PIXELS = 1 << 21


def _next_pow2(n: np.ndarray) -> np.ndarray:
    return (1 << np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64)).astype(np.int64)


def render_mesh(vertices: np.ndarray, faces: np.ndarray, *, size: int = 512, margin: float = 0.05,
                colour=(205, 170, 140), background=(255, 255, 255),
                bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Render ``vertices (V, 3)`` (metres; y up, viewer on +z) with ``faces (F, 3)`` to ``(size, size, 3)``
    uint8, orthographic front view, flat Lambert shading, nearest surface wins (on equal depth, the triangle
    listed first). ``bounds`` = ``(lo, hi)`` x/y corners in metres of the region to frame (default: the mesh).

    Vectorised: triangles are grouped by the power-of-two size of their pixel bounding box, every candidate
    pixel centre of a group is tested at once (barycentric coordinates), and the depth test is one sort.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    lo, hi = (v[:, :2].min(0), v[:, :2].max(0)) if bounds is None else (np.asarray(b, np.float64) for b in bounds)
    scale = (1 - 2 * margin) * size / max(hi - lo)
    centre = (lo + hi) / 2
    px = (v[:, 0] - centre[0]) * scale + size / 2
    py = size / 2 - (v[:, 1] - centre[1]) * scale
    tri = v[f]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True).clip(1e-12)
    light = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    shade = 0.25 + 0.75 * np.abs(normal @ light)

    xs, ys, zs = px[f], py[f], tri[:, :, 2]                                   # (F, 3) each
    x0 = np.maximum(np.floor(xs.min(1)), 0).astype(np.int64)
    x1 = np.minimum(np.ceil(xs.max(1)), size - 1).astype(np.int64)
    y0 = np.maximum(np.floor(ys.min(1)), 0).astype(np.int64)
    y1 = np.minimum(np.ceil(ys.max(1)), size - 1).astype(np.int64)
    det = (ys[:, 1] - ys[:, 2]) * (xs[:, 0] - xs[:, 2]) + (xs[:, 2] - xs[:, 1]) * (ys[:, 0] - ys[:, 2])
    live = np.flatnonzero((x0 <= x1) & (y0 <= y1) & (np.abs(det) >= 1e-12))
    box_w, box_h = _next_pow2(x1[live] - x0[live] + 1), _next_pow2(y1[live] - y0[live] + 1)

    pix_parts, z_parts, tri_parts = [], [], []
    for bw, bh in sorted(set(zip(box_w.tolist(), box_h.tolist()))):
        group = live[(box_w == bw) & (box_h == bh)]
        oy, ox = np.divmod(np.arange(bw * bh), bw)
        step = max(1, _BATCH_PIXELS // (bw * bh))
        for start in range(0, group.size, step):
            k = group[start:start + step]
            gx = x0[k, None] + ox[None]                                       # (n, bw*bh) candidate pixels
            gy = y0[k, None] + oy[None]
            cx, cy = gx + 0.5, gy + 0.5
            xa, xb, xc = (xs[k, i, None] for i in range(3))
            ya, yb, yc = (ys[k, i, None] for i in range(3))
            d = det[k, None]
            l0 = ((yb - yc) * (cx - xc) + (xc - xb) * (cy - yc)) / d
            l1 = ((yc - ya) * (cx - xc) + (xa - xc) * (cy - yc)) / d
            l2 = 1 - l0 - l1
            inside = (gx <= x1[k, None]) & (gy <= y1[k, None]) & (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
            z = l0 * zs[k, 0, None] + l1 * zs[k, 1, None] + l2 * zs[k, 2, None]
            rows, cols = np.nonzero(inside)
            pix_parts.append(gy[rows, cols] * size + gx[rows, cols])
            z_parts.append(z[rows, cols])
            tri_parts.append(k[rows])

    image = np.empty((size * size, 3), dtype=np.float64)
    image[:] = background
    if pix_parts:
        pix, z, tri_id = np.concatenate(pix_parts), np.concatenate(z_parts), np.concatenate(tri_parts)
        order = np.lexsort((-tri_id, z, pix))             # per pixel: ascending depth, then earlier triangle last
        pix, tri_id = pix[order], tri_id[order]
        last = np.append(pix[1:] != pix[:-1], True)         # the winner of each pixel is its last candidate
        image[pix[last]] = np.asarray(colour, dtype=np.float64) * shade[tri_id[last], None]
    return image.reshape(size, size, 3).clip(0, 255).astype(np.uint8)


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a mesh as Wavefront ``.obj`` (vertices in metres, 1-based face indices)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, dtype=np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, dtype=np.int64)]
    path.write_text("\n".join(lines) + "\n")
    return path
