"""Face-landmark maps: where each MediaPipe face-mesh landmark (0-477) sits on the SMPL-FX head.

A map is data, valid for one body model (its ``body_model_id``): vertex ``i`` of the stand-in's procedural
head is not vertex ``i`` of the real FLAME mesh. Two sources:

* ``maps/mediapipe-face-standin.json`` (shipped): built once by geometry on the stand-in head, see
  :mod:`m3t_bench.fitting.standin_face_map`; used automatically with the stand-in model;
* for real model files, a map you give with ``--face-map FILE``: either our JSON format
  (``{"body_model_id": ..., "points": {"<landmark>": [["flame:<vertex>", weight], ...]}}``; ``"*"`` as
  ``body_model_id`` accepts any model) or FLAME's own ``mediapipe_landmark_embedding.npz`` from the FLAME
  download (arrays ``lmk_face_idx (L,)`` FLAME triangle per landmark, ``lmk_b_coords (L, 3)`` barycentric
  weights, ``landmark_indices (L,)`` MediaPipe landmark numbers; read with ``allow_pickle=False``), turned
  into weighted triangle corners on FLAME's faces ``f``.

Every other layout's face points (OpenPose face 70, COCO-WholeBody face 68) are defined through MediaPipe
landmark numbers (``maps/templates.json``), so one map serves all layouts.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write_text
from m3t_bench.safe_read import read_json_object

STANDIN_MAP = "mediapipe-face-standin.json"
SCHEMA = "m3t-bench-face-landmark-map"
ANY_MODEL = "*"
#: Largest barycentric / blend weight accepted in a map (real maps hold weights in [0, 1]).
MAX_WEIGHT = 1e3


def _maps_dir():
    return resources.files("m3t_bench.fitting") / "maps"


def _check_points(points, file) -> dict[str, list[tuple[str, float]]]:
    from m3t_bench.body.joint_sets import point_kind
    if not isinstance(points, dict):
        raise UserError("expected an object of landmark -> [[point, weight], ...]", file=file, field="points")
    out: dict[str, list[tuple[str, float]]] = {}
    for key, target in points.items():
        try:
            pairs = [(str(name), float(weight)) for name, weight in target]
            for name, weight in pairs:
                point_kind(name)
                if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
                    raise ValueError(f"weight {weight!r}, expected a finite number within ±{MAX_WEIGHT:g}")
        except (TypeError, ValueError, KeyError) as exc:
            raise UserError(f"landmark {key}: {exc}; expected [[\"flame:<i>\" or a point name, weight], ...]",
                            file=file, field="points") from None
        if not key.isdigit() or not pairs:
            raise UserError(f"landmark {key!r}: expected a MediaPipe landmark number with at least one point",
                            file=file, field="points")
        out[key] = pairs
    return out


def read_face_map_json(path: str | Path) -> dict:
    """A map in our JSON format: ``{"body_model_id", "points", ...}`` with checked point names."""
    path = Path(path)
    data = read_json_object(path, what="JSON face map")
    if "points" not in data or "body_model_id" not in data:
        raise UserError("expected a JSON object with body_model_id and points", file=path)
    data["points"] = _check_points(data["points"], path)
    return data


def read_flame_mediapipe_embedding(path: str | Path, flame_faces: np.ndarray) -> dict:
    """FLAME's ``mediapipe_landmark_embedding.npz`` as a map valid for any model with FLAME's topology."""
    from m3t_bench.motion.npz import read_npz
    path = Path(path)
    arrays = read_npz(path, expected=("lmk_face_idx", "lmk_b_coords", "landmark_indices"), max_bytes=16 << 20)
    for key in ("lmk_face_idx", "lmk_b_coords", "landmark_indices"):
        if key not in arrays:
            raise UserError("missing array (expected FLAME's mediapipe landmark embedding)", file=path, field=key)
    faces, bary, landmarks = (np.asarray(arrays[k]) for k in ("lmk_face_idx", "lmk_b_coords", "landmark_indices"))
    n = len(landmarks) if landmarks.ndim == 1 else -1
    if faces.shape != (n,) or bary.shape != (n, 3) or faces.dtype.kind not in "iu" or landmarks.dtype.kind not in "iu" \
            or faces.min(initial=0) < 0 or faces.max(initial=0) >= len(flame_faces) or landmarks.min(initial=0) < 0 \
            or bary.dtype.kind not in "iuf" or not np.isfinite(bary).all() or np.abs(bary).max(initial=0) > MAX_WEIGHT:
        raise UserError(f"shapes {faces.shape} {bary.shape} {landmarks.shape}; expected (L,) integer triangle ids "
                        f"below {len(flame_faces)}, (L, 3) finite weights, (L,) landmark numbers", file=path)
    points = {str(int(lm)): [(f"flame:{int(v)}", float(w)) for v, w in zip(flame_faces[f], b)]
              for lm, f, b in zip(landmarks, faces, bary)}
    return {"body_model_id": ANY_MODEL, "points": points, "source": str(path),
            "method": "FLAME mediapipe_landmark_embedding (barycentric on FLAME triangles)"}


def load_face_map(path: str | Path | None, model, *, flame_faces: np.ndarray | None = None) -> dict:
    """The face map for ``model``: ``path`` (JSON or FLAME's npz; ``flame_faces (9976, 3)`` needed for the
    npz) or, without a path, the shipped stand-in map, refused for any other body model."""
    if path is None:
        data = read_face_map_json(_maps_dir() / STANDIN_MAP)
        if data["body_model_id"] != model.model_id:
            raise UserError(f"the shipped face-landmark map was built on {data['body_model_id']}, not on "
                            f"{model.model_id}; pass --face-map FILE (FLAME's mediapipe_landmark_embedding.npz "
                            f"or a JSON map for these model files) or fit without face landmarks (--no-face)",
                            field="--face-map")
        return data
    path = Path(path)
    if not path.is_file():
        raise UserError("face map not found", file=path)
    if path.suffix == ".npz":
        if flame_faces is None:
            raise UserError("a FLAME landmark embedding needs FLAME's faces (the body-model folder)", file=path)
        return read_flame_mediapipe_embedding(path, flame_faces)
    data = read_face_map_json(path)
    if data["body_model_id"] not in (ANY_MODEL, model.model_id):
        raise UserError(f"map built for {data['body_model_id']}, the loaded body model is {model.model_id}",
                        file=path, field="body_model_id")
    return data


def save_face_map(path: str | Path, data: dict) -> Path:
    """Write a map as JSON: header fields indented, then one landmark per line in numeric order."""
    header = {k: v for k, v in data.items() if k != "points"}
    lines = json.dumps(header, indent=1, ensure_ascii=False)[:-2].splitlines()
    points = [f'  "{k}": {json.dumps([list(p) for p in data["points"][k]])}' for k in sorted(data["points"], key=int)]
    text = "\n".join(lines) + ',\n "points": {\n' + ",\n".join(points) + "\n }\n}\n"
    json.loads(text)  # the file must stay valid JSON
    return atomic_write_text(path, text)
