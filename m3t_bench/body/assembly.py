"""Building SMPL-FX's buffers from SMPL-X, FLAME and correspondence arrays (paper appendix C), in numpy.

* FLAME template at the correspondence indices, offset by the mean SMPL-X − FLAME displacement;
* neck rings: FLAME vertices at graph distance 0, 1, ..., ``N_NECK_RINGS - 1`` (over FLAME edges) from
  the seam (FLAME boundary vertices that share a SMPL-X face with a non-FLAME vertex) keep a SMPL-X share
  ``ρ`` = 0.9, 0.7, 0.5, 0.3, 0.1; deeper vertices ρ = 0. Template, SMPL-X body-shape directions (× ρ)
  and FLAME directions (× (1 − ρ)) are interpolated with it; ρ = 0 zeroes SMPL-X shape on the head;
* eyelids: two per-vertex offset buffers (left, right) built procedurally from FLAME's eye joints: the
  non-eyeball vertices in a 4.4 cm × 2.6 cm window above and in front of each eye centre move down
  (−y) by up to 9 mm per unit parameter, Gaussian across the lid (peak 8 mm above the eye centre) and
  parabolic across its width; the same rule for real and stand-in files;
* teeth: 520 rigid vertices (upper and lower arch, 26 × 10 each) placed 7.5 cm below the eyes behind
  the lips, skinned 100 % to the head (upper) and jaw (lower) joints.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from m3t_bench.errors import UserError
from m3t_bench.motion.layout import SMPLX_JOINT_NAMES

N_NECK_RINGS = 5
NECK_RING_RATIOS = np.linspace(0.9, 0.1, N_NECK_RINGS)
N_TEETH_PER_ROW, TEETH_ARCH_SAMPLES, TEETH_RING = 260, 26, 10
N_TEETH = 2 * N_TEETH_PER_ROW
FLAME_LEFT_EYE, FLAME_RIGHT_EYE = 3, 4
EYELID_TRAVEL_M = 0.009


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.sort(e, axis=1)


def neck_ring_ratios(flame_faces: np.ndarray, smplx_faces: np.ndarray, correspondence: np.ndarray,
                     n_smplx: int, *, file=None) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X share ``ρ (5023,)`` of every FLAME vertex and its ring index (−1 beyond the rings)."""
    n = len(correspondence)
    edges, counts = np.unique(_edges(flame_faces.astype(np.int64)), axis=0, return_counts=True)
    boundary = np.zeros(n, dtype=bool)
    boundary[edges[counts == 1].ravel()] = True
    in_flame = np.zeros(n_smplx, dtype=bool)
    in_flame[correspondence] = True
    touches_body = np.zeros(n_smplx, dtype=bool)
    mixed = smplx_faces[in_flame[smplx_faces].any(1) & ~in_flame[smplx_faces].all(1)]
    touches_body[mixed.ravel()] = True
    seam = np.nonzero(boundary & touches_body[correspondence])[0]
    if seam.size == 0:
        raise UserError("no FLAME boundary vertex borders the SMPL-X body; expected the official "
                        "SMPL-X/FLAME vertex correspondence", file=file)
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    dist = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=seam, min_only=True, unweighted=True)
    ring = np.where(dist < N_NECK_RINGS, dist, -1).astype(np.int64)
    rho = np.where(ring >= 0, NECK_RING_RATIOS[np.clip(ring, 0, None)], 0.0)
    return rho, ring


def eyelid_offsets(flame_vertices: np.ndarray, flame_weights: np.ndarray, flame_joints: np.ndarray) -> np.ndarray:
    """``(5023, 3, 2)`` eyelid offset directions (left, right) in metres per unit eyelid parameter."""
    eyeball = flame_weights[:, [FLAME_LEFT_EYE, FLAME_RIGHT_EYE]].sum(1) > 0.5
    out = np.zeros((len(flame_vertices), 3, 2))
    for k, joint in enumerate((FLAME_LEFT_EYE, FLAME_RIGHT_EYE)):
        d = flame_vertices - flame_joints[joint]
        across = np.clip(1 - (d[:, 0] / 0.022) ** 2, 0, None)
        along = np.exp(-((d[:, 1] - 0.008) / 0.006) ** 2)
        window = (d[:, 1] > -0.004) & (d[:, 1] < 0.022) & (d[:, 2] > 0.0) & (d[:, 2] < 0.025) & ~eyeball
        out[:, 1, k] = -EYELID_TRAVEL_M * across * along * window
    return out


