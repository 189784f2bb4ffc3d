"""Deterministic stand-in SMPL-X, FLAME and correspondence files in the official formats and sizes.

``write_standin_assets(out_dir)`` (CLI: ``m3t-bench assets standin --out DIR``) writes::

    out_dir/smplx/SMPLX_NEUTRAL.npz       like the official SMPL-X 2020 npz (float32 arrays)
    out_dir/flame/generic_model.pkl       like FLAME 2020: a pickled dict of numpy arrays + scipy csc
    out_dir/SMPL-X__FLAME_vertex_ids.npy  5,023 int64 SMPL-X vertex ids of the FLAME vertices
    out_dir/STANDIN.json                  marker: model id ``smplfx-standin@1`` and the files' sha256

The geometry (:mod:`m3t_bench.body.standin_mesh`) is a procedural 1.7 m figure in the SMPL-X rest pose
(T-pose, metres, y up, z forward). What each array holds:

* ``v_template (10475,3)``, ``f (20908,3)``: the ring-swept mesh; SMPL-X vertex ids are assigned so
  that ``smplx.vertex_ids['smplx']`` landmarks (nose 9120, eyes 9929/9448, ears 616/6, fingertips
  5361 ... 8022, toes and heels) sit on the matching vertex (nose tip, eyeball front, fingertip pole ...);
  the head is FLAME's mesh plus a smooth few-millimetre difference (as the real heads differ).
* ``J_regressor (55,10475)``: non-negative rows summing to 1, each a local vertex combination that
  reproduces the designed joint exactly; ``kintree_table (2,55)``: the real SMPL-X tree
  (:mod:`m3t_bench.body.skeleton`); ``weights (10475,55)``: bone-following blends, rows sum to 1.
* ``shapedirs (10475,3,400)``: 300 shape then 100 expression directions as in SMPL-X 2020; the first
  10 shape directions are procedural body-shape fields (height, girth, shoulders, legs, belly, arms,
  chest, hips, torso length, hands; 1–4 cm per unit), the remaining 290 shape and the 100 expression
  directions are zero (SMPL-FX uses only the first 10; its expressions come from FLAME).
* ``posedirs (10475,3,486)``: a small outward bulge (≤ 4 mm per unit of ``R - I`` trace) near each
  joint; ``hands_components{l,r} (45,45)`` orthonormal, ``hands_mean{l,r} (45,)`` a slight finger curl;
  landmark embeddings ``lmk_faces_idx (51,)``/``lmk_bary_coords (51,3)``,
  ``dynamic_lmk_faces_idx (79,17)``/``dynamic_lmk_bary_coords (79,17,3)`` on face triangles.
* FLAME: ``v_template (5023,3)`` (own frame, origin near the head centre), ``f (9976,3)``,
  ``shapedirs (5023,3,400)`` = 300 smooth identity directions (≤ 6 mm per unit, decaying) + 100
  localized expression directions (mouth, cheeks, brows, eyelids; ≤ 5 mm per unit, exactly zero outside
  a few centimetres), ``posedirs (5023,3,36)``, ``J_regressor`` scipy csc ``(5,5023)`` (global, neck,
  jaw, left eye, right eye), ``weights (5023,5)``, ``kintree_table (2,5)``.

Everything is computed from fixed numbers and a fixed seed: two runs write byte-identical files.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from m3t_bench.body import standin_mesh as sm
from m3t_bench.body.files import CORRESPONDENCE_NAME, STANDIN_MARKER, BodyModelFiles
from m3t_bench.body.skeleton import smplx_parents
from m3t_bench.motion.npz import write_npz

STANDIN_MODEL_ID = "smplfx-standin@1"
SEED = 20240917
UINT32_ROOT = 4294967295  # how the official kintree tables mark the root's parent
FLAME_ORIGIN = np.array([0.0, 0.605, 0.0])  # SMPL-X position of the stand-in FLAME frame's origin
FLAME_JOINTS = ("global", "neck", "jaw", "left_eye", "right_eye")


def write_standin_assets(out_dir: str | Path) -> Path:
    """Write the stand-in body-model folder (layout in the module docstring) and return its path."""
    out = Path(out_dir)
    arrays = build_standin_arrays()
    write_npz(out / "smplx" / "SMPLX_NEUTRAL.npz", arrays["smplx"])
    _write_bytes(out / "flame" / "generic_model.pkl", _flame_pickle(arrays["flame"]))
    buf = io.BytesIO()
    np.save(buf, arrays["correspondence"], allow_pickle=False)
    _write_bytes(out / CORRESPONDENCE_NAME, buf.getvalue())
    files = BodyModelFiles(out, out / "smplx" / "SMPLX_NEUTRAL.npz", out / "flame" / "generic_model.pkl",
                           out / CORRESPONDENCE_NAME)
    marker = {"model_id": STANDIN_MODEL_ID, "generator": "m3t_bench.body.standin", "seed": SEED,
              "files_sha256": files.file_sha256,
              "note": "procedural stand-in in the official SMPL-X/FLAME formats; not the real models"}
    _write_bytes(out / STANDIN_MARKER, (json.dumps(marker, indent=2, sort_keys=True) + "\n").encode())
    return out


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _flame_pickle(flame: dict) -> bytes:
    data = dict(flame)
    data["J_regressor"] = scipy.sparse.csc_matrix(flame["J_regressor"])
    data["bs_style"], data["bs_type"] = "lbs", "lrotmin"
    return pickle.dumps(data, protocol=2)


# ---- arrays ------------------------------------------------------------------------------------------
def build_standin_arrays() -> dict[str, dict[str, np.ndarray] | np.ndarray]:
    """All stand-in arrays: ``{"smplx": {...}, "flame": {...}, "correspondence": (5023,) int64}``."""
    rng = np.random.default_rng(SEED)
    mesh, landmarks, n_flame = sm.build_standin_mesh()
    points, faces, centres = mesh.arrays()
    weights = _weight_matrix(mesh.weights)
    normals = _unit_rows(points - centres)
    smplx_id = _assign_smplx_ids(len(points), landmarks)          # construction index -> SMPL-X id
    order = np.argsort(smplx_id)                                     # SMPL-X id -> construction index

    flame_points = points[:n_flame].copy()
    smplx_points = points.copy()
    smplx_points[:n_flame] += _head_difference(flame_points)
    design = sm.skeleton()
    regressor = _joint_regressor(mesh.rings, len(points), design)

    eyeball = weights[:n_flame, [sm.J["left_eye_smplhf"], sm.J["right_eye_smplhf"]]].sum(1) > 0.5
    smplx = {
        "v_template": smplx_points[order].astype(np.float32),
        "f": smplx_id[faces].astype(np.int32),
        "shapedirs": _smplx_shapedirs(smplx_points, normals, design)[order].astype(np.float32),
        "posedirs": _posedirs(weights, normals)[order].astype(np.float32),
        "J_regressor": regressor[:, order].astype(np.float32),
        "weights": weights[order].astype(np.float32),
        "kintree_table": np.array([[UINT32_ROOT, *smplx_parents()[1:]], np.arange(55)], dtype=np.int64),
        **_hand_pca(rng),
        **_landmark_embedding(rng, smplx_id[faces], smplx_points[order], set(smplx_id[:n_flame].tolist())),
    }
    head_rings = [r for r in mesh.rings if r[0].max() < n_flame]
    flame = _flame_arrays(rng, flame_points, faces, weights, normals, eyeball, head_rings, design)
    return {"smplx": smplx, "flame": flame, "correspondence": smplx_id[:n_flame].astype(np.int64)}


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 1e-12, x / np.maximum(n, 1e-12), 0.0)


def _weight_matrix(per_vertex: list[dict[int, float]], n_joints: int = 55) -> np.ndarray:
    w = np.zeros((len(per_vertex), n_joints))
    for v, d in enumerate(per_vertex):
        for j, x in d.items():
            w[v, j] += x
    return w / w.sum(1, keepdims=True)


def _assign_smplx_ids(n: int, landmarks: dict[str, int]) -> np.ndarray:
    """SMPL-X id of each construction vertex: landmarks pinned to their ``smplx.vertex_ids`` ids, the
    remaining vertices take the remaining ids in construction order."""
    ids = np.full(n, -1, dtype=np.int64)
    for name, construction in landmarks.items():
        ids[construction] = SMPLX_VERTEX_IDS["smplx"][name]
    free = np.setdiff1d(np.arange(n), ids[ids >= 0])
    ids[ids < 0] = free
    return ids


def _head_difference(head: np.ndarray) -> np.ndarray:
    """How the stand-in SMPL-X head differs from the stand-in FLAME head: a flatter face (≤ 4 mm) and a
    slightly larger skull (0.2 %), smooth everywhere."""
    face = np.exp(-np.sum((head - [0.0, 0.64, 0.1]) ** 2, axis=1) / 0.05 ** 2)
    return -0.004 * face[:, None] * [0.0, 0.0, 1.0] + 0.002 * (head - sm.HEAD_CENTRE)


def ring_regressor_row(rings: list, n_vertices: int, target: np.ndarray) -> np.ndarray:
    """``(n_vertices,)`` weights reproducing ``target`` from the elliptical ring whose centre is nearest.

    On a ring of ``n`` vertices at angles ``a_k = 2πk/n`` (centre ``c``, axes ``u, v``, radii ``ru, rv``),
    weights ``(1 + 2 (s_u/ru) cos a_k + 2 (s_v/rv) sin a_k) / n`` average to ``c + s_u u + s_v v``
    exactly; joints at a ring centre get the plain ring average.
    """
    ids, c, u, v, ru, rv = min(rings, key=lambda r: float(np.linalg.norm(r[1] - target)))
    a = 2 * np.pi * np.arange(len(ids)) / len(ids)
    s_u, s_v = (target - c) @ u, (target - c) @ v
    w = np.clip(1 + 2 * (s_u / ru) * np.cos(a) + 2 * (s_v / rv) * np.sin(a), 0, None)
    row = np.zeros(n_vertices)
    row[ids] = w / w.sum()
    return row


def _joint_regressor(rings: list, n_vertices: int, targets: np.ndarray) -> np.ndarray:
    """``(J, V)`` joint regressor, one ring-based row per target joint (see :func:`ring_regressor_row`)."""
    return np.stack([ring_regressor_row(rings, n_vertices, t) for t in targets])


def _posedirs(weights: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """``(V, 3, 9·(J-1))``: vertices skinned half-and-half by a joint bulge outward by 4 mm per unit of
    the ``R - I`` trace of that joint (negative when bent), i.e. a corrective that grows as ``1 - cos``."""
    n_v, n_j = weights.shape
    out = np.zeros((n_v, 3, 9 * (n_j - 1)))
    blend = 4 * weights[:, 1:] * (1 - weights[:, 1:])
    for diag in (0, 4, 8):
        out[:, :, diag::9] = -0.004 * blend[:, None, :] * normals[:, :, None]
    return out


def _smplx_shapedirs(points: np.ndarray, normals: np.ndarray, design: np.ndarray) -> np.ndarray:
    """``(V, 3, 400)``: 10 procedural body-shape directions, zeros elsewhere."""
    x, y = points[:, 0], points[:, 1]
    pelvis, j = design[sm.J["pelvis"]], sm.J
    bump = lambda c, s: np.exp(-((y - c) / s) ** 2)[:, None]  # noqa: E731
    front = np.clip(normals[:, 2:3], 0, None)
    ex, ey = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    hand = np.abs(x) > abs(design[j["left_wrist"], 0])
    wrist = np.where(x[:, None] > 0, design[j["left_wrist"]], design[j["right_wrist"]])
    fields = [
        0.035 * (points - pelvis),                                             # overall size
        0.012 * normals * (np.abs(y - 0.2) < 1.2)[:, None],                    # girth
        0.02 * x[:, None] * ex / (1 + np.exp(-(y[:, None] - 0.3) / 0.03)),     # shoulder width
        0.035 * np.minimum(y + 0.08, 0)[:, None] / 0.86 * ey,                  # leg length
        0.015 * normals * bump(0.15, 0.08) * front,                            # belly
        0.02 * (np.sign(x) * np.maximum(np.abs(x) - 0.18, 0) / 0.6)[:, None] * ex,  # arm length
        0.01 * normals * bump(0.38, 0.06) * front,                             # chest
        0.01 * normals * bump(-0.02, 0.08),                                    # hips
        0.02 * np.clip(y / 0.5, 0, 1)[:, None] * ey,                           # torso length
        0.05 * (points - wrist) * hand[:, None],                               # hand size
    ]
    out = np.zeros((len(points), 3, 400))
    out[:, :, :10] = np.stack(fields, axis=-1)
    return out


def _hand_pca(rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for side, flex in (("l", -0.15), ("r", 0.15)):
        q, _ = np.linalg.qr(rng.standard_normal((45, 45)))
        out[f"hands_components{side}"] = q.T.astype(np.float32)
        out[f"hands_mean{side}"] = np.tile([0.0, 0.0, flex], 15).astype(np.float32)
    return out


def _landmark_embedding(rng, faces: np.ndarray, points: np.ndarray, flame_ids: set) -> dict[str, np.ndarray]:
    """Static (51) and dynamic (79 x 17) landmark triangles on the face front, with barycentric weights."""
    in_head = np.array([all(v in flame_ids for v in f) for f in faces])
    centre = points[faces].mean(1)
    front = np.nonzero(in_head & (centre[:, 2] > 0.06) & (centre[:, 1] > 0.55))[0]
    contour = np.nonzero(in_head & (centre[:, 1] > 0.54) & (centre[:, 1] < 0.64) & (centre[:, 2] > 0.0))[0]
    bary = lambda *shape: (lambda b: b / b.sum(-1, keepdims=True))(rng.uniform(0.2, 1.0, (*shape, 3)))  # noqa: E731
    return {"lmk_faces_idx": np.sort(rng.choice(front, 51, replace=False)).astype(np.int64),
            "lmk_bary_coords": bary(51).astype(np.float32),
            "dynamic_lmk_faces_idx": rng.choice(contour, (79, 17)).astype(np.int64),
            "dynamic_lmk_bary_coords": bary(79, 17).astype(np.float32)}


def _flame_arrays(rng, head: np.ndarray, faces: np.ndarray, weights: np.ndarray, normals: np.ndarray,
                  eyeball: np.ndarray, rings: list, design: np.ndarray) -> dict[str, np.ndarray]:
    """FLAME arrays in FLAME's own frame (the stand-in head shifted by ``-FLAME_ORIGIN``)."""
    j, n = sm.J, len(head)
    # FLAME joints: global (neck base), neck (SMPL-X head joint), jaw, left eye, right eye
    to_flame = [j["neck"], j["head"], j["jaw"], j["left_eye_smplhf"], j["right_eye_smplhf"]]
    w = np.zeros((n, 5))
    for k, sj in enumerate(to_flame):
        w[:, k] = weights[:n, sj]
    w /= w.sum(1, keepdims=True)
    targets = design[to_flame].copy()
    targets[0] = [0.0, 0.535, -0.01]  # FLAME's root sits inside the neck, above the SMPL-X neck joint
    reg = _joint_regressor(rings, n, targets)
    flame_faces = faces[(faces < n).all(1)]
    return {
        "v_template": (head - FLAME_ORIGIN).astype(np.float32),
        "f": flame_faces.astype(np.uint32),
        "shapedirs": np.concatenate([_identity_dirs(rng, head, eyeball), _expression_dirs(rng, head, eyeball)],
                                    axis=2).astype(np.float32),
        "posedirs": _posedirs(w, normals[:n]).astype(np.float32),
        "J_regressor": reg.astype(np.float32),
        "J": (reg @ (head - FLAME_ORIGIN)).astype(np.float32),
        "weights": w.astype(np.float32),
        "kintree_table": np.array([[UINT32_ROOT, 0, 1, 1, 1], np.arange(5)], dtype=np.int64),
    }


