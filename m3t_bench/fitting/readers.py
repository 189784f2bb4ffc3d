"""Readers: a folder of keypoint files -> :class:`KeypointClip` per clip.

A keypoint folder holds any mix of (the clip id is the file stem or the sub-folder name):

* ``<id>.pose``: pose-format files (``pip install pose-format``; MediaPipe Holistic, OpenPose, COCO-WholeBody
  outputs, ...), read with ``Pose.read``; points are matched to the layout by component and point *name*,
  so reduced files (e.g. Holistic with 128 of the 478 face points) work; masked points get confidence 0;
  image size and fps from the header; ``POSE_WORLD_LANDMARKS`` (when present) become the 3D keypoints of the
  matching ``POSE_LANDMARKS`` points;
* ``<id>/`` with OpenPose's per-frame ``*_keypoints.json`` files (frame number = the last number in the
  file name; the person with the highest summed body confidence per frame; frames without anybody are
  missing); needs the image size (``--image-size``);
* ``<id>.npy``: ``(T, K, 2)`` pixels or ``(T, K, 3)`` pixels + confidence, K in the layout's order;
* ``<id>.npz``: ``keypoints (T, K, 2|3)`` as above, optional ``confidence (T, K)``, ``keypoints_3d
  (T, K, 3)``, ``confidence_3d (T, K)``, ``image_size (2,)`` = width, height, ``fps ()``.

Other files (e.g. ``*_metadata.json`` beside ``.pose`` files) are not clips and are left alone. Nothing is
unpickled (``allow_pickle=False``); every problem is a one-line UserError naming the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from m3t_bench.fitting.keypoints import KeypointClip
from m3t_bench.fitting.layouts import KeypointLayout
from m3t_bench.motion.npz import read_npz

WORLD_COMPONENTS = {"POSE_WORLD_LANDMARKS": "POSE_LANDMARKS"}
_FRAME_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class ClipSource:
    """One clip found in a keypoint folder: ``kind`` is ``pose``, ``openpose-json`` or ``array``."""

    clip_id: str
    path: Path
    kind: str


def discover_clips(folder: str | Path) -> list[ClipSource]:
    """The clips of a keypoint folder (see the module docstring), sorted by id; UserError if none or if two
    files claim one id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("keypoint folder not found", file=folder)
    found: dict[str, ClipSource] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            kind = "openpose-json" if any(path.glob("*.json")) else None
        else:
            kind = {".pose": "pose", ".npy": "array", ".npz": "array"}.get(path.suffix)
        if kind is None:
            continue
        clip_id = path.name if path.is_dir() else path.stem
        if clip_id in found:
            raise UserError(f"two inputs for clip {clip_id!r}: {found[clip_id].path.name} and {path.name}", file=folder)
        found[clip_id] = ClipSource(clip_id, path, kind)
    if not found:
        raise UserError("no keypoint files found (expected .pose, .npy/.npz or OpenPose JSON sub-folders)", file=folder)
    return list(found.values())


def read_clip(source: ClipSource, layout: KeypointLayout, *, image_size: tuple[int, int] | None = None,
              fps: float | None = None) -> KeypointClip:
    """Read one clip; ``image_size``/``fps`` fill in what the file does not say (a file's own values win for
    ``.pose``; an explicit ``image_size`` is required for OpenPose JSON and plain arrays)."""
    reader = {"pose": read_pose_file, "openpose-json": read_openpose_folder, "array": read_array_file}[source.kind]
    clip = reader(source.path, layout, image_size=image_size, fps=fps)
    clip.clip_id = source.clip_id
    if clip.image_size is None:
        raise UserError("the image size is unknown; pass --image-size WIDTHxHEIGHT", file=source.path)
    return clip.checked()


