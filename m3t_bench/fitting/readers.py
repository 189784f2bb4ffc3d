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

Other files (e.g. ``*_metadata.json`` beside ``.pose`` files) are not clips and are left alone. Every file is
read through :mod:`m3t_bench.safe_read` (regular files of bounded size; JSON of bounded nesting) and arrays
through :mod:`m3t_bench.motion.npz` (npy headers checked before any data is read, nothing unpickled); a clip
has at most ``MAX_FRAMES`` frames and its id (the file name) must be a valid sample id. Every problem is a
one-line UserError naming the file.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from m3t_bench.datasets.store import check_sample_id
from m3t_bench.fitting.keypoints import MAX_IMAGE_SIDE, KeypointClip
from m3t_bench.fitting.layouts import KeypointLayout
from m3t_bench.motion.limits import MAX_FRAMES
from m3t_bench.motion.npz import read_npy, read_npz
from m3t_bench.safe_read import MAX_JSON_BYTES, decode_utf8, parse_json, read_bytes

WORLD_COMPONENTS = {"POSE_WORLD_LANDMARKS": "POSE_LANDMARKS"}
#: Arrays read from a keypoint ``.npz`` (others are never decompressed).
ARRAY_NAMES = ("keypoints", "confidence", "keypoints_3d", "confidence_3d", "image_size", "fps")
#: Largest keypoint file read (and most bytes its arrays may declare): 100,000 frames of 543 MediaPipe
#: Holistic points take 650 MB as float32 (x, y, confidence).
MAX_KEYPOINT_FILE_BYTES = 1 << 30
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
        try:
            check_sample_id(clip_id)
        except UserError as exc:
            raise UserError(f"{exc.detail} (the clip id is the file name); rename it", file=path) from None
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
    raw = read_bytes(path, max_bytes=MAX_KEYPOINT_FILE_BYTES, what=".pose file")
    try:
        pose = Pose.read(raw)
    except Exception as exc:  # pose-format raises struct/value errors on corrupt files
        raise UserError(f"not a readable .pose file ({type(exc).__name__}: {exc})", file=path) from None
    data = np.ma.getdata(pose.body.data)
    if data.ndim != 4 or data.shape[1] < 1 or not 1 <= data.shape[0] <= MAX_FRAMES:
        raise UserError(f"pose data {data.shape}, expected (1-{MAX_FRAMES:,} frames, people >= 1, points, dims)",
                        file=path)
    mask = np.ma.getmaskarray(pose.body.data)
    conf = np.asarray(pose.body.confidence, dtype=np.float32)
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
                        xyz if matched3 else None, conf3 if matched3 else None, str(path), hashlib.sha256(raw).hexdigest())


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
    if n_frames > MAX_FRAMES:
        raise UserError(f"frame numbers span {n_frames:,} frames; expected at most {MAX_FRAMES:,}", file=path)
    if n_frames > 10 * len(files) + 100:
        raise UserError(f"frame numbers span {n_frames} frames for {len(files)} files; expected consecutive "
                        f"frames of one clip", file=path)
    xy = np.zeros((n_frames, len(layout), 2), np.float32)
    confidence = np.zeros((n_frames, len(layout)), np.float32)
    digest = hashlib.sha256()
    for f in files:
        raw = read_bytes(f, max_bytes=MAX_JSON_BYTES, what="OpenPose keypoint JSON")
        digest.update(hashlib.sha256(raw).digest())
        frame = parse_json(decode_utf8(raw, file=f), file=f)
        try:
            person = _best_person(frame.get("people", []))
        except (AttributeError, TypeError, ValueError) as exc:
            raise UserError(f"not an OpenPose keypoint JSON ({type(exc).__name__}); expected an object with a list "
                            f"of people", file=f) from None
        if person is None:
            continue
        t = _frame_number(f) - first
        for key, columns in keys.items():
            values = person.get(key) or []
            if not values:
                continue
            try:
                triples = np.asarray(values, dtype=np.float32).reshape(-1, 3)
            except (TypeError, ValueError):
                raise UserError(f"{len(values)} numbers, expected x, y, confidence triples", file=f, field=key) from None
            if len(triples) != len(columns):
                raise UserError(f"{len(triples)} keypoints, expected {len(columns)} for {layout.name}", file=f,
                                field=key)
            xy[t, columns], confidence[t, columns] = triples[:, :2], triples[:, 2]
    return KeypointClip("", layout, xy, confidence, image_size, fps, source=str(path), sha256=digest.hexdigest())


def _frame_number(path: Path) -> int:
    match = _FRAME_NUMBER.search(path.stem)
    if match is None or len(match.group(1)) > 12:
        raise UserError("no frame number of at most 12 digits in the file name (expected e.g. "
                        "clip_000000000017_keypoints.json)",
                        file=path)
    return int(match.group(1))


def read_array_file(path: Path, layout: KeypointLayout, *, image_size=None, fps=None) -> KeypointClip:
    """A ``.npy`` / ``.npz`` keypoint array in the layout's order (see the module docstring)."""
    check = _array_check(layout)
    if path.suffix == ".npy":
        arrays = {"keypoints": read_npy(path, check=lambda _, shape, dtype: check("keypoints", shape, dtype),
                                        max_bytes=MAX_KEYPOINT_FILE_BYTES)}
    else:
        arrays = read_npz(path, expected=ARRAY_NAMES, check=check, max_bytes=MAX_KEYPOINT_FILE_BYTES,
                          max_file_bytes=MAX_KEYPOINT_FILE_BYTES)
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
        values = arrays["image_size"].astype(np.float64)
        if values.shape != (2,) or not all(np.isfinite(values)) or not all(1 <= v <= MAX_IMAGE_SIDE for v in values):
            raise UserError(f"{values.tolist()!s:.60}; expected (width, height) of 1-{MAX_IMAGE_SIDE} pixels", file=path,
                            field="image_size")
        size = (int(values[0]), int(values[1]))
    elif "keypoints" not in arrays:
        size = size or (1, 1)  # 3D-only clips are not projected
    clip_fps = fps
    if "fps" in arrays:
        if arrays["fps"].size != 1:
            raise UserError(f"shape {arrays['fps'].shape}; expected one number", file=path, field="fps")
        clip_fps = float(arrays["fps"].reshape(()))
    return KeypointClip("", layout, xy, confidence, size, clip_fps, xyz, conf3, str(path), sha256_file(path))


def _array_check(layout: KeypointLayout):
    """The npy header check of a keypoint array file: numbers, at most ``MAX_FRAMES`` frames of at most the
    layout's keypoints with at most 3 values each (checked before any data is read)."""
    def check(name: str, shape: tuple[int, ...], dtype) -> str | None:
        if dtype.kind not in "biuf":
            return f"dtype {dtype}; expected numbers"
        if name in ("image_size", "fps"):
            return None if math.prod(shape) <= 2 else f"shape {shape}; expected at most 2 numbers"
        limits = (MAX_FRAMES, len(layout), 3)[:len(shape)]
        if len(shape) > 3 or any(n > limit for n, limit in zip(shape, limits)):
            return (f"shape {shape}; expected (T, K{', C' if name.startswith('keypoints') else ''}) with T at most "
                    f"{MAX_FRAMES:,}, K at most {len(layout)} and C at most 3")
        return None
    return check