def _rigid_eyeballs(d: np.ndarray, eyeball: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Replace each eyeball's displacement by its mean (the eyeball translates rigidly)."""
    for side in (1, -1):
        m = eyeball & (np.sign(head[:, 0]) == side)
        d[m] = d[m].mean(0, keepdims=True)
    return d


def _identity_dirs(rng, head: np.ndarray, eyeball: np.ndarray, n_dirs: int = 300) -> np.ndarray:
    """``(5023, 3, 300)`` smooth head-shape directions: random combinations of 64 Gaussian bumps
    (4 cm wide) over the head, peak displacement 6 mm / (1 + k/15) per unit coefficient."""
    surface = np.nonzero(~eyeball)[0]
    centres = head[rng.choice(surface, 64, replace=False)]
    phi = np.exp(-np.sum((head[:, None] - centres[None]) ** 2, axis=2) / (2 * 0.04 ** 2))
    coeffs = rng.standard_normal((n_dirs, 64, 3))
    d = (phi @ coeffs.transpose(1, 2, 0).reshape(64, 3 * n_dirs)).reshape(len(head), 3, n_dirs)
    d *= (0.006 / (1 + np.arange(n_dirs) / 15)) / np.abs(d).max(axis=(0, 1))
    return _rigid_eyeballs(d, eyeball, head)


def _expression_dirs(rng, head: np.ndarray, eyeball: np.ndarray, n_dirs: int = 100) -> np.ndarray:
    """``(5023, 3, 100)`` localized expression directions on the face front (mouth, cheeks, brows,
    eyelids): a truncated Gaussian (1–2.2 cm) times a smooth direction, peak 5 mm / (1 + k/30) per unit;
    exactly zero beyond about 3 widths, on the eyeballs and below the chin."""
    x, y, z = head.T
    face = ~eyeball & (z > sm.HEAD_CENTRE[2] + 0.04) & (y > 0.545)
    regions = [(face & (np.abs(y - sm.MOUTH_Y) < 0.02) & (np.abs(x) < 0.035), 45),
               (face & (np.abs(y - 0.62) < 0.02) & (np.abs(x) > 0.025), 20),
               (face & (np.abs(y - 0.69) < 0.01) & (np.abs(x) < 0.05), 20),
               (face & (np.abs(y - sm.EYE_Y) < 0.015) & (np.abs(np.abs(x) - sm.EYE_OFFSET_X) < 0.02), 15)]
    picks = np.concatenate([rng.choice(np.nonzero(m)[0], k, replace=False) for m, k in regions])
    out = np.zeros((len(head), 3, n_dirs))
    for k, c in enumerate(picks):
        sigma = rng.uniform(0.010, 0.022)
        g = np.exp(-np.sum((head - head[c]) ** 2, axis=1) / (2 * sigma ** 2))
        g = np.clip(g - 0.01, 0, None) / 0.99 * face
        direction = rng.standard_normal(3) * [0.6, 1.0, 0.8]
        if k == 0:  # the first component opens the mouth: lower lip and chin move down
            direction = np.array([0.0, -1.0, -0.2])
        out[:, :, k] = g[:, None] * direction / np.linalg.norm(direction) * 0.005 / (1 + k / 30)
    return out
