"""Procedural geometry of the stand-in SMPL-X / FLAME meshes (metres; y up, z forward, x = subject's left).

The body is a set of ring-swept surfaces: every part is a sequence of elliptical vertex rings around a
bone path, consecutive rings are stitched by an angle "zipper" (a strip between rings of ``a`` and ``b``
vertices has ``a + b`` triangles, so ring sizes can vary freely) and ends are closed by a pole vertex.
Parts (counts are exact, see :func:`build_standin_mesh`):

* trunk: head (the FLAME region: a disk from the crown pole down the neck to a 60-vertex boundary ring)
  continued by neck, torso and pelvis rings to a crotch pole; two eyeballs (spheres, also FLAME region);
* each arm: a tube from the collar through shoulder, elbow and wrist into a flat palm whose knuckle ring
  splits into four finger loops, each swept into a finger ending in a fingertip pole; a separate thumb;
* each leg: an open tube (its 5-vertex top ring hidden inside the pelvis) down to a toe pole.

Topology is what makes the official counts come out: FLAME = 4,899-vertex disk with a 60-vertex boundary
(9,736 faces) + two 62-vertex eyeballs (120 faces each) = 5,023 vertices / 9,976 faces; SMPL-X = closed
trunk, eyeballs, arms and thumbs (2V − 4 faces each) + two legs open at a 5-vertex ring (2V − 7 faces
each) = 10,475 vertices / 20,908 faces. Each ring carries its skinning weights (bone-following blends
near joints) and its centre (for outward normals).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from m3t_bench.motion.layout import SMPLX_JOINT_NAMES

J = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES)}
FINGERS = ("index", "middle", "ring", "pinky")  # attached to the knuckle ring, thumb side first

# ---- rest-pose skeleton (left side; the right side mirrors x) ------------------------------------------
SPINE = {"pelvis": (0.0, 0.0, 0.0), "spine1": (0.0, 0.11, -0.01), "spine2": (0.0, 0.24, -0.01),
         "spine3": (0.0, 0.33, -0.005), "neck": (0.0, 0.49, -0.015), "head": (0.0, 0.565, -0.005),
         "jaw": (0.0, 0.575, 0.03)}
LEFT = {"collar": (0.075, 0.44, -0.01), "shoulder": (0.18, 0.45, -0.02), "elbow": (0.47, 0.45, -0.03),
        "wrist": (0.76, 0.45, -0.03), "hip": (0.09, -0.08, 0.0), "knee": (0.10, -0.48, 0.01),
        "ankle": (0.09, -0.88, -0.03), "foot": (0.10, -0.94, 0.10)}
TOE_TIP = (0.10, -0.945, 0.165)
#: Finger MCP joint offsets from the wrist and phalanx lengths (MCP->PIP, PIP->DIP, DIP->tip), metres.
FINGER_BASE = {"index": (0.088, 0.002, 0.027), "middle": (0.092, 0.002, 0.009),
               "ring": (0.088, 0.002, -0.009), "pinky": (0.080, 0.0, -0.027)}
FINGER_LENGTHS = {"index": (0.040, 0.024, 0.021), "middle": (0.044, 0.028, 0.023),
                  "ring": (0.041, 0.026, 0.022), "pinky": (0.032, 0.020, 0.019)}
FINGER_RADIUS = {"index": 0.0085, "middle": 0.0088, "ring": 0.0082, "pinky": 0.0072}
THUMB_BASE, THUMB_LENGTHS = (0.022, -0.008, 0.022), (0.036, 0.030, 0.024)
HEAD_CENTRE, HEAD_RADII = np.array([0.0, 0.655, 0.015]), np.array([0.078, 0.115, 0.098])
EYE_OFFSET_X, EYE_Y, EYE_RADIUS = 0.032, 0.668, 0.0115
NOSE_Y, MOUTH_Y, CHIN_Y, EAR_Y = 0.632, 0.593, 0.562, 0.655
NECK_BOTTOM_Y, FLAME_BOUNDARY_RING = 0.525, 60
N_FLAME, N_SMPLX = 5023, 10475
EYEBALL_RINGS, EYEBALL_RING_SIZE = 5, 12


def skeleton() -> np.ndarray:
    """Designed rest-pose positions of the 55 SMPL-X joints ``(55, 3)`` in metres (before regression)."""
    pos = np.zeros((len(SMPLX_JOINT_NAMES), 3))
    for name, p in SPINE.items():
        pos[J[name]] = p
    for side, s in (("left", 1.0), ("right", -1.0)):
        m = np.array([s, 1.0, 1.0])
        for part, p in LEFT.items():
            pos[J[f"{side}_{part}"]] = m * np.array(p)
        pos[J[f"{side}_eye_smplhf"]] = m * _eye_centre()
        for name, chain in hand_chains(side).items():
            for k in range(3):
                pos[J[f"{side}_{name}{k + 1}"]] = chain[k]
    return pos


def hand_chains(side: str) -> dict[str, np.ndarray]:
    """Per finger (thumb included) the 3 joint positions and the tip, ``(4, 3)``, for one hand."""
    s = 1.0 if side == "left" else -1.0
    m = np.array([s, 1.0, 1.0])
    wrist = m * np.array(LEFT["wrist"])
    out = {}
    for name in FINGERS:
        p, spread = m * np.array(FINGER_BASE[name]) + wrist, FINGER_BASE[name][2] * 0.8
        d = _unit(np.array([s, -0.04, spread]))
        pts = [p]
        for length in FINGER_LENGTHS[name]:
            pts.append(pts[-1] + length * d)
        out[name] = np.array(pts)
    p = m * np.array(THUMB_BASE) + wrist
    d1, d2 = _unit(np.array([s, -0.15, 0.9])), _unit(np.array([1.2 * s, -0.1, 0.6]))
    pts = [p, p + THUMB_LENGTHS[0] * d1]
    pts.append(pts[-1] + THUMB_LENGTHS[1] * d2)
    pts.append(pts[-1] + THUMB_LENGTHS[2] * d2)
    out["thumb"] = np.array(pts)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _eye_centre() -> np.ndarray:
    x, y = EYE_OFFSET_X, EYE_Y
    front = _head_front_z(x, y)
    return np.array([x, y, front - 0.006])


def _head_front_z(x: float, y: float) -> float:
    c, r = HEAD_CENTRE, HEAD_RADII
    q = 1.0 - (x / r[0]) ** 2 - ((y - c[1]) / r[1]) ** 2
    return float(c[2] + r[2] * np.sqrt(max(q, 0.0)))


# ---- mesh building -----------------------------------------------------------------------------------
@dataclass
class Mesh:
    """Vertices in construction order with faces, per-vertex ring centres and sparse skinning weights."""

    points: list = field(default_factory=list)
    centres: list = field(default_factory=list)
    weights: list = field(default_factory=list)   # one {joint index: weight} per vertex
    faces: list = field(default_factory=list)
    rings: list = field(default_factory=list)     # (ids, centre, u, v, ru, rv) of every elliptical ring
    count: int = 0

    def add_ring(self, centre, u, v, ru, rv, n, weights, relief=None) -> np.ndarray:
        """Add an elliptical ring of ``n`` vertices (``relief(points)`` may displace them) and log it."""
        pts = ring_points(centre, u, v, ru, rv, n)
        if relief is not None:
            pts = pts + relief(pts)
        ids = self.add(pts, centre, weights(pts) if callable(weights) else weights)
        self.rings.append((ids, np.asarray(centre, float), u, v, ru, rv))
        return ids

    def add(self, pts: np.ndarray, centre: np.ndarray, weights) -> np.ndarray:
        """Append vertices; ``weights`` is one ``{joint: w}`` for all of them or a list, one per vertex."""
        pts = np.atleast_2d(np.asarray(pts, dtype=np.float64))
        ids = np.arange(self.count, self.count + len(pts))
        self.points.append(pts)
        self.centres.append(np.broadcast_to(np.asarray(centre, dtype=np.float64), pts.shape))
        self.weights.extend(dict(w) for w in (weights if isinstance(weights, list) else [weights] * len(pts)))
        self.count += len(pts)
        return ids

    def all_points(self) -> np.ndarray:
        if len(self.points) > 1:
            self.points = [np.concatenate(self.points)]
            self.centres = [np.concatenate(self.centres)]
        return self.points[0]

    def fan(self, pole: int, ring: np.ndarray) -> None:
        n = len(ring)
        self.faces.extend((pole, int(ring[k]), int(ring[(k + 1) % n])) for k in range(n))

    def zip(self, a: np.ndarray, b: np.ndarray, centre: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Stitch closed loops ``a`` and ``b`` (vertex ids) by walking both in angle order around ``centre``."""
        pts = self.all_points()
        a, ang_a = _ccw_from_min(a, _angles(pts[a], centre, u, v))
        b, ang_b = _ccw_from_min(b, _angles(pts[b], centre, u, v))
        na, nb, i, j = len(a), len(b), 0, 0
        while i < na or j < nb:
            next_a = ang_a[i + 1] if i + 1 < na else ang_a[0] + 2 * np.pi
            next_b = ang_b[j + 1] if j + 1 < nb else ang_b[0] + 2 * np.pi
            if j >= nb or (i < na and next_a <= next_b):
                self.faces.append((int(a[i % na]), int(b[j % nb]), int(a[(i + 1) % na])))
                i += 1
            else:
                self.faces.append((int(a[i % na]), int(b[j % nb]), int(b[(j + 1) % nb])))
                j += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.all_points(), np.asarray(self.faces, dtype=np.int64), np.concatenate(self.centres)


