"""``MotionSequence``: one sample of SMPL-FX parameters, its validation and its ``.npz`` form.

A sample file holds arrays ``body (T,12,6)``, ``lhand (T,15,6)``, ``rhand (T,15,6)``, ``face (T,108)``
(float32; 6D rotations as in :mod:`m3t_bench.motion.layout`), optionally ``shape (310,)`` or ``(10,)``
(per-signer shape, SMPL-X body coefficients first) and optionally ``joints (T,J,3)`` in metres for
systems that output a skeleton only. :meth:`MotionSequence.problems` lists *every* problem it finds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m3t_bench.errors import ValidationFailed
from m3t_bench.motion import layout
from m3t_bench.motion.limits import (FACE_COEFF_ABS_MAX, JOINT_ABS_MAX_M, MAX_FRAMES, MAX_JOINTS, ROT6D_ABS_MAX,
                                     SHAPE_ABS_MAX)
from m3t_bench.motion.npz import MAX_FILE_BYTES, HeaderCheck, read_npz, write_npz

#: Relative tolerance under which the two 6D columns cannot be Gram–Schmidt orthonormalised.
DEGENERATE_6D_TOL = 1e-4
OPTIONAL_ARRAYS = ("shape", "joints")
SAMPLE_ARRAYS = (*layout.STREAMS, *OPTIONAL_ARRAYS)
#: Per-element bound of a face frame: expression and eyelid coefficients, then the jaw's 6D rotation.
_FACE_BOUNDS = np.concatenate([np.full(layout.FACE_JAW_6D.start, FACE_COEFF_ABS_MAX),
                               np.full(layout.FACE_DIM - layout.FACE_JAW_6D.start, ROT6D_ABS_MAX)])
#: Most values one frame of each per-frame array may declare (checked on the npy header, before reading).
_PER_FRAME_VALUES = {**{s: math.prod(layout.STREAM_SHAPES[s]) for s in layout.STREAMS}, "joints": 3 * MAX_JOINTS}


def _finite_problems(name: str, arr: np.ndarray) -> list[str]:
    bad = ~np.isfinite(arr)
    if bad.any():
        frames = np.unique(np.nonzero(bad.reshape(arr.shape[0], -1) if arr.ndim > 1 else bad)[0])
        return [f"{name}: {int(bad.sum())} non-finite value(s) (NaN/Inf), first at frame {int(frames[0])}; "
                f"expected finite numbers"]
    return []


def degenerate_6d_mask(x: np.ndarray) -> np.ndarray:
    """Boolean mask over ``x[..., :6]``'s leading dims: True where the 6D rotation cannot be orthonormalised
    (a zero first column, or a second column parallel to the first)."""
    a1, a2 = x[..., 0:3].astype(np.float64), x[..., 3:6].astype(np.float64)
    n1, n2 = np.linalg.norm(a1, axis=-1), np.linalg.norm(a2, axis=-1)
    cross = np.linalg.norm(np.cross(a1, a2), axis=-1)
    return (n1 < DEGENERATE_6D_TOL) | (cross <= DEGENERATE_6D_TOL * np.maximum(n1 * n2, 1e-300))


def _range_problems(name: str, arr: np.ndarray, abs_max, what: str) -> list[str]:
    """Values beyond ``±abs_max`` (a number, or one bound per trailing element) in a finite array."""
    bad = np.abs(arr) > abs_max
    if not bad.any():
        return []
    frame = int(np.argwhere(bad)[0][0]) if arr.ndim > 1 else int(np.argmax(bad))
    return [f"{name}: {int(bad.sum())} value(s) out of range (largest |x| = {float(np.abs(arr[bad]).max()):.4g}), "
            f"first at frame {frame}; expected {what} (see the README's input limits)"]


def array_problems(name: str, arr, per_frame_shape: tuple[int, ...] | None, *,
                   rot6d: bool = False, abs_max: float | None = None, what: str = "") -> list[str]:
    """Problems with one per-frame array: type, dtype, shape (``(T, *per_frame_shape)``), length 0 or above
    ``MAX_FRAMES``, NaN/Inf, values beyond ``±abs_max`` (described by ``what``) and (``rot6d``) degenerate 6D
    rotations. ``per_frame_shape=None`` accepts any ``(T, J, 3)`` with ``J <= MAX_JOINTS``."""
    if not isinstance(arr, np.ndarray):
        return [f"{name}: expected a numpy array, got {type(arr).__name__}"]
    if not np.issubdtype(arr.dtype, np.floating):
        return [f"{name}: dtype {arr.dtype}, expected a floating dtype (float32)"]
    if per_frame_shape is None:
        ok = arr.ndim == 3 and arr.shape[-1] == 3 and 1 <= arr.shape[1] <= MAX_JOINTS
        want = f"(T, J, 3) with 1 <= J <= {MAX_JOINTS}"
    else:
        ok = arr.ndim == 1 + len(per_frame_shape) and tuple(arr.shape[1:]) == per_frame_shape
        want = "(T, " + ", ".join(map(str, per_frame_shape)) + ")"
    if not ok:
        return [f"{name}: shape {tuple(arr.shape)}, expected {want}"]
    if arr.shape[0] == 0:
        return [f"{name}: 0 frames, expected at least 1"]
    if arr.shape[0] > MAX_FRAMES:
        return [f"{name}: {arr.shape[0]} frames, expected at most {MAX_FRAMES}"]
    problems = _finite_problems(name, arr)
    if abs_max is not None and not problems:
        problems = _range_problems(name, arr, abs_max, what)
    if rot6d and not problems:
        bad = degenerate_6d_mask(arr)
        if bad.any():
            first = np.argwhere(bad)[0]
            problems.append(f"{name}: {int(bad.sum())} 6D rotation(s) cannot be orthonormalised "
                            f"(zero or parallel columns), first at frame {int(first[0])}")
    return problems


@dataclass
class MotionSequence:
    """One SMPL-FX sample. Stream arrays are ``(T, ...)`` float32; all streams share ``T``.

    ``joints`` alone (no streams) is allowed for skeleton-only predictions (``require_streams=False``).
    """

    body: np.ndarray | None = None
    lhand: np.ndarray | None = None
    rhand: np.ndarray | None = None
    face: np.ndarray | None = None
    shape: np.ndarray | None = None
    joints: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def has_streams(self) -> bool:
        return all(getattr(self, s) is not None for s in layout.STREAMS)

    @property
    def n_frames(self) -> int:
        for name in (*layout.STREAMS, "joints"):
            arr = getattr(self, name)
            if arr is not None:
                return int(np.shape(arr)[0])
        return 0

    def streams(self) -> dict[str, np.ndarray]:
        """The four parameter streams by name (raises KeyError-free: only those present)."""
        return {s: getattr(self, s) for s in layout.STREAMS if getattr(self, s) is not None}

    def problems(self, *, require_streams: bool = True) -> list[str]:
        """Every problem with this sample, one line each (empty when valid)."""
        out: list[str] = []
        present = [s for s in layout.STREAMS if getattr(self, s) is not None]
        missing = [s for s in layout.STREAMS if getattr(self, s) is None]
        if missing and (require_streams or present or self.joints is None):
            out.append(f"missing array(s) {', '.join(missing)}; expected all of "
                       f"{', '.join(layout.STREAMS)}" + ("" if require_streams else " (or 'joints' alone)"))
        for s in present:
            rot = s in layout.ROTATION_STREAMS
            bound, what = ((ROT6D_ABS_MAX, f"6D components within ±{ROT6D_ABS_MAX:g}") if rot else
                           (_FACE_BOUNDS, f"expression/eyelid coefficients within ±{FACE_COEFF_ABS_MAX:g} and "
                                          f"jaw 6D components within ±{ROT6D_ABS_MAX:g}"))
            out += array_problems(s, getattr(self, s), layout.STREAM_SHAPES[s], rot6d=rot, abs_max=bound, what=what)
        if isinstance(self.face, np.ndarray) and np.issubdtype(self.face.dtype, np.floating) and self.face.ndim == 2 and self.face.shape[1:] == (layout.FACE_DIM,) \
                and self.face.shape[0] > 0 and np.isfinite(self.face).all():
            bad = degenerate_6d_mask(self.face[:, layout.FACE_JAW_6D])
            if bad.any():
                out.append(f"face: jaw 6D rotation cannot be orthonormalised in {int(bad.sum())} frame(s), "
                           f"first at frame {int(np.argmax(bad))}")
        if self.joints is not None:
            out += array_problems("joints", self.joints, None, abs_max=JOINT_ABS_MAX_M,
                                  what=f"positions within ±{JOINT_ABS_MAX_M:g} m")
        lengths = {s: int(np.shape(getattr(self, s))[0]) for s in (*present, "joints")
                   if isinstance(getattr(self, s), np.ndarray) and np.ndim(getattr(self, s)) >= 1}
        if len(set(lengths.values())) > 1:
            out.append("frame counts differ between arrays (" +
                       ", ".join(f"{k}={v}" for k, v in lengths.items()) + "); expected one T for all")
        if self.shape is not None:
            shp = self.shape
            if not isinstance(shp, np.ndarray) or not np.issubdtype(shp.dtype, np.floating) \
                    or shp.shape not in ((layout.N_BODY_SHAPE,), (layout.SHAPE_DIM,)):
                out.append(f"shape: got {getattr(shp, 'shape', type(shp).__name__)} "
                           f"{getattr(shp, 'dtype', '')}, expected float ({layout.N_BODY_SHAPE},) or "
                           f"({layout.SHAPE_DIM},)")
            elif not np.isfinite(shp).all():
                out.append("shape: non-finite value(s), expected finite numbers")
            elif (np.abs(shp) > SHAPE_ABS_MAX).any():
                out.append(f"shape: value(s) out of range (largest |x| = {float(np.abs(shp).max()):.4g}); expected "
                           f"coefficients within ±{SHAPE_ABS_MAX:g} (see the README's input limits)")
        return out

    def validate(self, *, file: str | Path | None = None, require_streams: bool = True) -> "MotionSequence":
        """Raise :class:`ValidationFailed` listing every problem; return ``self`` when valid."""
        problems = self.problems(require_streams=require_streams)
        if problems:
            prefix = f"{file}: " if file is not None else ""
            raise ValidationFailed([prefix + p for p in problems])
        return self

    def full_shape(self) -> np.ndarray:
        """The (310,) shape vector (zeros where absent; a (10,) body-only vector is zero-padded)."""
        out = np.zeros(layout.SHAPE_DIM, dtype=np.float32)
        if self.shape is not None:
            out[: self.shape.shape[0]] = self.shape
        return out

    def features(self) -> np.ndarray:
        """Flat per-frame features ``(T, 360)`` float32 in ``layout.FEATURE_SLICES`` order."""
        t = self.n_frames
        return np.concatenate([np.asarray(getattr(self, s), dtype=np.float32).reshape(t, -1)
                               for s in layout.STREAMS], axis=1)

    @classmethod
    def from_features(cls, feats: np.ndarray, **kwargs) -> "MotionSequence":
        """Inverse of :meth:`features`: ``(T, 360)`` -> a sequence (extra keyword fields passed through)."""
        feats = np.asarray(feats, dtype=np.float32)
        t = feats.shape[0]
        streams = {s: feats[:, sl].reshape(t, *layout.STREAM_SHAPES[s]) for s, sl in layout.FEATURE_SLICES.items()}
        return cls(**streams, **kwargs)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to the sample's ``.npz`` (streams as float32; optional arrays when set)."""
        out = {s: np.asarray(a, dtype=np.float32) for s, a in self.streams().items()}
        for name in OPTIONAL_ARRAYS:
            if getattr(self, name) is not None:
                out[name] = np.asarray(getattr(self, name), dtype=np.float32)
        return out