def read_pose_file(path: Path, layout: KeypointLayout, *, image_size=None, fps=None) -> KeypointClip:
    """A pose-format ``.pose`` file, points matched to ``layout`` by (component, point) name; person 0."""
    from pose_format import Pose
    try:
        pose = Pose.read(path.read_bytes())
    except Exception as exc:  # pose-format raises struct/value errors on corrupt files
        raise UserError(f"not a readable .pose file ({type(exc).__name__}: {exc})", file=path) from None
    data = np.ma.getdata(pose.body.data)
    mask = np.ma.getmaskarray(pose.body.data)
    conf = np.asarray(pose.body.confidence, dtype=np.float32)
    if data.ndim != 4 or data.shape[1] < 1 or data.shape[0] < 1:
        raise UserError(f"pose data {data.shape}, expected (frames >= 1, people >= 1, points, dims)", file=path)
    t = data.shape[0]
    index = layout.index()
    xy = np.zeros((t, len(layout), 2), np.float32)
    confidence = np.zeros((t, len(layout)), np.float32)
    xyz, conf3 = np.zeros((t, len(layout), 3), np.float32), np.zeros((t, len(layout)), np.float32)
    offset, matched, matched3 = 0, 0, 0
    for component in pose.header.components:
        for j, point in enumerate(component.points):
            col = offset + j
            good = conf[:, 0, col] * ~mask[:, 0, col].any(-1)
            if (component.name, point) in index:
                k = index[(component.name, point)]
                xy[:, k] = data[:, 0, col, :2]
                confidence[:, k] = good
                matched += 1
            world = WORLD_COMPONENTS.get(component.name)
            if world is not None and (world, point) in index and data.shape[-1] >= 3:
                k = index[(world, point)]
                xyz[:, k], conf3[:, k] = data[:, 0, col, :3], good
                matched3 += 1
        offset += len(component.points)
    if matched == 0:
        names = ", ".join(c.name for c in pose.header.components)
        raise UserError(f"no point of the {layout.name} layout found (components: {names}); check --format",
                        file=path)
    dims = pose.header.dimensions
    size = (int(dims.width), int(dims.height)) if dims.width and dims.height else image_size
    return KeypointClip("", layout, xy, confidence, size, float(pose.body.fps) or fps,
                        xyz if matched3 else None, conf3 if matched3 else None, str(path), sha256_file(path))


def _best_person(people: list) -> dict | None:
    def score(person) -> float:
        values = person.get("pose_keypoints_2d") or []
        return float(np.sum(np.asarray(values, dtype=np.float64)[2::3])) if values else 0.0
    return max(people, key=score) if people else None


def read_openpose_folder(path: Path, layout: KeypointLayout, *, image_size=None, fps=None) -> KeypointClip:
    """A folder of OpenPose ``*_keypoints.json`` frames (JSON keys from the layout's groups)."""
    files = sorted((f for f in path.glob("*.json")), key=lambda f: (_frame_number(f), f.name))
    keys: dict[str, list[int]] = {}
    for i, k in enumerate(layout.keypoints):
        keys.setdefault(k.json_key, []).append(i)
    first = min(_frame_number(f) for f in files)
    n_frames = max(_frame_number(f) for f in files) - first + 1
    if n_frames > 10 * len(files) + 100:
        raise UserError(f"frame numbers span {n_frames} frames for {len(files)} files; expected consecutive "
                        f"frames of one clip", file=path)
    xy = np.zeros((n_frames, len(layout), 2), np.float32)
    confidence = np.zeros((n_frames, len(layout)), np.float32)
    digest = hashlib.sha256()
    for f in files:
        raw = f.read_bytes()
        digest.update(hashlib.sha256(raw).digest())
        try:
            frame = json.loads(raw)
            person = _best_person(frame.get("people", []))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise UserError(f"not an OpenPose keypoint JSON ({type(exc).__name__})", file=f) from None
        if person is None:
            continue
        t = _frame_number(f) - first
        for key, columns in keys.items():
            values = person.get(key) or []
            if not values:
                continue
            try:
                triples = np.asarray(values, dtype=np.float32).reshape(-1, 3)
            except ValueError:
                raise UserError(f"{len(values)} numbers, expected x, y, confidence triples", file=f, field=key) from None
            if len(triples) != len(columns):
                raise UserError(f"{len(triples)} keypoints, expected {len(columns)} for {layout.name}", file=f,
                                field=key)
            xy[t, columns], confidence[t, columns] = triples[:, :2], triples[:, 2]
    return KeypointClip("", layout, xy, confidence, image_size, fps, source=str(path), sha256=digest.hexdigest())