def teeth_geometry(eye_centres: np.ndarray, head_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest-pose teeth ``(520, 3)`` (upper arch first) and their faces ``(1000, 3)`` (local indices)."""
    mouth_y = eye_centres[:, 1].mean() - 0.075
    near = head_points[(np.abs(head_points[:, 0]) < 0.01) & (np.abs(head_points[:, 1] - mouth_y) < 0.01)]
    front_z = (near if len(near) else head_points)[:, 2].max()
    s = np.linspace(-1, 1, TEETH_ARCH_SAMPLES)
    arch = np.stack([0.024 * s, np.zeros_like(s), front_z - 0.010 - 0.028 * s ** 2], 1)
    tangent = np.gradient(arch, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    outward = np.cross(tangent, [0.0, 1.0, 0.0])
    a = 2 * np.pi * np.arange(TEETH_RING) / TEETH_RING
    verts, faces = [], []
    for row, dy in enumerate((0.0055, -0.0055)):
        centre = arch + [0.0, mouth_y + dy, 0.0]
        ring = (centre[:, None] + 0.0045 * np.sin(a)[None, :, None] * [0.0, 1.0, 0.0]
                + 0.0025 * np.cos(a)[None, :, None] * outward[:, None])
        verts.append(ring.reshape(-1, 3))
        base = row * N_TEETH_PER_ROW
        for i in range(TEETH_ARCH_SAMPLES - 1):
            for k in range(TEETH_RING):
                p, q = base + i * TEETH_RING + k, base + i * TEETH_RING + (k + 1) % TEETH_RING
                faces += [(p, q, p + TEETH_RING), (q, q + TEETH_RING, p + TEETH_RING)]
    return np.concatenate(verts), np.asarray(faces, dtype=np.int64)


def assemble_smplfx(smplx: dict, flame: dict, correspondence: np.ndarray, *, file=None) -> dict[str, np.ndarray]:
    """All SMPL-FX buffers (float64 numpy; see :class:`m3t_bench.body.model.SMPLFX` for their use)."""
    corr = correspondence
    n_smplx = len(smplx["v_template"])
    vt, fl_vt = smplx["v_template"].astype(np.float64), flame["v_template"].astype(np.float64)
    offset = (vt[corr] - fl_vt).mean(0)
    placed = fl_vt + offset
    rho, ring = neck_ring_ratios(flame["f"], smplx["f"].astype(np.int64), corr, n_smplx, file=file)
    template = vt.copy()
    template[corr] = rho[:, None] * vt[corr] + (1 - rho[:, None]) * placed
    body_dirs = smplx["shapedirs"][:, :, :10].astype(np.float64).copy()
    body_dirs[corr] *= rho[:, None, None]
    flame_joints = flame["J_regressor"] @ placed
    eyelids = eyelid_offsets(placed, flame["weights"], flame_joints)
    flame_dirs = np.concatenate([flame["shapedirs"].astype(np.float64), eyelids], axis=2) * (1 - rho)[:, None, None]
    joint = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES)}
    eyes = smplx["J_regressor"] @ template
    teeth, teeth_faces = teeth_geometry(eyes[[joint["left_eye_smplhf"], joint["right_eye_smplhf"]]], template[corr])
    teeth_weights = np.zeros((N_TEETH, len(SMPLX_JOINT_NAMES)))
    teeth_weights[:N_TEETH_PER_ROW, joint["head"]] = 1.0
    teeth_weights[N_TEETH_PER_ROW:, joint["jaw"]] = 1.0
    parents = smplx["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    return {
        "template": np.concatenate([template, teeth]),
        "faces": np.concatenate([smplx["f"].astype(np.int64), teeth_faces + n_smplx]),
        "body_dirs": body_dirs, "flame_dirs": flame_dirs, "correspondence": corr,
        "neck_ratio": rho, "neck_ring": ring, "eyelid_dirs": eyelids,
        "posedirs": smplx["posedirs"].astype(np.float64), "J_regressor": smplx["J_regressor"].astype(np.float64),
        "weights": np.concatenate([smplx["weights"].astype(np.float64), teeth_weights]),
        "parents": parents, "flame_offset": offset,
    }