def sample_header_check(max_frames: int = MAX_FRAMES,
                        too_long: Callable[[int], str] | None = None) -> HeaderCheck:
    """The npy-header check of a sample file: at most ``max_frames`` frames (``too_long(n)`` words the
    refusal), no more values per frame than the contract's shapes, at most 8-byte numbers. Applied before any
    array data is read, so a declared-huge array is refused without being inflated."""
    def check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if dtype.itemsize > 8:
            return f"dtype {dtype}, expected float32"
        if name == "shape":
            if math.prod(shape) > layout.SHAPE_DIM:
                return f"shape {shape}, expected ({layout.N_BODY_SHAPE},) or ({layout.SHAPE_DIM},)"
            return None
        if len(shape) >= 1 and shape[0] > max_frames:
            return too_long(shape[0]) if too_long else f"{shape[0]} frames, expected at most {max_frames}"
        if math.prod(shape[1:]) > _PER_FRAME_VALUES[name]:
            want = "(T, J, 3)" if name == "joints" else "(T, " + ", ".join(map(str, layout.STREAM_SHAPES[name])) + ")"
            return f"shape {shape}, expected {want}"
        return None
    return check


def read_sample(path: str | Path, *, max_frames: int = MAX_FRAMES, too_long: Callable[[int], str] | None = None,
                links: str = "follow", root: str | Path | None = None) -> MotionSequence:
    """Read one sample ``.npz`` without validating its values: only the contract's arrays, each header
    checked by :func:`sample_header_check` before its data is read (``links``/``root``: the symbolic-link
    policy of :mod:`m3t_bench.safe_read`). Unknown array names are ignored (never decompressed)."""
    max_bytes = max_frames * (layout.FRAME_DIM + _PER_FRAME_VALUES["joints"]) * 8 + layout.SHAPE_DIM * 8
    arrays = read_npz(path, expected=SAMPLE_ARRAYS, check=sample_header_check(max_frames, too_long), links=links,
                      root=root, max_bytes=max_bytes, max_file_bytes=min(max_bytes + (1 << 20), MAX_FILE_BYTES))
    return MotionSequence(**arrays)


def load_sample(path: str | Path, *, validate: bool = True, require_streams: bool = True,
                links: str = "follow", root: str | Path | None = None) -> MotionSequence:
    """Read one sample ``.npz`` (never unpickling; see :func:`read_sample`). With ``validate``, raise
    :class:`ValidationFailed` naming the file and every problem found. Unknown array names are ignored."""
    seq = read_sample(path, links=links, root=root)
    if validate:
        seq.validate(file=path, require_streams=require_streams)
    return seq


def save_sample(path: str | Path, seq: MotionSequence | None = None, **arrays: np.ndarray) -> Path:
    """Write a sample ``.npz`` from a :class:`MotionSequence` or from keyword arrays
    (``body=..., lhand=..., rhand=..., face=...``, optionally ``shape``/``joints``). Atomic, reproducible."""
    if seq is None:
        seq = MotionSequence(**arrays)
    elif arrays:
        raise TypeError("pass either a MotionSequence or keyword arrays, not both")
    write_npz(path, seq.to_arrays())
    return Path(path)