def _frame_number(path: Path) -> int:
    match = _FRAME_NUMBER.search(path.stem)
    if match is None:
        raise UserError("no frame number in the file name (expected e.g. clip_000000000017_keypoints.json)",
                        file=path)
    return int(match.group(1))


def read_array_file(path: Path, layout: KeypointLayout, *, image_size=None, fps=None) -> KeypointClip:
    """A ``.npy`` / ``.npz`` keypoint array in the layout's order (see the module docstring)."""
    if path.suffix == ".npy":
        try:
            arrays = {"keypoints": np.load(path, allow_pickle=False)}
        except Exception as exc:
            raise UserError(f"not a readable .npy array without pickling ({type(exc).__name__})", file=path) from None
    else:
        arrays = read_npz(path)
    if "keypoints" not in arrays and "keypoints_3d" not in arrays:
        raise UserError(f"holds {sorted(arrays)}; expected keypoints (T, K, 2|3) and/or keypoints_3d (T, K, 3)",
                        file=path)
    main = arrays.get("keypoints", arrays.get("keypoints_3d"))
    if main.ndim != 3 or not np.issubdtype(main.dtype, np.number) or main.shape[0] < 1:
        raise UserError(f"array {main.dtype} {main.shape}, expected numbers (T, K, C) with T >= 1", file=path)
    columns = layout.array_columns(main.shape[1])
    t = main.shape[0]

    def spread(a: np.ndarray, tail: tuple[int, ...]) -> np.ndarray:
        out = np.zeros((t, len(layout), *tail), np.float32)
        out[:, columns] = a
        return out

    xy, confidence = np.zeros((t, len(layout), 2), np.float32), np.zeros((t, len(layout)), np.float32)
    if "keypoints" in arrays:
        kp = arrays["keypoints"]
        if kp.shape[-1] not in (2, 3):
            raise UserError(f"keypoints {kp.shape}, expected (T, K, 2) or (T, K, 3) = x, y[, confidence]", file=path)
        xy = spread(kp[..., :2], (2,))
        conf = arrays.get("confidence", kp[..., 2] if kp.shape[-1] == 3 else np.ones(kp.shape[:2], np.float32))
        if conf.shape != kp.shape[:2]:
            raise UserError(f"confidence {conf.shape}, expected {kp.shape[:2]}", file=path, field="confidence")
        confidence = spread(conf, ())
    xyz = conf3 = None
    if "keypoints_3d" in arrays:
        k3 = arrays["keypoints_3d"]
        if k3.shape != (t, main.shape[1], 3):
            raise UserError(f"keypoints_3d {k3.shape}, expected {(t, main.shape[1], 3)}", file=path)
        xyz = spread(k3, (3,))
        conf3 = spread(arrays.get("confidence_3d", np.ones(k3.shape[:2], np.float32)), ())
    size = image_size
    if "image_size" in arrays:
        size = tuple(int(v) for v in np.asarray(arrays["image_size"]).reshape(-1)[:2])
    elif "keypoints" not in arrays:
        size = size or (1, 1)  # 3D-only clips are not projected
    clip_fps = float(arrays["fps"]) if "fps" in arrays else fps
    return KeypointClip("", layout, xy, confidence, size, clip_fps, xyz, conf3, str(path), sha256_file(path))