def _angles(pts, centre, u, v):
    d = pts - centre
    return np.arctan2(d @ v, d @ u) % (2 * np.pi)


def _ccw_from_min(ids, ang):
    k = int(np.argmin(ang))
    ids, ang = np.roll(ids, -k), np.roll(ang, -k)
    if np.mean(np.diff(ang) > 0) < 0.5:  # clockwise: reverse, keeping the start
        ids, ang = np.concatenate([ids[:1], ids[:0:-1]]), np.concatenate([ang[:1], ang[:0:-1]])
    return ids, ang


def frame(tangent: np.ndarray, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit axes ``(u, v)`` of a ring plane perpendicular to ``tangent``; ``v`` follows ``hint``."""
    t = _unit(tangent)
    v = _unit(hint - (hint @ t) * t)
    return np.cross(v, t), v


def ring_points(centre, u, v, ru, rv, n) -> np.ndarray:
    a = 2 * np.pi * np.arange(n) / n
    return centre + ru * np.cos(a)[:, None] * u + rv * np.sin(a)[:, None] * v


def bone_blend(owner: str, t: float, before: str | None, after: str | None) -> dict[int, float]:
    """Skinning weights of a ring at fraction ``t`` along ``owner``'s bone: shared half-and-half with the
    parent bone (``before``) at ``t = 0`` and fading in the child bone (``after``) over the last quarter."""
    w_before = 0.5 * max(0.0, 1.0 - t / 0.25) if before else 0.0
    w_after = 0.5 * max(0.0, (t - 0.75) / 0.25) if after else 0.0
    out = {J[owner]: 1.0 - w_before - w_after}
    if w_before:
        out[J[before]] = out.get(J[before], 0.0) + w_before
    if w_after:
        out[J[after]] = out.get(J[after], 0.0) + w_after
    return out


@dataclass
class Station:
    centre: np.ndarray
    ru: float
    rv: float
    n: int
    weights: dict


def sweep(mesh: Mesh, stations: list[Station], hint: np.ndarray, *, start=None, end=None,
          first_loop: np.ndarray | None = None) -> list[np.ndarray]:
    """Rings at ``stations`` stitched in order; ``start``/``end`` = pole position (or ``None`` = open).
    ``first_loop`` (vertex ids) is stitched to the first ring instead of a start pole. Returns ring ids."""
    rings, frames = [], []
    centres = [s.centre for s in stations]
    for k, st in enumerate(stations):
        prev = start if (k == 0 and start is not None) else centres[max(k - 1, 0)]
        nxt = end if (k == len(stations) - 1 and end is not None) else centres[min(k + 1, len(stations) - 1)]
        u, v = frame(np.asarray(nxt) - np.asarray(prev), hint)
        frames.append((u, v))
        rings.append(mesh.add_ring(st.centre, u, v, st.ru, st.rv, st.n, st.weights))
    for k in range(1, len(rings)):
        mid = 0.5 * (stations[k - 1].centre + stations[k].centre)
        mesh.zip(rings[k - 1], rings[k], mid, *frames[k])
    if first_loop is not None:
        mesh.zip(first_loop, rings[0], stations[0].centre, *frames[0])
    elif start is not None:
        mesh.fan(int(mesh.add(start, start, stations[0].weights)[0]), rings[0])
    if end is not None:
        mesh.fan(int(mesh.add(end, end, stations[-1].weights)[0]), rings[-1])
    return rings


def _segment(p0, p1, r0, r1, n, owner, before, after, fracs) -> list[Station]:
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    return [Station(p0 + t * (p1 - p0), *(np.asarray(r0) + t * (np.asarray(r1) - np.asarray(r0))), n,
                    bone_blend(owner, t, before, after)) for t in fracs]


# ---- parts -------------------------------------------------------------------------------------------
def _head_rings() -> list[tuple[float, float, float, float]]:
    """(y, rx, rz, centre z) of each head ring from the crown down to the FLAME boundary ring."""
    c, r = HEAD_CENTRE, HEAD_RADII
    out, step = [], np.pi / 64
    theta = step
    while c[1] + r[1] * np.cos(theta) >= 0.60:
        s = np.sin(theta)
        out.append((c[1] + r[1] * np.cos(theta), r[0] * s, r[2] * s, c[2]))
        theta += step
    y_top = out[-1][0]
    for y in np.linspace(y_top, NECK_BOTTOM_Y, 15)[1:]:
        w = np.clip((y_top - y) / (y_top - 0.55), 0.0, 1.0)
        w = w * w * (3 - 2 * w)
        q = 1.0 - ((y - c[1]) / r[1]) ** 2
        s = np.sqrt(max(q, 0.0))
        out.append((y, (1 - w) * r[0] * s + w * 0.056, (1 - w) * r[2] * s + w * 0.052, (1 - w) * c[2] + w * -0.01))
    return out


def _ring_sizes(perimeters: np.ndarray, total: int, last: int) -> np.ndarray:
    """Integer ring sizes proportional to ``perimeters`` summing to ``total`` with the last one fixed."""
    n = np.maximum(6, np.round(perimeters * (total - last) / perimeters[:-1].sum())).astype(int)
    n[-1] = last
    order = np.argsort(-perimeters[:-1])
    k = 0
    while n.sum() != total:
        n[order[k % len(order)]] += 1 if n.sum() < total else -1
        k += 1
    return n


def _face_relief(p: np.ndarray) -> np.ndarray:
    """Displacement (z forward, x outward at the ears) adding nose, brows, lips, chin and ears to the head."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    front = np.clip((z - HEAD_CENTRE[2]) / HEAD_RADII[2], 0.0, 1.0) ** 2
    g = lambda cx, cy, sx, sy: np.exp(-((x - cx) / sx) ** 2 - ((y - cy) / sy) ** 2)  # noqa: E731
    dz = front * (0.022 * g(0, NOSE_Y, 0.011, 0.018) + 0.006 * g(0.03, 0.690, 0.02, 0.007)
                  + 0.006 * g(-0.03, 0.690, 0.02, 0.007) + 0.008 * g(0, MOUTH_Y + 0.006, 0.022, 0.006)
                  + 0.007 * g(0, MOUTH_Y - 0.008, 0.02, 0.006) - 0.004 * g(0, MOUTH_Y, 0.022, 0.002)
                  + 0.026 * g(0, CHIN_Y, 0.035, 0.016))
    dx = np.sign(x) * 0.012 * g(np.sign(x) * HEAD_RADII[0], EAR_Y, 0.02, 0.022) * (1 - front)
    return np.stack([dx, np.zeros_like(x), dz], axis=1)


def _head_weights(p: np.ndarray) -> list[dict[int, float]]:
    """Head joint for the skull, jaw for the lower front face, neck blending in down the neck."""
    out = []
    for x, y, z in p:
        w_neck = float(np.clip((0.575 - y) / 0.05, 0.0, 1.0)) * 0.5
        front = float(np.clip((z - 0.02) / 0.04, 0.0, 1.0))
        w_jaw = (1 - 2 * w_neck) * front * float(np.clip((MOUTH_Y - 0.002 - y) / 0.01, 0.0, 1.0)) \
            * float(np.clip((y - 0.535) / 0.015, 0.0, 1.0))
        w = {J["head"]: 1.0 - w_neck - w_jaw}
        if w_neck:
            w[J["neck"]] = w_neck
        if w_jaw:
            w[J["jaw"]] = w_jaw
        out.append(w)
    return out


def build_head(mesh: Mesh) -> dict[str, int]:
    """The FLAME region (head disk + eyeballs); returns landmark vertex ids (construction order)."""
    rings = _head_rings()
    per = np.array([2 * np.pi * np.sqrt((rx * rx + rz * rz) / 2) for _, rx, rz, _ in rings])
    eyeball_vertices = 2 * (EYEBALL_RINGS * EYEBALL_RING_SIZE + 2)
    sizes = _ring_sizes(per, N_FLAME - eyeball_vertices - 1, FLAME_BOUNDARY_RING)
    crown = np.array([[0.0, HEAD_CENTRE[1] + HEAD_RADII[1], HEAD_CENTRE[2]]])
    pole = int(mesh.add(crown, crown[0], {J["head"]: 1.0})[0])
    ids = []
    for (y, rx, rz, cz), n in zip(rings, sizes):
        ids.append(mesh.add_ring(np.array([0.0, y, cz]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), rx, rz, n,
                                 _head_weights, relief=_face_relief))
    mesh.fan(pole, ids[0])
    for k in range(1, len(ids)):
        mesh.zip(ids[k - 1], ids[k], np.array([0.0, rings[k][0], rings[k][3]]), np.array([1.0, 0, 0]),
                 np.array([0, 0, 1.0]))
    pts = mesh.all_points()
    head = np.concatenate(ids)
    lm = {"nose": int(head[np.argmax(pts[head, 2] - 40 * np.abs(pts[head, 1] - NOSE_Y) - 40 * np.abs(pts[head, 0]))])}
    for side, key in ((1, "lear"), (-1, "rear")):
        lm[key] = int(head[np.argmax(side * pts[head, 0] - 2 * np.abs(pts[head, 1] - EAR_Y))])
    for side, key, joint in ((1, "leye", "left_eye_smplhf"), (-1, "reye", "right_eye_smplhf")):
        centre = _eye_centre() * np.array([side, 1.0, 1.0])
        st = [Station(centre + np.array([0, 0, EYE_RADIUS * np.cos(th)]), EYE_RADIUS * np.sin(th),
                      EYE_RADIUS * np.sin(th), EYEBALL_RING_SIZE, {J[joint]: 1.0})
              for th in np.pi * np.arange(EYEBALL_RINGS, 0, -1) / (EYEBALL_RINGS + 1)]
        back, front = centre - [0, 0, EYE_RADIUS], centre + [0, 0, EYE_RADIUS]
        sweep(mesh, st, np.array([0.0, 1.0, 0.0]), start=back, end=front)
        lm[key] = mesh.count - 1  # the front pole
    lm["flame_boundary_first"] = int(ids[-1][0])
    return lm


def build_torso(mesh: Mesh, boundary: np.ndarray, extra: int = 0) -> None:
    """Neck, torso and pelvis rings below the FLAME boundary ring, closed by a crotch pole."""
    # (y, rx, rz, centre z, ring size)
    spec = [(0.505, 0.058, 0.054, -0.012, 60), (0.49, 0.062, 0.056, -0.015, 62), (0.465, 0.10, 0.07, -0.015, 74),
            (0.44, 0.155, 0.085, -0.012, 90), (0.40, 0.165, 0.10, -0.01, 96), (0.36, 0.16, 0.10, -0.008, 96),
            (0.33, 0.155, 0.10, -0.005, 96), (0.285, 0.148, 0.097, -0.008, 94), (0.24, 0.14, 0.095, -0.01, 92),
            (0.18, 0.132, 0.09, -0.01, 90), (0.11, 0.138, 0.09, -0.01, 90), (0.055, 0.15, 0.095, -0.005, 92),
            (0.0, 0.16, 0.10, 0.0, 94), (-0.05, 0.165, 0.10, 0.0, 94), (-0.09, 0.14, 0.085, 0.0, 80),
            (-0.12, 0.08, 0.06, 0.0, 50)]
    spine = ["pelvis", "spine1", "spine2", "spine3", "neck", "head"]
    ys = [SPINE[n][1] for n in spine]
    prev, prev_c = boundary, None
    for k, (y, rx, rz, cz, n) in enumerate(spec):
        n = n + 20 * (k > 1) + (extra if k == 9 else 0)
        c = np.array([0.0, y, cz])
        seg = max(i for i in range(len(ys) - 1) if ys[i] <= y) if y >= 0 else 0
        t = 0.0 if y < 0 else (y - ys[seg]) / (ys[seg + 1] - ys[seg])
        owner, before = spine[seg], (spine[seg - 1] if seg > 0 else None)
        after = spine[seg + 1] if seg + 1 < len(spine) - 1 else None
        base = bone_blend(owner, t, before, after)
        collar_zone = float(np.clip(1 - abs(y - 0.43) / 0.08, 0, 1))

        def weights(pts, base=base, collar_zone=collar_zone):
            out = []
            for p in pts:
                share = 0.6 * collar_zone * float(np.clip((abs(p[0]) - 0.06) / 0.08, 0, 1))
                w = {j: (1 - share) * v for j, v in base.items()}
                if share:
                    side = "left" if p[0] > 0 else "right"
                    w[J[f"{side}_collar"]] = w.get(J[f"{side}_collar"], 0.0) + share
                out.append(w)
            return out
        ring = mesh.add_ring(c, np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), rx, rz, n, weights)
        mid = c if prev_c is None else 0.5 * (c + prev_c)
        mesh.zip(prev, ring, mid, np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
        prev, prev_c = ring, c
    crotch = np.array([0.0, -0.135, 0.0])
    mesh.fan(int(mesh.add(crotch, crotch, {J["pelvis"]: 1.0})[0]), prev)


def build_arm(mesh: Mesh, side: str) -> dict[str, int]:
    """Collar-to-fingertip tube of one arm plus its thumb; returns the fingertip vertex ids."""
    s = 1.0 if side == "left" else -1.0
    m = np.array([s, 1.0, 1.0])
    P = {k: m * np.array(v) for k, v in LEFT.items()}
    n = f"{side}_"
    st = _segment(P["collar"], P["shoulder"], (0.045, 0.045), (0.055, 0.05), 56, n + "collar", "spine3",
                  n + "shoulder", [0.0, 0.5])
    st += _segment(P["shoulder"], P["elbow"], (0.055, 0.05), (0.042, 0.04), 56, n + "shoulder", n + "collar",
                   n + "elbow", [0.0, 0.2, 0.4, 0.6, 0.8])
    st += _segment(P["elbow"], P["wrist"], (0.042, 0.04), (0.030, 0.018), 48, n + "elbow", n + "shoulder",
                   n + "wrist", [0.0, 0.2, 0.4, 0.6, 0.8])
    palm_end = P["wrist"] + m * np.array([0.075, 0.0, 0.0])
    st += _segment(P["wrist"], palm_end, (0.030, 0.018), (0.036, 0.012), 48, n + "wrist", n + "elbow", None,
                   [0.0, 0.35, 0.7])
    start = P["collar"] - m * np.array([0.025, 0.0, 0.0])
    rings = sweep(mesh, st, np.array([0.0, 1.0, 0.0]), start=start)
    # knuckle ring: 4k+1 dorsal points then 4k-1 palmar points, uniform across the hand's width (z)
    k = 6
    zs = np.linspace(0.036, -0.036, 4 * k + 1)
    bulge = 0.011 * np.sqrt(1 - (zs / 0.0375) ** 2)
    top = np.stack([np.full_like(zs, palm_end[0]), palm_end[1] + bulge, palm_end[2] + zs], 1)
    bottom = (top * [1.0, -1.0, 1.0] + [0.0, 2 * palm_end[1], 0.0])[1:-1][::-1]
    knuckle = mesh.add(np.concatenate([top, bottom]), palm_end, {J[n + "wrist"]: 1.0})
    mesh.zip(rings[-1], knuckle, 0.5 * (st[-1].centre + palm_end), *frame(palm_end - st[-1].centre, np.array([0, 1.0, 0])))
    n_top = 4 * k + 1
    top_ids, bottom_ids = knuckle[:n_top], np.concatenate([knuckle[:1], knuckle[n_top:][::-1], knuckle[n_top - 1:n_top]])
    # bottom_ids[i] is the palmar point across from top_ids[i] (the two ends are shared side points)
    chains, tips = hand_chains(side), {}
    for f, name in enumerate(FINGERS):
        lo, hi = f * k, (f + 1) * k
        loop = np.concatenate([top_ids[lo:hi + 1], bottom_ids[lo:hi + 1][::-1]])
        loop = np.array(list(dict.fromkeys(loop.tolist())))
        for v in loop:  # knuckle vertices blend a quarter into the finger they open into
            w = mesh.weights[v]
            share = 0.25 / (1 + (v in (top_ids[hi], bottom_ids[hi]) and f < 3) + (v in (top_ids[lo], bottom_ids[lo]) and f > 0))
            w[J[n + "wrist"]] -= share
            w[J[f"{n}{name}1"]] = w.get(J[f"{n}{name}1"], 0.0) + share
        tips[f"{side[0]}{name}"] = _finger(mesh, side, name, chains[name], FINGER_RADIUS[name], loop=loop)
    tips[f"{side[0]}thumb"] = _finger(mesh, side, "thumb", chains["thumb"], 0.0105,
                                      start=chains["thumb"][0] - 0.012 * _unit(chains["thumb"][1] - chains["thumb"][0]))
    return tips


def _finger(mesh: Mesh, side: str, name: str, chain: np.ndarray, radius: float, *, loop=None, start=None) -> int:
    n = f"{side}_{name}"
    parent = f"{side}_wrist"
    st = []
    for k in range(3):
        r0, r1 = radius * (1 - 0.08 * k), radius * (1 - 0.08 * (k + 1))
        fr = [0.0, 0.5] if k < 2 else [0.0, 0.45, 0.8]
        st += _segment(chain[k], chain[k + 1], (r0, r0 * 0.9), (r1, r1 * 0.9), 12 if k < 2 else 10,
                       f"{n}{k + 1}", parent if k == 0 else f"{n}{k}", f"{n}{k + 2}" if k < 2 else None, fr)
    sweep(mesh, st, np.array([0.0, 1.0, 0.0]), start=start, end=chain[3], first_loop=loop)
    return mesh.count - 1  # the fingertip pole


def build_leg(mesh: Mesh, side: str, extra: int = 0) -> dict[str, int]:
    """Hip-to-toe tube of one leg (open 5-vertex top ring inside the pelvis); returns foot landmarks."""
    s = 1.0 if side == "left" else -1.0
    m = np.array([s, 1.0, 1.0])
    P = {k: m * np.array(v) for k, v in LEFT.items()}
    n = f"{side}_"
    top = P["hip"] + np.array([0.0, 0.05, 0.0])
    st = [Station(top, 0.03, 0.03, 5, {J[n + "hip"]: 0.5, J["pelvis"]: 0.5})]
    st += _segment(P["hip"], P["knee"], (0.085, 0.085), (0.055, 0.055), 48 + extra, n + "hip", "pelvis", n + "knee",
                   [0.0, 0.2, 0.4, 0.6, 0.8])
    st += _segment(P["knee"], P["ankle"], (0.055, 0.055), (0.04, 0.04), 44, n + "knee", n + "hip", n + "ankle",
                   [0.0, 0.25, 0.5, 0.75])
    st += _segment(P["ankle"], P["foot"], (0.04, 0.04), (0.045, 0.025), 36, n + "ankle", n + "knee", n + "foot",
                   [0.0, 0.4, 0.8])
    toe = m * np.array(TOE_TIP)
    st += _segment(P["foot"], toe, (0.045, 0.025), (0.03, 0.018), 30, n + "foot", n + "ankle", None, [0.0, 0.5])
    rings = sweep(mesh, st, np.array([1.0, 0.0, 0.0]), end=toe)
    pts = mesh.all_points()
    foot, ankle = rings[-1], rings[-5]
    key = "L" if side == "left" else "R"
    return {f"{key}BigToe": mesh.count - 1,
            f"{key}SmallToe": int(foot[np.argmax(s * pts[foot, 0])]),
            f"{key}Heel": int(ankle[np.argmax(-pts[ankle, 2] - pts[ankle, 1])])}


def _assemble(extra_torso: int, extra_leg: int) -> tuple[Mesh, dict[str, int], int]:
    mesh = Mesh()
    lm = build_head(mesh)
    first = lm.pop("flame_boundary_first")
    n_head = mesh.count
    build_torso(mesh, np.arange(first, first + FLAME_BOUNDARY_RING), extra_torso)
    for side in ("left", "right"):
        lm.update(build_arm(mesh, side))
    for side in ("left", "right"):
        lm.update(build_leg(mesh, side, extra_leg))
    return mesh, lm, n_head


def build_standin_mesh() -> tuple[Mesh, dict[str, int], int]:
    """The whole stand-in SMPL-X mesh in construction order.

    Returns the mesh, the landmark name -> construction index map (``smplx.vertex_ids['smplx']`` names)
    and the number of leading vertices that form the FLAME region (head disk and eyeballs come first).
    The body's vertex budget is met exactly by widening the thigh rings (5 per leg) and one waist ring.
    """
    mesh, _, _ = _assemble(0, 0)
    remainder = N_SMPLX - mesh.count
    per_leg_ring, rest = divmod(remainder, 10)
    mesh, lm, n_head = _assemble(rest, per_leg_ring)
    assert mesh.count == N_SMPLX and n_head == N_FLAME, (mesh.count, n_head)
    return mesh, lm, n_head
