"""How the shipped MediaPipe face-mesh map of the *stand-in* head (``maps/mediapipe-face-standin.json``) was
made: vertices picked by geometry, once, and kept as data.

FLAME's published MediaPipe landmark embedding is not shipped (it comes with the FLAME download), and the
stand-in head is procedural, so its vertex ``i`` is not real FLAME's vertex ``i``: a map is only valid for the
body model it was built on (its ``body_model_id``). For the stand-in we register MediaPipe's canonical face
model (468 vertices, centimetres, x to the subject's left, y up, z forward: the Apache-2.0 file
``mediapipe/modules/face_geometry/data/canonical_face_model.obj`` of google/mediapipe; read from a path you
give, never shipped) onto the stand-in's FLAME region:

1. anchors: both eye centres (mean of each eye's 16 contour landmarks ↔ FLAME's eye joints), the nose tip
   (landmark 4 ↔ the ``nose`` landmark vertex of ``smplx``), the mouth centre (mean of 13 and 14 ↔ the
   frontmost head vertex at the stand-in's mouth height on the mid-line) and the chin (152 ↔ frontmost
   mid-line vertex at the stand-in's chin height);
2. x scaled by the eye distance; y mapped piecewise-linearly through the anchor heights (eyes, nose tip,
   mouth, chin; the end slopes extend above the eyes and below the chin), since the procedural face has
   other proportions than the canonical one and one scale would misplace the mouth; z scaled and offset
   from the eyes and the nose tip;
3. each canonical landmark goes to the nearest FLAME vertex that is not on an eyeball, with depth counted
   at 0.3 weight (the placement is surest across the image plane, where keypoints live); the 10 iris
   landmarks of the refined mesh (468-477, absent from the canonical file) map their centres (468 right,
   473 left) to the front pole of the eyeball (``smplx``'s ``right_eye``/``left_eye`` vertices) and leave
   the four ring points unmapped.

Call :func:`build_standin_face_map` and write the result with :func:`m3t_bench.fitting.face_maps.save_face_map`
to regenerate the file; the stand-in is deterministic, so the result is too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m3t_bench.body.joint_sets import LANDMARK_VERTEX_IDS
from m3t_bench.errors import UserError

#: Contour landmarks of each eye in MediaPipe's face mesh (FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE).
RIGHT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
LEFT_EYE_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)
NOSE_TIP, UPPER_INNER_LIP, LOWER_INNER_LIP, CHIN = 4, 13, 14, 152
RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE = 468, 473
N_FACE_MESH, N_FACE_MESH_REFINED = 468, 478


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """The ``v x y z`` rows of a Wavefront ``.obj`` file: ``(V, 3)`` float64."""
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found (expected MediaPipe's canonical_face_model.obj)", file=path)
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    vertices = np.asarray(rows, dtype=np.float64)
    if vertices.shape != (N_FACE_MESH, 3):
        raise UserError(f"{len(vertices)} vertices, expected {N_FACE_MESH}", file=path)
    return vertices


DEPTH_WEIGHT = 0.3


def _linear_fit(source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """``(scale, offset)`` with ``target ≈ scale * source + offset`` by least squares (1-D arrays)."""
    scale, offset = np.linalg.lstsq(np.stack([source, np.ones(len(source))], 1), target, rcond=None)[0]
    return float(scale), float(offset)


def _piecewise(source_levels: np.ndarray, target_levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Piecewise-linear map through ``(source_levels[k], target_levels[k])`` (any order), extended beyond
    the ends with the end segments' slopes."""
    order = np.argsort(source_levels)
    xs, ys = source_levels[order], target_levels[order]
    out = np.interp(values, xs, ys)
    low, high = values < xs[0], values > xs[-1]
    out[low] = ys[0] + (values[low] - xs[0]) * (ys[1] - ys[0]) / (xs[1] - xs[0])
    out[high] = ys[-1] + (values[high] - xs[-1]) * (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    return out


def build_standin_face_map(canonical_obj: str | Path, model) -> dict:
    """The MediaPipe face-mesh → FLAME vertex map of the stand-in :class:`~m3t_bench.body.SMPLFX` ``model``
    (see the module docstring): ``{"body_model_id", "method", "sources", "points": {"<i>": [["flame:<j>", 1.0]]}}``."""
    from m3t_bench.body import standin_mesh as sm
    from m3t_bench.motion.layout import SMPLX_JOINT_NAMES

    canonical = read_obj_vertices(canonical_obj)
    template = model.template.detach().cpu().numpy().astype(np.float64)
    flame_ids = model.flame_ids.cpu().numpy()
    head = template[flame_ids]
    weights = model.lbs_weights.detach().cpu().numpy()
    chain = model.chain.cpu().numpy().tolist()
    eye_cols = [chain.index(SMPLX_JOINT_NAMES.index(n)) for n in ("left_eye_smplhf", "right_eye_smplhf")]
    eyeball = weights[flame_ids][:, eye_cols].sum(1) > 0.5
    joints = model.joint_template.detach().cpu().numpy().astype(np.float64)
    eye_left = joints[SMPLX_JOINT_NAMES.index("left_eye_smplhf")]
    eye_right = joints[SMPLX_JOINT_NAMES.index("right_eye_smplhf")]

    def frontmost_midline(y: float) -> np.ndarray:
        near = (~eyeball) & (np.abs(head[:, 0]) < 0.004) & (np.abs(head[:, 1] - y) < 0.004)
        return head[near][np.argmax(head[near, 2])]

    source = np.stack([canonical[list(RIGHT_EYE_CONTOUR)].mean(0), canonical[list(LEFT_EYE_CONTOUR)].mean(0),
                       canonical[NOSE_TIP], canonical[[UPPER_INNER_LIP, LOWER_INNER_LIP]].mean(0), canonical[CHIN]])
    target = np.stack([eye_right, eye_left, template[LANDMARK_VERTEX_IDS["nose"]], frontmost_midline(sm.MOUTH_Y),
                       frontmost_midline(sm.CHIN_Y)])
    x_scale = (target[1, 0] - target[0, 0]) / (source[1, 0] - source[0, 0])
    z_scale, z_offset = _linear_fit(source[:3, 2], target[:3, 2])
    levels = np.array([source[:2, 1].mean(), *source[2:, 1]]), np.array([target[:2, 1].mean(), *target[2:, 1]])
    placed = np.stack([canonical[:, 0] * x_scale, _piecewise(*levels, canonical[:, 1]),
                       canonical[:, 2] * z_scale + z_offset], 1)
    surface = np.nonzero(~eyeball)[0]
    weight = np.array([1.0, 1.0, DEPTH_WEIGHT])
    distance = np.linalg.norm((placed[:, None, :] - head[None, surface, :]) * weight, axis=2)
    nearest = surface[np.argmin(distance, axis=1)]
    flame_index = {int(v): k for k, v in enumerate(flame_ids)}
    points: dict[str, list] = {str(i): [[f"flame:{int(j)}", 1.0]] for i, j in enumerate(nearest)}
    for landmark, vertex in ((RIGHT_IRIS_CENTRE, "right_eye"), (LEFT_IRIS_CENTRE, "left_eye")):
        points[str(landmark)] = [[f"flame:{flame_index[LANDMARK_VERTEX_IDS[vertex]]}", 1.0]]
    return {
        "schema": "m3t-bench-face-landmark-map", "schema_version": 1, "landmarks": "mediapipe-face-mesh",
        "body_model_id": model.model_id,
        "method": ("MediaPipe canonical face model registered onto the stand-in FLAME region through 5 anchors "
                   "(eye centres, nose tip, mouth centre, chin): x by the eye distance, y piecewise-linear "
                   "through the anchor heights, z from eyes and nose tip; then the nearest non-eyeball FLAME "
                   "vertex per landmark (depth weighted 0.3); iris centres 468/473 -> eyeball front poles; "
                   "iris ring points 469-472/474-477 unmapped (m3t_bench.fitting.standin_face_map)"),
        "sources": ["google/mediapipe mediapipe/modules/face_geometry/data/canonical_face_model.obj (Apache-2.0), "
                    "read at build time, not shipped"],
        "anchor_fit": {"x_scale": round(float(x_scale), 6), "z_scale": round(z_scale, 6),
                       "z_offset": round(z_offset, 6)},
        "points": points,
    }
